"""Reminder / escalation policy and the deadline-step schedule; the escalation chain.

Pure: depends on ``rollout.calendar``, ``rollout.errors``, pydantic and the standard library.

Sources. The due dates are the plan's "X月X日前" nodes (吉政公组〔2020〕1号, 四、进度安排: due at
the end of that local day, inclusive). The policy (remind 10/5/3/1/0 working days before, escalate
1 and 5 working days after, then a repeating overdue notice) comes from the product brief
("issue 3"); it is per milestone with a plan-wide default, so the numbers are data, not code.

Units. ``_on`` / ``on`` are local Asia/Shanghai dates, ``_at`` / ``at`` aware datetimes; counts of
working days are named ``*_working_days``. Working days are those of the ``WorkingCalendar``
passed in (weekends, official holidays, make-up working days). Any function that needs a year
the calendar lacks raises ``rollout.errors.MissingHolidayData``.

The schedule of one task (``steps_for`` / ``iter_steps``), in time order:

- ``reminder-<n>`` for each n in ``reminder_working_days_before``: on the n-th working day
  before the due day; ``reminder-0`` on the due day if it is a working day, else on the last
  working day before it. Two reminders on one day: only the one with the smaller n is kept
  (e.g. a Sunday due day puts reminder-1 and reminder-0 on the Friday: reminder-0 stays).
  ``levels_up`` = 0 (the owner itself).
- ``escalation-<k>`` for each rule: on ``add_working_days(due_on, k)``. A due day that is not a
  working day stays the due day (the plan's dates are calendar dates): due Sunday -> escalation-1
  on Monday. ``levels_up`` from the rule.
- ``overdue-<i>`` (i = 1, 2, ...): every ``overdue_every_working_days`` working days after the
  last escalation, forever (until the task is done: the caller stops asking), at the last
  escalation's ``levels_up``. Without escalations they count from the due day at ``levels_up`` 0.

Each step fires at ``send_time`` (local) on its day. Days strictly increase along the schedule.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum
from typing import Any, NamedTuple, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rollout.calendar import WorkingCalendar, at_local, local_day

T = TypeVar("T")


class EscalationRule(BaseModel):
    """Escalate ``after_working_days`` (>= 1) working days after the due day, ``levels_up`` (>= 1)
    levels up the owner's escalation chain (see ``escalation_target``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    after_working_days: int = Field(ge=1)
    levels_up: int = Field(ge=1)


def _default_escalations() -> list[EscalationRule]:
    return [
        EscalationRule(after_working_days=1, levels_up=1),
        EscalationRule(after_working_days=5, levels_up=2),
    ]


class DeadlinePolicy(BaseModel):
    """When a milestone's tasks are reminded and escalated (per milestone, plan-wide default).

    - ``reminder_working_days_before``: working days before the due day (0 = on the due day);
      each >= 0, no duplicates; order does not matter.
    - ``escalations``: rules with strictly different ``after_working_days``; stored sorted.
    - ``overdue_every_working_days``: period of the repeating overdue notice after the last
      escalation (the "weekly" notice: 5 working days); 0 disables it.
    - ``send_time``: local (Asia/Shanghai) wall-clock time the steps fire, naive.

    Unknown fields raise ``pydantic.ValidationError`` (``extra="forbid"``). Source: the product
    brief ("issue 3").
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    reminder_working_days_before: list[int] = Field(default_factory=lambda: [10, 5, 3, 1, 0])
    escalations: list[EscalationRule] = Field(default_factory=_default_escalations)
    overdue_every_working_days: int = Field(default=5, ge=0)
    send_time: time = time(9, 0)

    @field_validator("reminder_working_days_before")
    @classmethod
    def _check_reminders(cls, v: list[int]) -> list[int]:
        if any(n < 0 for n in v):
            raise ValueError("reminder working days must be >= 0")
        if len(set(v)) != len(v):
            raise ValueError("reminder working days must not repeat")
        return sorted(v, reverse=True)

    @field_validator("escalations")
    @classmethod
    def _check_escalations(cls, v: list[EscalationRule]) -> list[EscalationRule]:
        v = sorted(v, key=lambda r: r.after_working_days)
        afters = [r.after_working_days for r in v]
        if len(set(afters)) != len(afters):
            raise ValueError("two escalations with the same after_working_days")
        return v

    @model_validator(mode="after")
    def _naive_send_time(self) -> Self:
        if self.send_time.tzinfo is not None:
            raise ValueError("send_time is a local wall-clock time; give it without a zone")
        return self

    def with_overrides(self, **fields: Any) -> DeadlinePolicy:
        """A validated copy with ``fields`` replaced (a milestone's policy over the plan's)."""
        return DeadlinePolicy.model_validate({**self.model_dump(), **fields})


class StepKind(StrEnum):
    """What a step does: remind the owner, escalate up the chain, or repeat an overdue notice."""

    reminder = "reminder"
    escalation = "escalation"
    overdue = "overdue"


STEP_KIND_LABELS: dict[StepKind, str] = {
    StepKind.reminder: "催办",
    StepKind.escalation: "督办",
    StepKind.overdue: "逾期通报",
}
"""Chinese labels for pages, mails and exports."""


@dataclass(frozen=True, slots=True)
class Step:
    """One scheduled action for one task.

    ``key``: stable within a task's schedule (``reminder-10``, ``reminder-0``, ``escalation-5``,
    ``overdue-2``), meant for the outbox's UNIQUE (task, step) key. ``on``: local day it fires;
    ``at``: aware datetime, ``on`` at the policy's ``send_time``. ``levels_up``: 0 = the owner,
    else how far up the escalation chain the notice goes. ``working_days_before`` is set for
    reminders, ``working_days_late`` (working days after the due day) for escalations/overdue.
    """

    key: str
    kind: StepKind
    on: date
    at: datetime
    levels_up: int
    working_days_before: int | None = None
    working_days_late: int | None = None


def iter_steps(
    due_on: date,
    policy: DeadlinePolicy,
    calendar: WorkingCalendar,
    *,
    from_day: date | None = None,
) -> Iterator[Step]:
    """The full (infinite when overdue notices are on) schedule, lazily, in time order.

    ``from_day``: an optimisation for long-overdue tasks: overdue steps on days before
    ``from_day`` may be left out (never a step on or after it). Reminders and escalations are
    always yielded. Raises ``MissingHolidayData`` only when it reaches a year without data.
    """
    send = policy.send_time
    by_day: dict[date, int] = {}
    for n in policy.reminder_working_days_before:  # sorted descending: smaller n overwrites
        if n == 0 and calendar.is_working_day(due_on):
            by_day[due_on] = 0
        else:
            by_day[calendar.add_working_days(due_on, -max(n, 1))] = n
    for on, n in sorted(by_day.items()):
        yield Step(f"reminder-{n}", StepKind.reminder, on, at_local(on, send), 0, n, None)

    def late(key: str, kind: StepKind, n: int, levels_up: int) -> Step:
        on = calendar.add_working_days(due_on, n)
        return Step(key, kind, on, at_local(on, send), levels_up, None, n)

    for rule in policy.escalations:
        k = rule.after_working_days
        yield late(f"escalation-{k}", StepKind.escalation, k, rule.levels_up)
    every = policy.overdue_every_working_days
    if every <= 0:
        return
    last = policy.escalations[-1] if policy.escalations else None
    base = last.after_working_days if last else 0
    levels = last.levels_up if last else 0
    i = 1
    if from_day is not None and from_day > due_on:
        # Steps i with base + i*every < late_now lie strictly before from_day: skip them.
        late_now = calendar.working_days_between(due_on, from_day)
        i = max(1, (late_now - base) // every)
    while True:
        yield late(f"overdue-{i}", StepKind.overdue, base + i * every, levels)
        i += 1


def steps_for(
    due_on: date,
    policy: DeadlinePolicy,
    calendar: WorkingCalendar,
    *,
    until: date | None = None,
) -> list[Step]:
    """The schedule of a task due at the end of local ``due_on``, in time order.

    ``until`` given: every step with ``on <= until`` (overdue notices included).
    ``until`` None: the finite part only (reminders and escalations, no overdue notices);
    use ``iter_steps`` or ``next_step`` for the open-ended tail.
    Raises ``MissingHolidayData`` if a needed year has no calendar data.
    """
    out: list[Step] = []
    for s in iter_steps(due_on, policy, calendar):
        if (s.kind is StepKind.overdue) if until is None else (s.on > until):
            break
        out.append(s)
    return out


def _require_aware(at: datetime, name: str) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got naive {at!r}")


def next_step(
    due_on: date, policy: DeadlinePolicy, calendar: WorkingCalendar, after: datetime
) -> Step | None:
    """The first step with ``at > after`` (aware), or None if the schedule has ended (only when
    overdue notices are disabled). This is what a task's ``next_action_at`` is set to.
    O(log n) even for long-overdue tasks. Raises ``ValueError`` on a naive ``after``,
    ``MissingHolidayData`` if the step falls in a year without calendar data.
    """
    _require_aware(after, "after")
    for s in iter_steps(due_on, policy, calendar, from_day=local_day(after)):
        if s.at > after:
            return s
    return None


class DueSteps(NamedTuple):
    """The sweep's answer for one task (see ``due_steps``)."""

    latest: Step | None
    """The step to send now: the last one with last_at < at <= now (None if nothing is due)."""
    skipped: list[Step]
    """Earlier steps also in (last_at, now]: missed while the sweep was down; record, don't send."""
    next: Step | None
    """The first step with at > now: the task's new ``next_action_at`` (None: schedule ended)."""


def due_steps(
    due_on: date,
    policy: DeadlinePolicy,
    calendar: WorkingCalendar,
    last_at: datetime | None,
    now: datetime,
) -> DueSteps:
    """What the sweep does for one task at ``now``.

    ``last_at``: the ``at`` of the last step already processed for this task (sent or skipped),
    or None if none was. All steps with ``last_at < at <= now`` are due (all with ``at <= now``
    when ``last_at`` is None). Only the latest of them is sent (the freshest, most escalated
    notice); the earlier ones are returned in ``skipped`` in time order, to be recorded as skipped
    (the system was down, or the task was created after them). ``next`` is the first step after
    ``now``. Idempotent: calling again with ``last_at = latest.at`` returns nothing due.
    Raises ``ValueError`` if ``now``/``last_at`` are naive, ``MissingHolidayData`` as above.
    """
    _require_aware(now, "now")
    from_day = None
    if last_at is not None:
        _require_aware(last_at, "last_at")
        from_day = local_day(last_at)
    due: list[Step] = []
    nxt: Step | None = None
    for s in iter_steps(due_on, policy, calendar, from_day=from_day):
        if last_at is not None and s.at <= last_at:
            continue
        if s.at > now:
            nxt = s
            break
        due.append(s)
    if not due:
        return DueSteps(None, [], nxt)
    return DueSteps(due[-1], due[:-1], nxt)


# -- escalation chain ----------------------------------------------------------------------


class ChainLevel(StrEnum):
    """A rung of the escalation chain (DESIGN.md, "Escalation chain")."""

    township = "township"
    """乡镇（街道）: a township with the task's domain (contacts per (township, domain))."""
    county_department = "county_department"
    """基层政府对口部门: the county with the task's domain (contacts per (county, domain))."""
    county_government = "county_government"
    """县（市、区）人民政府: the county itself, without the domain."""
    city = "city"
    """市（州）政府, including 长白山管委会 and 长春新区管委会."""
    provincial_department = "provincial_department"
    """中省直部门 of a domain."""
    provincial_office = "provincial_office"
    """省政府政务公开主管部门 (省政务公开领导小组办公室): the top of every chain."""


_CHAINS: dict[ChainLevel, tuple[ChainLevel, ...]] = {
    ChainLevel.township: (
        ChainLevel.township,
        ChainLevel.county_government,
        ChainLevel.city,
        ChainLevel.provincial_office,
    ),
    ChainLevel.county_department: (
        ChainLevel.county_department,
        ChainLevel.county_government,
        ChainLevel.city,
        ChainLevel.provincial_office,
    ),
    ChainLevel.county_government: (
        ChainLevel.county_government,
        ChainLevel.city,
        ChainLevel.provincial_office,
    ),
    ChainLevel.city: (ChainLevel.city, ChainLevel.provincial_office),
    ChainLevel.provincial_department: (
        ChainLevel.provincial_department,
        ChainLevel.provincial_office,
    ),
    ChainLevel.provincial_office: (ChainLevel.provincial_office,),
}


def recipient_levels(owner_level: str) -> list[ChainLevel]:
    """The escalation chain of a task owned at ``owner_level``, owner first, top last.

    township -> county government (the township's county) -> city -> provincial office;
    county department -> county government -> city -> provincial office;
    county government -> city -> provincial office; city -> provincial office;
    provincial department -> provincial office; provincial office alone.
    Index = ``levels_up``. Raises ``ValueError`` for an unknown level.
    """
    try:
        return list(_CHAINS[ChainLevel(owner_level)])
    except ValueError:
        raise ValueError(
            f"unknown owner level {owner_level!r}; "
            f"expected one of {[lv.value for lv in ChainLevel]}"
        ) from None


def escalation_target(chain: Sequence[T], levels_up: int) -> T:
    """The recipient ``levels_up`` rungs above the owner, clamped at the top of ``chain``.

    ``chain``: the already-resolved recipients, owner first, then each level up to the provincial
    office (shape as in ``recipient_levels``). The elements are opaque here. For a county x domain
    task build it as ``[(county, domain), (county, None), (city, None), (provincial_office,
    None)]``: level 0 is the county's counterpart department for the domain (contacts resolved
    per (organization, domain) when the notice is sent), level 1 the county government, level 2
    the city, level 3 the provincial office. ``levels_up`` 0 is the owner; beyond the top, the top.
    Raises ``ValueError`` on an empty chain or a negative ``levels_up``.
    """
    if not chain:
        raise ValueError("empty escalation chain")
    if levels_up < 0:
        raise ValueError(f"levels_up must be >= 0, got {levels_up}")
    return chain[min(levels_up, len(chain) - 1)]
