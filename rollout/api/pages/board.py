"""The numbers behind the dashboard and the city page, each from one aggregate query over the
pre-aggregated ``TaskCount`` rows (``rollout.models.summary``: exact, kept by triggers) instead of
the tasks: about 80,000 rows for 774,432 tasks; the matrix itself has about 39,000 cells there
(``bench/dashboard.py`` measures it).

A task's status on a page (``STATUS_LABELS``), as of ``now``:

- ``done``: accepted or waived; ``submitted``: waiting for acceptance or review;
- ``overdue``: still owed (pending, in progress, returned) and its due day (end of local day)
  has passed; ``soon``: still owed and due today or within the next 5 working days;
  ``later``: still owed, not yet due. Cancelled tasks are not counted.

A cell (a unit × a milestone) takes the most urgent status among its tasks, in the order
overdue, soon, later, submitted, done.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from rollout.calendar import TZ, WorkingCalendar
from rollout.errors import MissingHolidayData
from rollout.models import (
    DONE_STATES,
    OPEN_STATES,
    Domain,
    Milestone,
    Organization,
    OrgKind,
    Plan,
    TaskCount,
    TaskState,
    TrackedTask,
)

SOON_WORKING_DAYS = 5
STATUS_ORDER = ("overdue", "soon", "later", "submitted", "done")
STATUS_LABELS = {
    "done": "已完成",
    "submitted": "已提交待验收",
    "soon": f"{SOON_WORKING_DAYS}个工作日内到期",
    "overdue": "逾期",
    "later": "未到期",
}


@dataclass
class Cell:
    """Task counts of one unit (or group of units) under one milestone."""

    done: int = 0
    submitted: int = 0
    overdue: int = 0
    soon: int = 0
    later: int = 0

    @property
    def total(self) -> int:
        """Tasks in the cell (cancelled ones are never counted)."""
        return self.done + self.submitted + self.overdue + self.soon + self.later

    @property
    def status(self) -> str:
        """The most urgent status present (``STATUS_ORDER``); ``"none"`` for an empty cell."""
        return next((s for s in STATUS_ORDER if getattr(self, s)), "none")

    def add(self, other: Cell) -> None:
        """Add ``other``'s counts to this cell."""
        for s in STATUS_ORDER:
            setattr(self, s, getattr(self, s) + getattr(other, s))

    def title(self) -> str:
        """Tooltip text: the count of every status present, e.g. ``已完成 20 · 逾期 6``."""
        return " · ".join(f"{STATUS_LABELS[s]} {getattr(self, s)}" for s in STATUS_ORDER if getattr(self, s))


def soon_limit(today: date, calendar: WorkingCalendar) -> date:
    """The last local day counted as due soon: ``today`` + 5 working days (calendar days + 7
    when the calendar lacks the year's holiday data)."""
    try:
        return calendar.add_working_days(today, SOON_WORKING_DAYS)
    except MissingHolidayData:
        return date.fromordinal(today.toordinal() + 7)


def task_status(task: TrackedTask, now: datetime, soon_on: date) -> str:
    """One task's status key (``STATUS_LABELS``) at ``now``; ``"none"`` when cancelled."""
    if task.state in DONE_STATES:
        return "done"
    if task.state == TaskState.submitted:
        return "submitted"
    if task.state == TaskState.cancelled:
        return "none"
    if task.due_at < now:
        return "overdue"
    return "soon" if task.due_on <= soon_on else "later"


def _sum(cond: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((cond, TaskCount.n), else_=0)), 0)


def _states(column: sa.ColumnElement, states: frozenset[TaskState]) -> sa.ColumnElement[bool]:
    """``column IN (...)`` with the values written into the SQL (so a partial index on
    ``OPEN_STATES`` can be proven on SQLite and with PostgreSQL's generic plans)."""
    values = sorted(s.value for s in states)
    return column.in_(sa.bindparam(None, values, expanding=True, literal_execute=True))


def status_sums(now: datetime, soon_on: date) -> list[sa.ColumnElement[int]]:
    """SQL sums over ``TaskCount`` rows (each weighted by its ``n``), one per status in
    ``STATUS_ORDER``."""
    state = col(TaskCount.state)
    owed = _states(state, OPEN_STATES)
    late = sa.and_(owed, col(TaskCount.due_at) < now)
    soon = sa.and_(owed, col(TaskCount.due_at) >= now, col(TaskCount.due_on) <= soon_on)
    return [
        _sum(late), _sum(soon),
        _sum(sa.and_(owed, col(TaskCount.due_at) >= now, col(TaskCount.due_on) > soon_on)),
        _sum(state == TaskState.submitted.value),
        _sum(_states(state, DONE_STATES)),
    ]


@dataclass
class Board:
    """Cells of every unit × milestone of a plan at ``now``.

    ``cells[(unit code, milestone key)]``: the unit is a task's fan-out unit (the county a
    city's review is about), else its owner. ``city_of``: unit → its city (counties), or itself
    (cities). ``by_milestone``: totals over all units.
    """

    milestones: list[Milestone]
    cells: dict[tuple[str, str], Cell]
    city_of: dict[str, str]
    by_milestone: dict[str, Cell] = field(default_factory=dict)

    def cell(self, unit: str, milestone: str) -> Cell:
        """The cell of ``unit`` × ``milestone`` (an empty one if it has no tasks)."""
        return self.cells.get((unit, milestone), Cell())

    def city_cell(self, city: str, milestone: str, counties: list[str]) -> Cell:
        """The city's own tasks plus its counties' under ``milestone``."""
        out = Cell()
        for unit in [city, *counties]:
            out.add(self.cell(unit, milestone))
        return out


Units = set[str] | sa.Select | None
"""Which units a page covers: a set of codes (a city and its counties), a select of codes (an
office's province: ``rollout.actions.scope.province_units``), or None for every unit."""


def among(column: sa.ColumnElement, units: Units) -> sa.ColumnElement[bool] | None:
    """``column IN units`` (None when ``units`` is None: no condition)."""
    if units is None:
        return None
    return column.in_(units if isinstance(units, sa.Select) else sorted(units))


def load_board(
    session: Session, plan: Plan, now: datetime, calendar: WorkingCalendar,
    units: Units = None,
) -> Board:
    """The board of ``plan`` at ``now`` (aware): one GROUP BY (unit, milestone) over the
    pre-aggregated task counts (``TaskCount``, kept exact by triggers); units' kinds and cities
    and milestone keys are looked up in Python (no join over the ~80,000 count rows of a
    million tasks).

    ``units``: only these units (``Units``: a city and its counties, an office's province).
    """
    soon_on = soon_limit(now.astimezone(TZ).date(), calendar)
    milestones = list(session.exec(
        select(Milestone).where(Milestone.plan_id == plan.id).order_by(col(Milestone.position))
    ))
    key_of = {m.id: m.key for m in milestones}
    parent_of = dict(session.exec(
        select(Organization.code, Organization.parent_code)
        .where(Organization.kind == OrgKind.county.value)
    ).all())
    cities = set(session.exec(select(Organization.code).where(Organization.kind == OrgKind.city.value)))
    unit = col(TaskCount.unit_code)
    q = (
        select(unit, TaskCount.milestone_id, *status_sums(now, soon_on))
        .where(TaskCount.plan_id == plan.id, col(TaskCount.state) != TaskState.cancelled.value)
        .group_by(unit, TaskCount.milestone_id)
    )
    if (only := among(unit, units)) is not None:
        q = q.where(only)
    cells: dict[tuple[str, str], Cell] = {}
    city_of: dict[str, str] = {}
    totals: dict[str, list[int]] = defaultdict(lambda: [0] * len(STATUS_ORDER))
    for code, milestone_id, *counts in session.connection().execute(q):  # Core rows: no ORM
        if not any(counts):  # only count rows that fell to 0 (tasks moved or deleted)
            continue
        key = key_of[milestone_id]
        late, soon, later, submitted, done = counts  # STATUS_ORDER
        cells[(code, key)] = Cell(done=done, submitted=submitted, overdue=late, soon=soon,
                                  later=later)
        total = totals[key]
        for i, v in enumerate(counts):
            total[i] += v
        if parent_of.get(code):
            city_of[code] = parent_of[code]
        elif code in cities:
            city_of[code] = code
    by_milestone = {k: Cell(**dict(zip(STATUS_ORDER, v, strict=True))) for k, v in totals.items()}
    return Board(milestones, cells, city_of, by_milestone)


@dataclass(frozen=True)
class Unit:
    """A city or county as shown: code, name, its city (counties) or None."""

    code: str
    name: str
    kind: OrgKind
    parent_code: str | None


def cities_and_counties(
    session: Session, city: str | None = None, units: Units = None,
) -> list[tuple[Unit, list[Unit]]]:
    """Cities in code order, each with its counties (their superior today). ``city``: that one
    only; ``units``: only cities and counties among them (``Units``)."""
    q = select(Organization).where(col(Organization.kind).in_([OrgKind.city.value, OrgKind.county.value]))
    if (only := among(col(Organization.code), units)) is not None:
        q = q.where(only)
    rows = [Unit(o.code, o.short_name or o.name, o.kind, o.parent_code)
            for o in session.exec(q.order_by(col(Organization.code)))]
    counties: dict[str, list[Unit]] = defaultdict(list)
    for u in rows:
        if u.kind == OrgKind.county and u.parent_code:
            counties[u.parent_code].append(u)
    return [(u, counties[u.code]) for u in rows
            if u.kind == OrgKind.city and (city is None or u.code == city)]


def county_columns(board: Board) -> list[Milestone]:
    """Milestones fanned out per county (the matrix columns): catalog, city_review, upload, …"""
    return [m for m in board.milestones if "county" in m.over_dims]


def city_columns(board: Board) -> list[Milestone]:
    """Milestones owed by the city itself (e.g. city_filing)."""
    return [m for m in board.milestones if "city" in m.over_dims and "county" not in m.over_dims]


@dataclass(frozen=True)
class LateTask:
    """One overdue task of the overdue list: ``days_late`` in working days after its due day."""

    id: int
    key: str
    milestone: str
    owner: str
    unit: str | None
    domain: str | None
    due_on: date
    days_late: int
    times_returned: int
    state: str


def overdue_tasks(
    session: Session, plan: Plan, now: datetime, calendar: WorkingCalendar,
    *, limit: int = 100, units: Units = None,
) -> tuple[int, list[LateTask]]:
    """The open tasks past their due day at ``now``, most days late first (then by key), at most
    ``limit``; with their total count. ``days_late``: working days in (due day, today] (0 for a
    task late only by a weekend or holiday so far). The total comes from ``TaskCount``; the list
    walks the partial index ``ix_trackedtask_open_due`` in due-day order. ``units``: only tasks
    whose fan-out unit (else owner) is among them (``Units``)."""
    owed = _states(col(TrackedTask.state), OPEN_STATES)
    cond = sa.and_(TrackedTask.plan_id == plan.id, owed, col(TrackedTask.due_at) < now)
    counted = sa.and_(TaskCount.plan_id == plan.id, _states(col(TaskCount.state), OPEN_STATES),
                      col(TaskCount.due_at) < now)
    if units is not None:
        unit = sa.func.coalesce(TrackedTask.unit_code, TrackedTask.org_code)
        cond = sa.and_(cond, among(unit, units))
        counted = sa.and_(counted, among(col(TaskCount.unit_code), units))
    total = session.exec(select(sa.func.coalesce(sa.func.sum(TaskCount.n), 0)).where(counted)).one()
    owner = sa.orm.aliased(Organization)
    about = sa.orm.aliased(Organization)
    rows = session.exec(
        select(TrackedTask.id, TrackedTask.key, Milestone.title, owner.name, about.name,
               Domain.name, TrackedTask.due_on, TrackedTask.times_returned, TrackedTask.state)
        .join(Milestone, col(Milestone.id) == TrackedTask.milestone_id)
        .join(owner, owner.code == TrackedTask.org_code)
        .outerjoin(about, about.code == TrackedTask.unit_code)
        .outerjoin(Domain, col(Domain.key) == TrackedTask.domain_key)
        .where(cond)
        .order_by(col(TrackedTask.plan_id), col(TrackedTask.due_on), col(TrackedTask.key))
        .limit(limit)
    ).all()
    today = now.astimezone(TZ).date()
    out = []
    for tid, key, title, owner_name, unit_name, domain, due_on, returned, state in rows:
        try:
            late = calendar.working_days_between(due_on, today)
        except MissingHolidayData:
            late = (today - due_on).days
        out.append(LateTask(tid, key, title, owner_name,
                            unit_name if unit_name != owner_name else None, domain, due_on, late,
                            returned, str(getattr(state, "value", state))))
    return int(total), out
