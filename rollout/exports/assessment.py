"""Performance-assessment tables (绩效考核, plan §五(四) 强化监督考核): per city, county and
provincial department, and one detail row per task.

Rules (all counted at ``as_of``, an aware datetime; days are local Asia/Shanghai days):

- A task counts for its owner (``TrackedTask.org_code``): city rows hold the cities' own tasks
  (``city_filing``, ``city_review``), county rows the county × domain tasks. In the department
  table every task with a domain counts for that domain's department in the owner's province
  (``department_code(owner.province, Domain.department_key)``): its own
  ``work_plan``/``dept_filing`` and every county's task of its domains.
- Waived (豁免) and cancelled tasks are listed in the detail but not counted.
- Delivered (完成): state ``submitted`` or ``accepted`` with ``submitted_at <= as_of``. Lateness
  counts from the due day in force (按原定时间考核): ``TrackedTask.due_on``, which is the
  original day unless an extension was approved (or a return set a correction day). Late when the
  local day of ``submitted_at`` is after it; working days late =
  ``WorkingCalendar.working_days_between(due_on, local_day(submitted_at))`` (a Saturday
  delivery after a Friday due day is late by 0 working days).
- Open (未完成): not delivered (includes ``returned``); overdue (逾期未完成): open and
  ``as_of`` past the end of the due day.
- First-pass acceptance (一次验收通过率): among tasks of milestones with an acceptor
  (``Milestone.accepted_by``) accepted by ``as_of``, the share never returned
  (``times_returned == 0``). None when there is none.
- Score: ``rollout.exports.scoring`` (weights from ``Plan.scoring``).

One streamed select over the plan's tasks (plus one small query each for organizations, domains
and milestones); nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy import Row, func
from sqlmodel import Session, select

from rollout.calendar import WorkingCalendar, is_overdue, local_day
from rollout.exports.scoring import ScoringWeights, score, scoring_weights
from rollout.models import (
    ORG_KIND_LABELS,
    Domain,
    Milestone,
    Organization,
    OrgKind,
    Plan,
    TaskState,
    TrackedTask,
)
from rollout.models.organization import department_code

STREAM_BATCH = 2_000


class Group(StrEnum):
    """Which summary table a row belongs to. Labels: ``GROUP_LABELS``."""

    city = "city"
    county = "county"
    department = "department"


#: The registry's own labels of these kinds (one mapping for pages, mails and exports).
GROUP_LABELS: dict[Group, str] = {g: ORG_KIND_LABELS[OrgKind(g.value)] for g in Group}


class Outcome(StrEnum):
    """A task's assessment result at ``as_of``. Labels: ``OUTCOME_LABELS``."""

    on_time = "on_time"
    late = "late"
    not_due = "not_due"
    overdue = "overdue"
    waived = "waived"
    cancelled = "cancelled"


OUTCOME_LABELS: dict[Outcome, str] = {
    Outcome.on_time: "按时完成",
    Outcome.late: "逾期完成",
    Outcome.not_due: "未到期",
    Outcome.overdue: "逾期未完成",
    Outcome.waived: "已豁免",
    Outcome.cancelled: "已取消",
}


@dataclass(frozen=True)
class DetailRow:
    """One task in the detail sheet. Dates are local days; ``submitted_at``/``completed_at`` aware.

    ``working_days_late``: set for a late delivery (>= 0), else None. ``city_name``: the owner's
    superior city for a county, the city itself for a city, else "".
    """

    task_key: str
    milestone_title: str
    section: str
    org_code: str
    org_name: str
    city_name: str
    domain_name: str
    department_name: str
    original_due_on: date
    due_on: date
    state: TaskState
    submitted_at: datetime | None
    completed_at: datetime | None
    outcome: Outcome
    working_days_late: int | None
    times_returned: int


@dataclass
class AssessmentRow:
    """The counts of one organization in one group. ``score`` is set once all tasks are counted.

    ``tasks``: counted tasks (not waived/cancelled); ``on_time``/``late``: delivered;
    ``working_days_late_total``: summed over late ones; ``open``/``overdue``: at ``as_of``;
    ``accepted``/``first_pass``: accepted tasks of milestones with an acceptor / never returned.
    """

    group: Group
    org_code: str
    org_name: str
    city_name: str = ""
    """The superior city's name, for county rows only."""
    tasks: int = 0
    on_time: int = 0
    late: int = 0
    working_days_late_total: int = 0
    open: int = 0
    overdue: int = 0
    times_returned: int = 0
    accepted: int = 0
    first_pass: int = 0
    score: float = 0.0

    @property
    def average_working_days_late(self) -> float | None:
        """Mean working days late over the late deliveries; None when nothing was late."""
        return self.working_days_late_total / self.late if self.late else None

    @property
    def first_pass_rate(self) -> float | None:
        """``first_pass / accepted`` (0..1); None when nothing with an acceptor was accepted."""
        return self.first_pass / self.accepted if self.accepted else None


@dataclass
class AssessmentTable:
    """The whole assessment of one plan at ``as_of``: summary rows per group, sorted by org code
    (counties by city then code), and every task's detail row (sorted by task key)."""

    plan_key: str
    plan_title: str
    document_number: str
    as_of: datetime
    weights: ScoringWeights
    rows: dict[Group, list[AssessmentRow]] = field(default_factory=dict)
    details: list[DetailRow] = field(default_factory=list)

    def all_rows(self) -> list[AssessmentRow]:
        """Cities, then counties, then departments."""
        return [r for g in Group for r in self.rows.get(g, [])]

    def row(self, group: Group, org_code: str) -> AssessmentRow:
        """The row of ``org_code`` in ``group``; ``KeyError`` when it has none."""
        for r in self.rows.get(group, []):
            if r.org_code == org_code:
                return r
        raise KeyError(f"{group.value} {org_code}")


def _outcome(
    t: Row, as_of: datetime, calendar: WorkingCalendar
) -> tuple[Outcome, int | None]:
    if t.state in (TaskState.waived, TaskState.cancelled):
        return Outcome(t.state.value), None
    delivered = (
        t.state in (TaskState.submitted, TaskState.accepted)
        and t.submitted_at is not None
        and t.submitted_at <= as_of
    )
    if delivered:
        assert t.submitted_at is not None
        day = local_day(t.submitted_at)
        if day <= t.due_on:
            return Outcome.on_time, None
        return Outcome.late, calendar.working_days_between(t.due_on, day)
    return (Outcome.overdue if is_overdue(t.due_on, as_of) else Outcome.not_due), None


def _count(row: AssessmentRow, t: Row, outcome: Outcome, late_wd: int | None,
           first_pass_eligible: bool) -> None:
    if outcome in (Outcome.waived, Outcome.cancelled):
        return
    row.tasks += 1
    row.times_returned += t.times_returned
    if outcome == Outcome.on_time:
        row.on_time += 1
    elif outcome == Outcome.late:
        row.late += 1
        row.working_days_late_total += late_wd or 0
    else:
        row.open += 1
        row.overdue += outcome == Outcome.overdue
    if first_pass_eligible:
        row.accepted += 1
        row.first_pass += t.times_returned == 0


def assessment_rows(
    session: Session,
    plan: Plan,
    as_of: datetime,
    calendar: WorkingCalendar,
    *,
    progress: Callable[[int], None] | None = None,
    where: sa.ColumnElement[bool] | None = None,
) -> AssessmentTable:
    """Count every task of ``plan`` at ``as_of`` into city, county and department rows.

    ``as_of``: aware datetime (``ValueError`` if naive). ``progress``: called with the number of
    tasks read after each batch. ``where``: only the tasks it selects (a condition on
    ``TrackedTask``; None: all). Rows exist for every city, county and department of the
    registry that owns at least one of them. Raises ``PlanError`` on bad ``Plan.scoring``,
    ``MissingHolidayData`` when a late delivery falls in a year without calendar data.
    Reads only; never commits.
    """
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise ValueError(f"as_of must be an aware datetime, got naive {as_of!r}")
    weights = scoring_weights(plan.scoring, plan.key)
    orgs = {o.code: o for o in session.exec(select(Organization)).all()}
    domains = {d.key: d for d in session.exec(select(Domain)).all()}
    milestones = {
        m.id: m for m in session.exec(select(Milestone).where(Milestone.plan_id == plan.id)).all()
    }
    table = AssessmentTable(plan.key, plan.title, plan.document_number, as_of, weights)
    rows: dict[tuple[Group, str], AssessmentRow] = {}

    def row_of(group: Group, code: str) -> AssessmentRow:
        r = rows.get((group, code))
        if r is None:
            org = orgs[code]
            city = orgs.get(org.parent_code or "") if group == Group.county else None
            r = rows[(group, code)] = AssessmentRow(group, code, org.name, city.name if city else "")
        return r

    cols = (
        TrackedTask.key, TrackedTask.milestone_id, TrackedTask.org_code, TrackedTask.domain_key,
        TrackedTask.state, TrackedTask.due_on, TrackedTask.original_due_on,
        TrackedTask.submitted_at, TrackedTask.completed_at, TrackedTask.times_returned,
    )
    stmt = (
        select(*cols)
        .where(TrackedTask.plan_id == plan.id, *([] if where is None else [where]))
        .order_by(TrackedTask.key)
        .execution_options(yield_per=STREAM_BATCH)
    )
    seen = 0
    for t in session.exec(stmt):
        m = milestones[t.milestone_id]
        owner = orgs[t.org_code]
        dom = domains.get(t.domain_key or "")
        outcome, late_wd = _outcome(t, as_of, calendar)
        eligible = (
            m.accepted_by is not None
            and t.state == TaskState.accepted
            and t.completed_at is not None
            and t.completed_at <= as_of
        )
        if owner.kind in (OrgKind.city, OrgKind.county):
            _count(row_of(Group(owner.kind.value), owner.code), t, outcome, late_wd, eligible)
        dept_code = department_code(owner.province, dom.department_key) if dom else None
        if dept_code is not None:
            _count(row_of(Group.department, dept_code), t, outcome, late_wd, eligible)
        city = owner if owner.kind == OrgKind.city else orgs.get(owner.parent_code or "")
        dept = orgs.get(dept_code) if dept_code else None
        table.details.append(
            DetailRow(
                t.key, m.title, m.section, owner.code, owner.name,
                city.name if city is not None and city.kind == OrgKind.city else "",
                dom.name if dom else "", dept.name if dept else "",
                t.original_due_on, t.due_on, t.state, t.submitted_at, t.completed_at,
                outcome, late_wd, t.times_returned,
            )
        )
        seen += 1
        if progress is not None and seen % STREAM_BATCH == 0:
            progress(STREAM_BATCH)
    if progress is not None and seen % STREAM_BATCH:
        progress(seen % STREAM_BATCH)
    for r in rows.values():
        r.score = score(
            weights, on_time=r.on_time, late=r.late, overdue=r.overdue,
            working_days_late_total=r.working_days_late_total,
            first_pass=r.first_pass, accepted=r.accepted,
        )
    for g in Group:
        group_rows = [r for (gg, _), r in rows.items() if gg == g]
        key = (lambda r: (orgs[r.org_code].parent_code or "", r.org_code)) if g == Group.county \
            else (lambda r: r.org_code)
        table.rows[g] = sorted(group_rows, key=key)
    return table


def task_count(session: Session, plan: Plan, where: sa.ColumnElement[bool] | None = None) -> int:
    """How many tasks ``plan`` has (only those ``where`` selects, when given; for a progress
    bar's total)."""
    return session.exec(
        select(func.count()).select_from(TrackedTask)
        .where(TrackedTask.plan_id == plan.id, *([] if where is None else [where]))
    ).one()
