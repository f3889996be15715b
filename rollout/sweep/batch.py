"""One batch of the sweep against the database: select the due tasks, advance them with
conditional UPDATEs, write their outbox rows (the guarantees: ``rollout.sweep``)."""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Session, col, select

from rollout.calendar import WorkingCalendar, local_day
from rollout.deadlines import DeadlinePolicy
from rollout.gc_pause import paused_gc
from rollout.models import Milestone, Organization, OutboxStatus, TaskSchedule, TrackedTask
from rollout.models.task import OPEN_STATES, OPEN_STATES_SQL, WAITING_SQL
from rollout.notifications.notices import StepNotices, enqueue_step_notices
from rollout.notifications.numbering import (
    NumberSequencer,
    NumberTicket,
    TurnTimeout,
    hold_numbering,
    start_numbering,
)
from rollout.notifications.recipients import Recipient, RecipientResolver
from rollout.sweep.decide import TaskOutcome, decide, decision_key

DEFAULT_BATCH_SIZE = 10_000
"""Due tasks per batch (one unit of work each). Each batch pays a fixed cost, mostly reading the
recipient registry (``RecipientResolver``, once per unit of work). Measured on PostgreSQL with
774,432 tasks, 36,555 due (bench/sweep.py, loaded 2-core machine): batches of 1,000 took 8.0 s
of CPU in the sweep's process, 10,000 2.0 s, 50,000 1.6 s; peak RSS 97 / 120 / 181 MiB."""


@dataclass
class SweepReport:
    """What one or more sweep batches did.

    ``created``: pending notice rows written; ``skipped``: rows recorded as skipped (missed
    steps); ``tasks``: tasks whose schedule the sweep advanced; ``waiting_for_holiday_data``:
    keys of tasks whose schedule reaches a year without holiday data; ``changed_concurrently``:
    tasks left alone because another transaction changed them after they were read;
    ``batches``: batches run.
    """

    created: int = 0
    skipped: int = 0
    tasks: int = 0
    waiting_for_holiday_data: list[str] = field(default_factory=list)
    changed_concurrently: int = 0
    batches: int = 0

    def add(self, other: SweepReport) -> None:
        """Fold a later batch's report into this one (counts add)."""
        self.created += other.created
        self.skipped += other.skipped
        self.tasks += other.tasks
        self.waiting_for_holiday_data += other.waiting_for_holiday_data
        self.changed_concurrently += other.changed_concurrently
        self.batches += other.batches

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


T = TrackedTask.__table__
"""The ``trackedtask`` table (Core): the sweep reads and writes plain rows, no ORM objects."""
S = TaskSchedule.__table__
"""The ``taskschedule`` table (Core): what the sweep advances."""
TASK_COLUMNS = (
    T.c.id, T.c.key, T.c.plan_id, T.c.milestone_id, T.c.org_code, T.c.domain_key,
    T.c.due_on, S.c.next_action_at, S.c.last_step_at, T.c.submitted_at, T.c.schedule_note,
)
"""What the sweep reads of a task and its schedule (Core columns of ``TASK_ROWS``)."""
TASK_ROWS = T.outerjoin(S, S.c.task_id == T.c.id)
"""Tasks with their schedules (a task without a schedule row reads as nothing scheduled)."""


class TaskRow(NamedTuple):
    """A task and its schedule as the sweep reads them: ``TASK_COLUMNS``, in that order (dates
    local days, ``_at`` aware UTC datetimes; a task without a schedule row has None for the
    schedule's three).

    A named tuple, not SQLAlchemy's ``Row``: the sweep reads a dozen fields of each due task,
    and a ``Row``'s attribute access cost 0.6 µs a field (0.4 s of the national day's 74,100
    tasks); a named tuple's is a C slot read."""

    id: int
    key: str
    plan_id: int
    milestone_id: int
    org_code: str
    domain_key: str | None
    due_on: date
    next_action_at: datetime | None
    last_step_at: datetime | None
    submitted_at: datetime | None
    schedule_note: str | None


def read_task_rows(session: Session, stmt: sa.Select) -> list[TaskRow]:
    """Run ``stmt`` (a select of ``TASK_COLUMNS``) and return its rows as ``TaskRow``s."""
    return list(map(TaskRow._make, session.execute(stmt).all()))  # .all(): one fetch, not one a row


_ID_CHUNK = 5000  # ids bound per ``IN (...)`` on SQLite (32,766 variables at most)


def owned_in_province(session: Session, province_code: str) -> sa.ColumnElement[bool]:
    """The condition "the task's owner has ``Organization.province_code`` ``province_code``" for
    ``due_queries``. PostgreSQL: the province's organization codes are read first and bound as
    one array, ``org_code = ANY(:codes)``, so the planner sees how many they are: it walks
    ``ix_trackedtask_org_milestone_state`` for one province of many and scans for a province
    that owns everything. With ``org_code IN (SELECT …)`` it hashed a scan of every task for
    any province (107 against 18-21 ms for one province of the 1,215,157 tasks, 31 of them per
    flow run; 256 against 335 ms for a province owning all); with ``ANY(ARRAY(SELECT …))`` it
    walked the index even for the province owning all (1.3 s). SQLite: ``IN (SELECT …)``."""
    org = Organization.__table__
    codes = sa.select(org.c.code).where(org.c.province_code == province_code)
    if session.get_bind().dialect.name != "postgresql":
        return T.c.org_code.in_(codes)
    values = session.execute(codes).scalars().all()
    return T.c.org_code == sa.any_(sa.bindparam("owners", values, type_=postgresql.ARRAY(sa.String)))


def due_queries(
    now: datetime, *, owned: sa.ColumnElement[bool] | None = None
) -> tuple[sa.Select, sa.Select]:
    """The two selects of ``due_ids`` (for ``EXPLAIN``), task ids only: schedules with
    ``next_action_at <= now``, served by the partial index ``ix_taskschedule_due`` (no state
    condition: a task that is not open has no next action, ``rollout.schedules``; one that still
    has one is dropped by ``select_tasks``), and open tasks waiting for holiday data
    (``ix_trackedtask_waiting``). ``owned``: a condition on the task (``owned_in_province``);
    None: every task.

    Neither has ``ORDER BY id LIMIT``: with one, the planner walks the primary key and filters,
    which reads the whole table when the due rows sit at its end (one milestone's tasks have
    neighbouring ids: 0.7 s for the first batch of 1,215,157 tasks, bench/run.py)."""
    where = [] if owned is None else [owned]
    due = sa.select(S.c.task_id).where(S.c.next_action_at <= now)
    if where:
        due = due.join(T, T.c.id == S.c.task_id).where(*where)
    return due, sa.select(T.c.id).where(sa.text(OPEN_STATES_SQL), sa.text(WAITING_SQL), *where)


def due_ids(session: Session, now: datetime, *, province_code: str | None = None) -> array:
    """Ids of the tasks to sweep at aware ``now`` (the two selects of ``due_queries``; only
    tasks owned in ``province_code``, e.g. ``"220000"``, when given), ascending, as an
    ``array('q')`` (8 bytes an id: the busiest day of 1,215,157 tasks, 87 % due, is 8.5 MB)."""
    owned = None if province_code is None else owned_in_province(session, province_code)
    due_q, waiting_q = due_queries(now, owned=owned)
    ids = {i for q in (due_q, waiting_q) for i in session.execute(q).scalars().all()}
    return array("q", sorted(ids))


def select_tasks(session: Session, ids: Sequence[int], now: datetime) -> list[TaskRow]:
    """The tasks of ``ids`` still to sweep at aware ``now`` (open, and due or waiting: a task
    submitted since ``due_ids`` read it drops out), in id order, as ``TaskRow``s (plain read,
    no lock). PostgreSQL binds the ids as one array; SQLite as ``IN`` lists of
    ``_ID_CHUNK``.

    A task of ``ids`` that is not open but still has a next action (closed by plain SQL, not
    through ``rollout.schedules``) gets its next action cleared here, so it leaves the index."""
    ids = sorted(ids)
    cond = sa.and_(sa.text(OPEN_STATES_SQL), sa.or_(S.c.next_action_at <= now, sa.and_(
        S.c.next_action_at.is_(None), T.c.schedule_note.is_not(None))))
    rows = [r for which in _id_chunks(session, T.c.id, ids)
            for r in read_task_rows(session, sa.select(*TASK_COLUMNS).select_from(TASK_ROWS)
                                    .where(which, cond))]
    if len(rows) < len(ids):  # some dropped out: clear the next action of closed ones
        closed = sa.select(T.c.id).where(T.c.state.not_in([s.value for s in OPEN_STATES]))
        for which in _id_chunks(session, S.c.task_id, ids):
            session.execute(sa.update(S).where(
                which, S.c.next_action_at.is_not(None), S.c.task_id.in_(closed.where(
                    T.c.id == S.c.task_id))).values(next_action_at=None))
    rows.sort()  # by id, the first field: ids are unique
    return rows


def _id_chunks(session: Session, column: sa.Column, ids: list[int]) -> list[sa.ColumnElement[bool]]:
    """``column`` among ``ids`` (ascending), as conditions to run one statement each: PostgreSQL
    one ``= ANY(:ids)`` (``_any_id``), SQLite ``IN`` lists of ``_ID_CHUNK``; none for no ids."""
    if not ids:
        return []
    if session.get_bind().dialect.name == "postgresql":
        return [_any_id(ids, column)]
    return [column.in_(ids[i : i + _ID_CHUNK]) for i in range(0, len(ids), _ID_CHUNK)]


def advance(session: Session, outcome: TaskOutcome, ids: Sequence[int] | None = None) -> list[int]:
    """The conditional UPDATE (see "Lost updates") of the schedules of the tasks ``ids``
    (default: the outcome's own task), which must share ``outcome.task``'s ``decision_key`` and
    be open and held by the caller (``lock_open``); returns the ids it matched, ascending. One
    statement of ``taskschedule`` (PostgreSQL: ``task_id = ANY(:ids)``; SQLite: ``IN`` lists of
    ``_ID_CHUNK``) with ``RETURNING task_id``; the tasks' ``schedule_note`` only when the
    outcome changes it (a task starts or stops waiting for holiday data: rare).

    A no-op outcome (nothing due, nothing moved) updates nothing and returns [].
    """
    t = outcome.task
    values: dict[str, Any] = {"next_action_at": outcome.next_at}
    if outcome.latest is not None:
        values |= {"last_step_key": outcome.latest.key, "last_step_at": outcome.latest.at}
    elif (outcome.next_at, outcome.note) == (t.next_action_at, t.schedule_note):
        return []
    ids = sorted(ids) if ids is not None else [t.id]
    read = S.c.next_action_at
    guard = read.is_(None) if t.next_action_at is None else read == t.next_action_at
    matched: list[int] = []
    for which in _id_chunks(session, S.c.task_id, ids):
        stmt = sa.update(S).where(which, guard).values(**values).returning(S.c.task_id)
        matched += session.execute(stmt).scalars().all()
    matched.sort()
    if outcome.note != t.schedule_note:
        for which in _id_chunks(session, T.c.id, matched):
            session.execute(sa.update(T).where(which).values(schedule_note=outcome.note))
    return matched


def _any_id(ids: Sequence[int], column: sa.Column = T.c.id) -> sa.ColumnElement[bool]:
    """PostgreSQL ``column = ANY(CAST(:ids AS INTEGER[]))``, the ids bound as one array literal
    ``'{1,2,…}'`` of unknown type, which the server reads as ``integer[]`` when it parses the
    statement: the planner sees a constant array (it hashes it, or walks the primary key).

    Not a Python list: psycopg dumps a list element by element in Python (15 ms a statement of
    10,000 ids, 0.3 s of the national day's three statements per batch). Not a ``VARCHAR``
    parameter cast to ``integer[]``: that cast stays in the plan as a function of the parameter,
    not folded into a constant, so a sequential scan would parse the whole list for every row."""
    literal = "{" + ",".join(map(str, ids)) + "}"
    param = sa.bindparam("ids", literal, type_=sa.types.NullType())
    return column == sa.any_(sa.cast(param, postgresql.ARRAY(sa.Integer)))


def lock_open(session: Session, ids: list[int]) -> set[int]:
    """The ones of ``ids`` (ascending) still open, their task rows held until the transaction
    ends. PostgreSQL: ``SELECT … ORDER BY id FOR NO KEY UPDATE`` (the lock an UPDATE of
    non-key columns takes), in id order, before the per-decision UPDATEs, which would otherwise
    lock in decision order: concurrent sweeps then take row locks in one order and cannot
    deadlock, and a task closed since it was read (its state re-read under the lock) is left
    out. Every other writer of a schedule holds its task row first (``rollout.schedules``).
    SQLite: ``ids`` as they are; the write transaction holds the database's write lock from its
    start, so they were read in it."""
    if session.get_bind().dialect.name != "postgresql":
        return set(ids)
    return set(session.execute(
        sa.select(T.c.id).where(_any_id(ids), sa.text(OPEN_STATES_SQL))
        .order_by(T.c.id).with_for_update(key_share=True)
    ).scalars().all())


def policies_of(session: Session, milestone_ids: set[int]) -> dict[int, DeadlinePolicy]:
    """Milestone id → its ``DeadlinePolicy`` (validated from ``Milestone.policy``)."""
    rows = session.exec(select(Milestone).where(col(Milestone.id).in_(sorted(milestone_ids))))
    return {m.id: DeadlinePolicy.model_validate(m.policy) for m in rows}  # type: ignore[misc]


def sweep_tasks(
    session: Session, tasks: list[TaskRow], now: datetime, calendar: WorkingCalendar,
    ticket: NumberTicket | None = None,
) -> SweepReport:
    """Sweep ``tasks`` (rows from ``select_tasks``, read earlier in this or another transaction)
    at ``now``: decide once per ``decision_key`` group, advance each group with one conditional
    UPDATE, then write the outbox rows of the tasks it matched, numbered lock first or, with
    the ``ticket`` of a ``sweep_all`` batch, predicted (``enqueue_step_notices``). Returns the
    counts (``batches`` 0, cursor not set)."""
    report = SweepReport()
    if not tasks:
        return report
    if ticket is None:
        hold_numbering(session)  # before any task row (rollout.notifications.numbering)
    policies = policies_of(session, {t.milestone_id for t in tasks})
    groups: dict[tuple, list[TaskRow]] = {}
    for task in tasks:
        groups.setdefault(decision_key(task), []).append(task)
    held = lock_open(session, sorted(t.id for t in tasks))
    sent: list[tuple[TaskOutcome, list[TaskRow]]] = []
    for members in groups.values():
        outcome = decide(members[0], policies[members[0].milestone_id], calendar, now)
        if outcome.missing_year is not None:
            report.waiting_for_holiday_data += [t.key for t in members]
        matched = advance(session, outcome, [t.id for t in members if t.id in held])
        report.tasks += len(matched)
        if outcome.latest is not None:
            report.changed_concurrently += len(members) - len(matched)
            if matched:
                hit = set(matched)
                sent.append((outcome, [t for t in members if t.id in hit]))
    if not sent:
        return report
    resolver = RecipientResolver(session, {t.org_code for _, members in sent for t in members})
    today = local_day(now)
    cache: dict[tuple[str, str | None, int], list[Recipient]] = {}

    def targets(members: list[TaskRow], levels_up: int) -> list[tuple[int, Recipient]]:
        out = []
        for task in members:
            key = (task.org_code, task.domain_key, levels_up)
            if key not in cache:
                cache[key] = resolver.resolve(task, levels_up, today)
            out += [(task.id, r) for r in cache[key]]
        return out

    notices: list[StepNotices] = []
    for outcome, members in sent:
        t = outcome.task
        members.sort(key=lambda m: m.id)
        for step in outcome.skipped:
            notices.append(StepNotices(t.plan_id, t.due_on, step, targets(members, step.levels_up),
                                       OutboxStatus.skipped))
        latest = outcome.latest
        assert latest is not None
        notices.append(StepNotices(t.plan_id, t.due_on, latest, targets(members, latest.levels_up)))
    written = enqueue_step_notices(session, notices, now, ticket)
    report.created, report.skipped = len(written.pending), len(written.skipped)
    return report


PG_WORKERS = 2
"""Batches swept at once on PostgreSQL (``sweep_all``). Measured on 1,215,157 tasks, 74,100 due
(2-core machine, three alternated rounds): 1 worker 3.51-3.92 s, 2 workers 2.45-2.68 s,
3 workers 2.59-2.80 s. The price is a second batch in memory (peak RSS 117 -> 145 MiB). With
predicted numbers (``rollout.notifications.numbering``; 2-core AMD EPYC, three alternated
rounds): 2 workers 1.78-1.93 s, 3 workers 1.74-1.87 s, no clear gain for a third batch."""

UnitOfWork = Callable[[], AbstractContextManager[Session]]
"""A factory of write transactions (``lambda: rollout.db.unit_of_work(engine)``)."""


def sweep_all(
    uow: UnitOfWork,
    now: datetime,
    calendar: WorkingCalendar,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    province_code: str | None = None,
    workers: int | None = None,
    numbering: NumberSequencer | None = None,
) -> SweepReport:
    """Sweep every task due at aware ``now`` (only those owned in province ``province_code``,
    e.g. ``"220000"``, when given): ``due_ids`` once, then ``batch_size`` ids at a time, in id
    order, each batch read again and swept in its own unit of work from ``uow`` (committed on
    its own, so a crash loses at most the batches in flight and a rerun picks up from the
    committed ones). Returns the summed report (``batches``: batches committed).

    ``workers``: batches at once, each on its own connection (threads; the database does the
    writing, so one batch's statements run while another's recipients are resolved in Python);
    None: ``PG_WORKERS`` on PostgreSQL, 1 on SQLite (whose write transactions hold the whole
    database: batches would only queue). Batches hold disjoint tasks: they never wait for each
    other's rows.

    Numbers (PostgreSQL, ``rollout.notifications.numbering``): the sweep holds the numbering
    lock in a guard transaction (its first unit of work from ``uow``, which also reads the due
    ids) until its last batch has ended, and its batches number by prediction: their INSERTs
    run at once, their commits go in batch order. Another sweep waits for the lock before it
    reads its due ids. ``numbering``: the sequencer of a caller that already holds the lock
    (the flow's province sweeps share one: ``start_numbering``); the sweep then takes no lock
    of its own. SQLite: each batch numbers lock first under the database's write lock.

    If a batch fails, the batches not started are cancelled, the ones running finish (a batch
    after the failed one renumbers down), and the error of the earliest failed batch is raised
    (in batch order, not time). A batch that waited too
    long for the one before it (``TurnTimeout``: most likely a calendar reload or a sign-off
    holds a row of the batch before and waits for one of this batch's) rolls back instead, and
    once the batches in flight have ended, those not committed are swept one at a time.

    Python's cyclic garbage collector is paused for the sweep (``rollout.gc_pause``); each batch
    ends with a collection of what it made, so memory stays that of the batches in flight.

    Raises ``ValueError`` on a naive ``now``, a ``batch_size`` or ``workers`` < 1.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be an aware datetime, got {now!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    with paused_gc():  # the whole sweep; each batch ends with a young collection
        return _sweep_batches(uow, now, calendar, batch_size, province_code, workers, numbering)


def _sweep_batches(uow: UnitOfWork, now: datetime, calendar: WorkingCalendar, batch_size: int,
                   province_code: str | None, workers: int | None,
                   numbering: NumberSequencer | None) -> SweepReport:
    """``sweep_all`` once its arguments are checked and the collector paused."""
    with ExitStack() as guard:
        session = guard.enter_context(uow())
        pg = session.get_bind().dialect.name == "postgresql"
        sequencer = numbering or start_numbering(session)  # held until the guard's commit
        ids = due_ids(session, now, province_code=province_code)
        if numbering is not None or not pg:
            guard.close()  # no lock of its own to hold; SQLite: its write lock holds the database
        workers = workers or (PG_WORKERS if pg else 1)
        batches = [ids[i : i + batch_size] for i in range(0, len(ids), batch_size)]
        return _run_batches(uow, now, calendar, batches, workers, sequencer)


TURN_ATTEMPTS = 3
"""How often a batch is swept again alone after it gave up its turn (``TurnTimeout``) before
the error is raised: with a number plan shared by a flow run's provinces, "alone" still queues
behind the other provinces' batches."""


def _run_batches(uow: UnitOfWork, now: datetime, calendar: WorkingCalendar,
                 batches: list[Sequence[int]], workers: int,
                 sequencer: NumberSequencer | None) -> SweepReport:
    """Sweep ``batches`` in order, ``workers`` at once, each in its own unit of work (numbered
    through a ticket of ``sequencer`` when given); returns the summed report of the batches
    committed. The error of the earliest failed batch is raised; a batch that gave up its turn
    (``TurnTimeout``) is swept again alone, once the batches in flight have ended, up to
    ``TURN_ATTEMPTS`` times."""
    committed: dict[int, SweepReport] = {}

    def one(index: int) -> None:
        ticket = sequencer.ticket() if sequencer is not None else None
        try:
            with paused_gc(), uow() as session:  # a third of a batch's Python time: gc_pause
                report = sweep_tasks(session, select_tasks(session, batches[index], now), now,
                                     calendar, ticket)
        except BaseException:
            if ticket is not None:
                ticket.end(committed=False)
            raise
        if ticket is not None:
            ticket.end(committed=True)
        report.batches = 1
        committed[index] = report

    def alone(index: int) -> None:
        for attempt in range(1, TURN_ATTEMPTS + 1):
            try:
                one(index)
                return
            except TurnTimeout:
                if attempt == TURN_ATTEMPTS:
                    raise

    if workers == 1 or len(batches) < 2:
        for index in range(len(batches)):
            alone(index)
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sweep") as pool:
            futures = [pool.submit(one, index) for index in range(len(batches))]
            wait(futures, return_when=FIRST_EXCEPTION)
            if any(f.done() and f.exception() is not None for f in futures):
                pool.shutdown(wait=True, cancel_futures=True)
        errors = [f.exception() for f in futures if not f.cancelled() and f.exception()]
        real = [e for e in errors if not isinstance(e, TurnTimeout)]
        if real:
            raise real[0]
        for index in range(len(batches)):  # turns given up, and the batches never started
            if index not in committed:
                alone(index)
    total = SweepReport()
    for index in sorted(committed):
        total.add(committed[index])
    return total
