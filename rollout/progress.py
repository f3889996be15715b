"""Progress of a plan: per-milestone counts of tasks by outcome, as of a given time.

One aggregate query over the pre-aggregated ``TaskCount`` rows (``rollout.models.summary``, kept
exact by triggers), not over the tasks: at 774,432 tasks on PostgreSQL (2 cores, load 5-6) the
GROUP BY over ``TrackedTask`` took about 1.1 s, the summary 65-105 ms (``bench/dashboard.py``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from rollout.models import (
    DONE_STATES,
    OPEN_STATES,
    Milestone,
    Organization,
    Plan,
    TaskCount,
    TaskState,
)


@dataclass(frozen=True)
class MilestoneProgress:
    """Counts for one milestone. ``total`` excludes cancelled tasks; ``done`` = accepted or
    waived; ``open`` = pending, in progress or returned; ``overdue`` = open with its due day
    (end of local day) before ``as_of``; ``waiting_for_holiday_data`` = open tasks whose
    reminder schedule reaches a year without holiday data."""

    key: str
    title: str
    due: date
    total: int
    done: int
    submitted: int
    open: int
    overdue: int
    waiting_for_holiday_data: int

    def as_json(self) -> dict:
        out = asdict(self)
        out["due"] = self.due.isoformat()
        return out


def _in(states: frozenset[TaskState]) -> sa.ColumnElement[bool]:
    return col(TaskCount.state).in_(
        sa.bindparam(None, sorted(s.value for s in states), expanding=True, literal_execute=True)
    )


def _count(cond: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((cond, TaskCount.n), else_=0)), 0)


def plan_progress(
    session: Session, plan: Plan, as_of: datetime, unit_codes: set[str] | None = None
) -> list[MilestoneProgress]:
    """Per-milestone progress of ``plan`` at ``as_of`` (aware), in plan order.

    ``unit_codes``: only tasks whose unit (the fan-out unit, else the owner) is one of these
    codes, e.g. a city and its counties (see ``city_units``). The counts equal a COUNT over
    ``TrackedTask`` with the same conditions (``tests/test_progress.py``).
    """
    is_open = _in(OPEN_STATES)
    q = (
        select(
            TaskCount.milestone_id,
            _count(col(TaskCount.state) != TaskState.cancelled.value),
            _count(_in(DONE_STATES)),
            _count(col(TaskCount.state) == TaskState.submitted.value),
            _count(is_open),
            _count(sa.and_(is_open, col(TaskCount.due_at) < as_of)),
            _count(sa.and_(is_open, col(TaskCount.waiting))),
        )
        .where(TaskCount.plan_id == plan.id)
        .group_by(TaskCount.milestone_id)
    )
    if unit_codes is not None:
        q = q.where(col(TaskCount.unit_code).in_(sorted(unit_codes)))
    counts = {row[0]: [int(v) for v in row[1:]] for row in session.exec(q)}
    milestones = session.exec(
        select(Milestone).where(Milestone.plan_id == plan.id).order_by(Milestone.position)
    )
    return [
        MilestoneProgress(m.key, m.title, m.due_on, *counts.get(m.id, [0] * 6))
        for m in milestones
    ]


def city_units(session: Session, city: Organization) -> set[str]:
    """A city's code and the codes of its counties (their superior today)."""
    kids = session.exec(select(Organization.code).where(Organization.parent_code == city.code))
    return {city.code, *kids}
