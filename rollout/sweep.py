"""The transactional deadline sweep: due steps of open tasks become outbox rows, exactly once.

One call of ``sweep`` handles one batch of tasks (ordered by id, after a cursor) in the caller's
transaction; the edge (the Prefect flow, ``rollout sweep``) loops, one unit of work per batch,
passing ``SweepReport.last_id`` on until ``SweepReport.done``.

Per task (DESIGN.md "Sweep"; issue 3, item 3):

- Selected: state pending / in_progress / returned, and ``next_action_at <= now``, or no
  ``next_action_at`` but a ``schedule_note`` (waiting for holiday data: retried every sweep, so a
  task proceeds as soon as the year's data is there). Submitted, accepted, waived and cancelled
  tasks get nothing.
- Due: the steps of its schedule (``rollout.deadlines.iter_steps``, the rule of ``due_steps``)
  with cursor < at <= now, the cursor being ``next_action_at`` (inclusive) or, for a waiting
  task, the later of ``last_step_at`` and ``submitted_at``. The latest due step is written as a
  pending numbered notice to its recipients (``rollout.notifications``), the earlier ones as
  ``skipped`` rows (the system was down: record, don't send).
- The task's ``next_action_at`` moves to the first step after ``now``; ``last_step_key`` /
  ``last_step_at`` to the latest due step. A schedule reaching a year without holiday data
  (``MissingHolidayData``) sends what it could compute, sets ``next_action_at`` None and
  ``schedule_note`` "等待节假日数据（YYYY年）", and is reported; the rest of the batch goes on.

Lost updates. The task UPDATE is conditional on what the sweep read: ``WHERE id = :id AND state IN
(open) AND next_action_at = :read`` (``IS NULL`` for a waiting task). The UPDATE runs first; the
outbox rows are written only when it matched one row. On PostgreSQL (READ COMMITTED) a unit
that submitted the task after the sweep read it makes the UPDATE match nothing (it re-checks the
committed row), so no notice goes out; a second sweep running at once finds ``next_action_at``
moved and writes nothing either. On SQLite every write transaction starts with ``BEGIN
IMMEDIATE`` (``rollout.db``), so the read and the write already see one state. UPDATEs go in id
order, so concurrent sweeps lock rows in one order (no deadlock).

``version`` is not bumped: it is the optimistic-concurrency token of user transitions
(``rollout.workflow``); a schedule-only change must not make a clerk's transition fail with 409.
The conditional UPDATE above is the sweep's own guard. Domain functions: they take a
``Session`` and never commit; ``now`` is an aware datetime passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from rollout.calendar import TZ, WorkingCalendar, end_of_day_at, local_day
from rollout.deadlines import DeadlinePolicy, Step, iter_steps, next_step
from rollout.errors import MissingHolidayData
from rollout.models import OPEN_STATES, AuditEvent, Milestone, OutboxStatus, TrackedTask
from rollout.notifications.notices import NoticeDraft, enqueue_drafts
from rollout.notifications.recipients import RecipientResolver

DEFAULT_BATCH_SIZE = 1000
_OPEN = sorted(s.value for s in OPEN_STATES)
_EPSILON = timedelta(microseconds=1)
_EPOCH = end_of_day_at(date(1970, 1, 1))


def waiting_note(year: int) -> str:
    """The ``schedule_note`` of a task whose schedule needs holiday data for ``year``."""
    return f"等待节假日数据（{year}年）"


@dataclass
class SweepReport:
    """What one or more sweep batches did.

    ``created``: pending notice rows written; ``skipped``: rows recorded as skipped (missed
    steps); ``tasks``: tasks whose schedule the sweep advanced; ``waiting_for_holiday_data``:
    keys of tasks whose schedule reaches a year without holiday data; ``changed_concurrently``:
    tasks left alone because another transaction changed them after they were read;
    ``batches``: batches run. ``last_id`` / ``done``: the cursor for the next batch.
    """

    created: int = 0
    skipped: int = 0
    tasks: int = 0
    waiting_for_holiday_data: list[str] = field(default_factory=list)
    changed_concurrently: int = 0
    batches: int = 0
    last_id: int = 0
    done: bool = True

    def add(self, other: SweepReport) -> None:
        """Fold a later batch's report into this one (counts add, the cursor moves on)."""
        self.created += other.created
        self.skipped += other.skipped
        self.tasks += other.tasks
        self.waiting_for_holiday_data += other.waiting_for_holiday_data
        self.changed_concurrently += other.changed_concurrently
        self.batches += other.batches
        self.last_id, self.done = other.last_id, other.done

    def as_json(self) -> dict[str, Any]:
        """The report as JSON-ready data (the CLI's ``--format json``, the flow's result)."""
        return {
            "created": self.created,
            "skipped": self.skipped,
            "tasks": self.tasks,
            "waiting_for_holiday_data": sorted(self.waiting_for_holiday_data),
            "changed_concurrently": self.changed_concurrently,
            "batches": self.batches,
        }


@dataclass(frozen=True)
class TaskOutcome:
    """The sweep's decision for one task: the step to send (``latest``), the missed ones
    (``skipped``), the new ``next_at`` and ``note``, and the missing year if any."""

    task: Any
    latest: Step | None
    skipped: list[Step]
    next_at: datetime | None
    note: str | None
    missing_year: int | None = None


_COLUMNS = (
    TrackedTask.id, TrackedTask.key, TrackedTask.plan_id, TrackedTask.milestone_id,
    TrackedTask.org_code, TrackedTask.unit_code, TrackedTask.domain_key, TrackedTask.state,
    TrackedTask.due_on, TrackedTask.next_action_at, TrackedTask.last_step_at,
    TrackedTask.submitted_at, TrackedTask.schedule_note,
)


def select_due(
    session: Session, now: datetime, *, after_id: int = 0, limit: int = DEFAULT_BATCH_SIZE
) -> list[Any]:
    """Up to ``limit`` tasks to sweep at ``now`` with id > ``after_id``, in id order, as rows
    with the attributes of ``TrackedTask`` the sweep needs (plain read, no lock)."""
    q = (
        select(*_COLUMNS)
        .where(
            col(TrackedTask.id) > after_id,
            col(TrackedTask.state).in_(_OPEN),
            sa.or_(
                col(TrackedTask.next_action_at) <= now,
                sa.and_(
                    col(TrackedTask.next_action_at).is_(None),
                    col(TrackedTask.schedule_note).is_not(None),
                ),
            ),
        )
        .order_by(col(TrackedTask.id))
        .limit(limit)
    )
    return list(session.exec(q))


def _sweep_cursor(task: Any) -> datetime | None:
    if task.next_action_at is not None:
        return task.next_action_at - _EPSILON
    return reload_cursor(task)


def reload_cursor(task: Any) -> datetime | None:
    """The time up to which ``task``'s steps count as handled when its schedule is recomputed:
    the later of ``last_step_at`` (the latest step swept) and ``submitted_at`` (a returned task
    owes nothing for steps before its submission); None if neither is set."""
    marks = [t for t in (task.last_step_at, task.submitted_at) if t is not None]
    return max(marks) if marks else None


def decide(task: Any, policy: DeadlinePolicy, calendar: WorkingCalendar, now: datetime) -> TaskOutcome:
    """What the sweep does for ``task`` at ``now`` (pure; see the module docstring).

    Steps with cursor < at <= now are due: the latest is sent, the rest skipped; ``next_at`` is
    the first step after ``now`` (None when the schedule ended or reaches a year without data;
    then ``missing_year`` and ``note`` say which).
    """
    last_at = _sweep_cursor(task)
    from_day = local_day(last_at) if last_at is not None else None
    due: list[Step] = []
    try:
        for s in iter_steps(task.due_on, policy, calendar, from_day=from_day):
            if last_at is not None and s.at <= last_at:
                continue
            if s.at > now:
                return TaskOutcome(task, due[-1] if due else None, due[:-1], s.at, None)
            due.append(s)
    except MissingHolidayData as exc:
        latest = due[-1] if due else None
        return TaskOutcome(task, latest, due[:-1], None, waiting_note(exc.year), exc.year)
    return TaskOutcome(task, due[-1] if due else None, due[:-1], None, None)


def advance(session: Session, outcome: TaskOutcome) -> bool:
    """The conditional UPDATE of one task (see "Lost updates"); True if it matched the row.

    A no-op outcome (nothing due, nothing moved) updates nothing and returns False.
    """
    t = outcome.task
    values: dict[str, Any] = {"next_action_at": outcome.next_at, "schedule_note": outcome.note}
    if outcome.latest is not None:
        values |= {"last_step_key": outcome.latest.key, "last_step_at": outcome.latest.at}
    elif (outcome.next_at, outcome.note) == (t.next_action_at, t.schedule_note):
        return False
    read = col(TrackedTask.next_action_at)
    stmt = (
        sa.update(TrackedTask)
        .where(
            col(TrackedTask.id) == t.id,
            col(TrackedTask.state).in_(_OPEN),
            read.is_(None) if t.next_action_at is None else read == t.next_action_at,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return session.execute(stmt).rowcount == 1


def _policies(session: Session, milestone_ids: set[int]) -> dict[int, DeadlinePolicy]:
    rows = session.exec(select(Milestone).where(col(Milestone.id).in_(sorted(milestone_ids))))
    return {m.id: DeadlinePolicy.model_validate(m.policy) for m in rows}  # type: ignore[misc]


def sweep_tasks(
    session: Session, tasks: list[Any], now: datetime, calendar: WorkingCalendar
) -> SweepReport:
    """Sweep ``tasks`` (rows from ``select_due``, read earlier in this or another transaction)
    at ``now``: decide, advance each conditionally, then write the outbox rows of those whose
    UPDATE matched. Returns the counts (``batches`` 0, cursor not set)."""
    report = SweepReport()
    policies = _policies(session, {t.milestone_id for t in tasks})
    sent: list[TaskOutcome] = []
    for task in tasks:
        outcome = decide(task, policies[task.milestone_id], calendar, now)
        if outcome.missing_year is not None:
            report.waiting_for_holiday_data.append(task.key)
        if not advance(session, outcome):
            if outcome.latest is not None:
                report.changed_concurrently += 1
            continue
        report.tasks += 1
        if outcome.latest is not None:
            sent.append(outcome)
    if not sent:
        return report
    resolver = RecipientResolver(session)
    today = local_day(now)
    drafts: list[NoticeDraft] = []
    for o in sent:
        for step in o.skipped:
            drafts += [NoticeDraft(o.task, step, r, OutboxStatus.skipped)
                       for r in resolver.resolve(o.task, step.levels_up, today)]
        drafts += [NoticeDraft(o.task, o.latest, r)  # type: ignore[arg-type]
                   for r in resolver.resolve(o.task, o.latest.levels_up, today)]  # type: ignore[union-attr]
    written = enqueue_drafts(session, drafts, now)
    report.created, report.skipped = len(written.pending), len(written.skipped)
    return report


def sweep(
    session: Session,
    now: datetime,
    calendar: WorkingCalendar,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    after_id: int = 0,
) -> SweepReport:
    """Sweep one batch: up to ``batch_size`` due tasks with id > ``after_id`` at aware ``now``.

    Returns the batch's report with ``batches`` 1, ``last_id`` (pass it as ``after_id`` to the
    next call) and ``done`` (no more tasks after this batch). Raises ``ValueError`` on a naive
    ``now`` or a ``batch_size`` < 1. Never commits: the edge commits each batch.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be an aware datetime, got {now!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    tasks = select_due(session, now, after_id=after_id, limit=batch_size)
    report = sweep_tasks(session, tasks, now, calendar) if tasks else SweepReport()
    report.batches = 1
    report.last_id = tasks[-1].id if tasks else after_id
    report.done = len(tasks) < batch_size
    return report


@dataclass
class ReloadReport:
    """What ``reproject`` did: open tasks examined, tasks whose ``next_action_at`` or note
    moved (one ``task_schedule_moved`` audit event each), and keys still waiting for data."""

    examined: int = 0
    moved: int = 0
    waiting_for_holiday_data: list[str] = field(default_factory=list)


def reproject(session: Session, calendar: WorkingCalendar, now: datetime) -> ReloadReport:
    """Recompute ``next_action_at`` of every open task after holiday data changed.

    New value: the first step of the task's schedule (in ``calendar``) after its
    ``reload_cursor`` (the first step at all if none); a step already in the past is then sent by
    the next sweep. Each task whose value or ``schedule_note`` changes is updated (conditional
    on the state and ``next_action_at`` read, ``version`` untouched) and gets an ``AuditEvent``
    ``task_schedule_moved`` at aware ``now`` with before/after. Never commits.
    """
    report = ReloadReport()
    rows = list(session.exec(
        select(*_COLUMNS).where(col(TrackedTask.state).in_(_OPEN)).order_by(col(TrackedTask.id))
    ))
    policies = _policies(session, {t.milestone_id for t in rows})
    events: list[dict[str, Any]] = []
    for t in rows:
        report.examined += 1
        try:
            step = next_step(t.due_on, policies[t.milestone_id], calendar,
                             after=reload_cursor(t) or _EPOCH)
            new_at, note = (step.at if step else None), None
        except MissingHolidayData as exc:
            new_at, note = None, waiting_note(exc.year)
            report.waiting_for_holiday_data.append(t.key)
        if (new_at, note) == (t.next_action_at, t.schedule_note):
            continue
        if not advance(session, TaskOutcome(t, None, [], new_at, note)):
            continue
        report.moved += 1
        events.append(dict(
            at=now, kind="task_schedule_moved", task_id=t.id, plan_id=t.plan_id, actor="system",
            before={"next_action_at": _iso(t.next_action_at), "schedule_note": t.schedule_note},
            after={"next_action_at": _iso(new_at), "schedule_note": note},
            detail={"reason": "节假日数据变更"},
        ))
    if events:
        session.execute(sa.insert(AuditEvent), events)
    return report


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(TZ).isoformat() if at else None
