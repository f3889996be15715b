"""The assessment score's weights (``scoring:`` in the plan file) and the score formula.

Source: plan §五(四) 强化监督考核 — the provincial office puts each unit's work (on time, quality
of the catalogs) into the performance assessment of departments and cities, "加大绩效考核分数权重".
The plan sets no numbers; the weights are data in the plan file, validated here.

Keys of ``scoring:`` (all optional, numbers >= 0; unknown keys are an error):

- ``on_time`` (default 60): points for a unit whose every assessed task was delivered on time.
- ``first_pass`` (default 30): points for a unit whose every accepted task passed acceptance
  without being returned (一次验收通过).
- ``late_penalty_per_working_day`` (default 1): points off per working day late, summed over the
  unit's late deliveries.
- ``overdue_penalty`` (default 2): points off per task still open and past its due day at
  ``as_of``.

Formula (``score``)::

    assessed      = on_time_count + late_count + overdue_count   (delivered, or past due and open)
    on_time_rate  = on_time_count / assessed                     (1 when assessed == 0)
    first_pass_rate = first_pass_count / accepted_count          (1 when accepted_count == 0)
    score = max(0, on_time * on_time_rate + first_pass * first_pass_rate
                   - late_penalty_per_working_day * working_days_late_total
                   - overdue_penalty * overdue_count)

rounded to 2 decimals. The best score is ``on_time + first_pass`` (90 with the defaults).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rollout.errors import PlanError


class ScoringWeights(BaseModel):
    """Validated ``Plan.scoring``: points (``on_time``, ``first_pass``) and penalties (points per
    working day late, per overdue open task). See the module docstring for the formula."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    on_time: float = Field(default=60, ge=0)
    first_pass: float = Field(default=30, ge=0)
    late_penalty_per_working_day: float = Field(default=1, ge=0)
    overdue_penalty: float = Field(default=2, ge=0)

    @property
    def best(self) -> float:
        """The highest possible score (all on time, all accepted first time, nothing overdue)."""
        return self.on_time + self.first_pass


def scoring_weights(scoring: dict[str, Any] | None, plan_key: str = "") -> ScoringWeights:
    """Validate a plan's ``scoring`` dict; missing keys take the defaults.

    Raises ``PlanError`` naming each bad key (unknown key, not a number, negative).
    """
    try:
        return ScoringWeights.model_validate(scoring or {})
    except ValidationError as exc:
        lines = [
            f"scoring.{'.'.join(str(p) for p in e['loc'])}: "
            + ("未知的评分项（可用：on_time, first_pass, late_penalty_per_working_day, "
               "overdue_penalty）" if e["type"] == "extra_forbidden" else e["msg"])
            for e in exc.errors()
        ]
        raise PlanError(f"计划 {plan_key} 的评分权重有误：\n" + "\n".join(lines)) from exc


def score(
    w: ScoringWeights,
    *,
    on_time: int,
    late: int,
    overdue: int,
    working_days_late_total: int,
    first_pass: int,
    accepted: int,
) -> float:
    """The score of one unit (formula in the module docstring), rounded to 2 decimals, >= 0."""
    assessed = on_time + late + overdue
    on_time_rate = on_time / assessed if assessed else 1.0
    first_pass_rate = first_pass / accepted if accepted else 1.0
    value = (
        w.on_time * on_time_rate
        + w.first_pass * first_pass_rate
        - w.late_penalty_per_working_day * working_days_late_total
        - w.overdue_penalty * overdue
    )
    return round(max(0.0, value), 2)
