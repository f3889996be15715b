"""Concurrency of the sweep: two sweeps at once, the lost update, SQLite's write lock.

Real concurrency: separate connections in separate threads against the real databases. The
interleavings that matter are forced with barriers/events, not with sleeps.
"""

from __future__ import annotations

import itertools
import threading
import time
from datetime import datetime

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from rollout import db
from rollout.calendar import TZ
from rollout.models import OutboxMessage, TaskSchedule, TaskState, TrackedTask
from rollout.notifications import numbering
from rollout.plans.fanout import instantiate_plan
from rollout.plans.schema import BUNDLED_PLAN
from rollout.sweep import SweepReport, due_ids, select_tasks, sweep_tasks
from rollout.sweep import sweep_all as _sweep_all
from rollout.workflow import Action, Actor, Role, transition
from tests.conftest import LOADED_AT
from tests.sweep.conftest import sweep_all

JUNE_16 = datetime(2020, 6, 16, 9, 0, tzinfo=TZ)
SUBMIT_AT = datetime(2020, 6, 16, 9, 0, 1, tzinfo=TZ)


def _load(url: str, calendar) -> sa.Engine:
    engine = db.get_engine(url)
    with db.unit_of_work(engine) as s:
        instantiate_plan(s, BUNDLED_PLAN, now=LOADED_AT, calendar=calendar)
    return engine


def _outbox(engine) -> list[OutboxMessage]:
    with Session(engine) as s:
        return list(s.exec(select(OutboxMessage)))


def _seen(conn, count_sql: str) -> int:
    """A count from the statistics views, each read in its own transaction (a transaction keeps
    its first snapshot of them)."""
    try:
        return conn.execute(sa.text(count_sql)).scalar()
    finally:
        conn.rollback()


def _run_threads(*targets) -> None:
    errors: list[BaseException] = []

    def wrap(fn):
        def run():
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - surfaced below
                errors.append(exc)
        return run

    threads = [threading.Thread(target=wrap(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_two_sweeps_that_read_the_same_tasks_write_each_row_once_pg(pg_url, calendar):
    engine = _load(pg_url, calendar)
    both_read = threading.Barrier(2)
    reports: list[SweepReport] = []

    def one_sweep():
        with db.unit_of_work(engine) as s:
            tasks = select_tasks(s, due_ids(s, JUNE_16), JUNE_16)
            assert len(tasks) == 1623
            both_read.wait()  # both have read every due task as open before either writes
            reports.append(sweep_tasks(s, tasks, JUNE_16, calendar))

    _run_threads(one_sweep, one_sweep)
    assert sorted(r.created for r in reports) == [0, 1623]
    assert sorted(r.changed_concurrently for r in reports) == [0, 1623]
    rows = _outbox(engine)
    assert len(rows) == 1623 + 745
    pending = [r for r in rows if r.status.value == "pending"]
    assert len({r.notice_number for r in pending}) == 1623


def test_two_full_sweeps_at_once_pg(pg_url, calendar):
    engine = _load(pg_url, calendar)
    start = threading.Barrier(2)
    reports: list[SweepReport] = []

    def one_sweep():
        start.wait()
        reports.append(sweep_all(engine, JUNE_16, calendar, batch_size=200))

    _run_threads(one_sweep, one_sweep)
    assert sum(r.created for r in reports) == 1623
    assert sum(r.skipped for r in reports) == 745
    rows = _outbox(engine)
    assert len(rows) == 1623 + 745
    for prefix in ("催办", "督办"):  # gap-free and unique per prefix: 〔2020〕0001号 ...
        numbers = sorted(int(r.notice_number[8:12]) for r in rows if r.notice_number
                         and r.notice_number.startswith(prefix))
        assert numbers == list(range(1, len(numbers) + 1))
    assert sum(1 for r in rows if r.notice_number) == 1623


def test_lost_update_a_task_submitted_after_the_sweep_read_it_gets_nothing_pg(pg_url, calendar):
    engine = _load(pg_url, calendar)
    with Session(engine) as s:
        target = s.exec(select(TrackedTask).where(TrackedTask.key == "catalog:220102:fiscal_budget")).one()
    with db.unit_of_work(engine) as sweep_session:
        tasks = select_tasks(sweep_session, due_ids(sweep_session, JUNE_16), JUNE_16)
        assert target.id in {t.id for t in tasks}  # read as open
        # meanwhile the unit submits the task on another connection and commits
        with db.unit_of_work(engine) as api:
            transition(api, target.id, Action.submit, Actor("220102", Role.county, "李四"),
                       now=SUBMIT_AT, calendar=calendar, note="https://example.org/gk/1")
        report = sweep_tasks(sweep_session, tasks, JUNE_16, calendar)
    assert report.changed_concurrently == 1
    assert report.created == 1622
    with Session(engine) as s:
        t = s.get(TrackedTask, target.id)
        sched = s.get(TaskSchedule, target.id)
        assert t.state == TaskState.submitted and sched.next_action_at is None
        assert sched.last_step_key is None
        sent = s.exec(select(OutboxMessage).where(OutboxMessage.task_id == target.id)).all()
        assert sent == []


def test_sqlite_sweep_holding_the_write_lock_and_an_api_write_both_land(sqlite_url, calendar):
    engine = _load(sqlite_url, calendar)
    with Session(engine) as s:
        other = s.exec(select(TrackedTask).where(TrackedTask.key == "upload:220102:fiscal_budget")).one()
        assert s.get(TaskSchedule, other.id).next_action_at > JUNE_16  # not part of this sweep
    sweep_has_read = threading.Event()
    api_starting = threading.Event()
    reports: list[SweepReport] = []

    def sweeper():
        with db.unit_of_work(engine) as s:  # BEGIN IMMEDIATE: holds the write lock from here
            tasks = select_tasks(s, due_ids(s, JUNE_16), JUNE_16)
            sweep_has_read.set()
            api_starting.wait()
            reports.append(sweep_tasks(s, tasks, JUNE_16, calendar))

    def api():
        sweep_has_read.wait()
        api_starting.set()
        # waits for the sweep's commit (busy timeout) instead of failing with "database is locked"
        with db.unit_of_work(engine) as s:
            transition(s, other.id, Action.start, Actor("220102", Role.county, "王五"),
                       now=SUBMIT_AT, calendar=calendar)

    _run_threads(sweeper, api)
    assert reports[0].created == 1623
    with Session(engine) as s:
        assert s.get(TrackedTask, other.id).state == TaskState.in_progress
        n = s.exec(select(sa.func.count()).select_from(OutboxMessage)).one()
        assert n == 1623 + 745
        assert not s.exec(select(OutboxMessage).where(col(OutboxMessage.task_id) == other.id)).all()


def test_batches_swept_on_two_connections_at_once_number_in_id_order_pg(pg_url, calendar):
    engine = _load(pg_url, calendar)
    threads: set[str] = set()

    def seen(conn):
        threads.add(threading.current_thread().name)

    sa.event.listen(engine, "begin", seen)
    try:
        report = _sweep_all(lambda: db.unit_of_work(engine), JUNE_16, calendar, batch_size=100,
                            workers=2)
    finally:
        sa.event.remove(engine, "begin", seen)
    # the 1,623 due tasks of test_sweep.py in ceil(1623 / 100) = 17 batches, on two threads
    assert (report.created, report.skipped, report.batches) == (1623, 745, 17)
    assert len({name for name in threads if name.startswith("sweep")}) == 2
    rows = sorted(_outbox(engine), key=lambda r: r.id)
    assert len(rows) == 1623 + 745
    for prefix in ("催办", "督办"):  # gap-free, and ascending in id order: batches took turns
        numbers = [int(r.notice_number[8:12]) for r in rows
                   if r.notice_number and r.notice_number.startswith(prefix)]
        assert numbers == list(range(1, len(numbers) + 1))


def test_a_failing_batch_cancels_the_batches_not_started_and_raises_pg(pg_url, calendar):
    engine = _load(pg_url, calendar)
    calls = itertools.count()

    def uow():
        if next(calls) == 3:  # the first call reads the due ids; this is the third batch
            raise RuntimeError("连接中断")
        return db.unit_of_work(engine)

    with pytest.raises(RuntimeError, match="连接中断"):
        _sweep_all(uow, JUNE_16, calendar, batch_size=100, workers=2)
    assert next(calls) < 1 + 17  # not every batch was started
    rows = _outbox(engine)
    with Session(engine) as s:  # what was written is whole: each row's task was advanced
        for r in rows:
            assert s.get(TaskSchedule, r.task_id).last_step_key is not None
    pending = [r.notice_number for r in rows if r.notice_number]
    assert 0 < len(pending) < 1623 and len(set(pending)) == len(pending)
    for prefix in ("催办", "督办"):  # the batches after the failed one rolled back: no gap
        numbers = [int(r.notice_number[8:12]) for r in sorted(rows, key=lambda r: r.id)
                   if r.notice_number and r.notice_number.startswith(prefix)]
        assert numbers == list(range(1, len(numbers) + 1))


def test_a_writer_holding_a_row_of_one_batch_and_waiting_for_one_of_the_next_does_not_hang_pg(
        pg_url, calendar, monkeypatch):
    # a calendar reload locks tasks in id order in one transaction; a sweep's batch waits for
    # the batch before it in Python, where the database's deadlock detector cannot see it
    monkeypatch.setattr(numbering, "TURN_TIMEOUT_S", 1.0)
    engine = _load(pg_url, calendar)
    with Session(engine) as s:
        ids = list(due_ids(s, JUNE_16))
    first, later = ids[0], ids[150]  # in the first batch of 100, and in the second

    def lock(conn, task_id: int, nowait: bool = False) -> None:
        conn.execute(sa.select(TrackedTask.__table__.c.id).where(
            TrackedTask.__table__.c.id == task_id).with_for_update(key_share=True, nowait=nowait))

    reports: list[SweepReport] = []
    sweeper = threading.Thread(target=lambda: reports.append(
        _sweep_all(lambda: db.unit_of_work(engine), JUNE_16, calendar, batch_size=100,
                   workers=2)))
    with engine.connect() as writer:
        writer.execute(sa.text("SET lock_timeout = '20s'"))  # without the fix: an error, not a hang
        lock(writer, first)  # the first batch will wait for this row
        sweeper.start()
        with engine.connect() as probe:  # until the second batch holds its rows
            for _ in range(400):
                try:
                    with probe.begin():
                        lock(probe, later, nowait=True)
                except sa.exc.OperationalError:
                    break
                time.sleep(0.05)
            else:
                pytest.fail("the second batch never held its rows")
        lock(writer, later)  # the second batch gives up its turn and lets go of it
        writer.commit()
    sweeper.join(60)
    assert not sweeper.is_alive()
    assert (reports[0].tasks, reports[0].created, reports[0].skipped) == (1623, 1623, 745)
    rows = sorted(_outbox(engine), key=lambda r: r.id)
    for prefix in ("催办", "督办"):
        numbers = [int(r.notice_number[8:12]) for r in rows
                   if r.notice_number and r.notice_number.startswith(prefix)]
        assert numbers == list(range(1, len(numbers) + 1))


def test_a_lone_batch_waits_for_a_running_sweep_before_it_holds_any_task_pg(pg_url, calendar):
    # the lone batch (sweep_tasks without a ticket) takes the numbering lock before its rows:
    # holding rows while it waited would stall the sweep's batches on them, and the sweep,
    # holding the lock until its batches end, would never let it go
    engine = _load(pg_url, calendar)
    def lock_timeout(dbapi, _record) -> None:  # without the fix: an error, not a hang
        dbapi.execute("SET lock_timeout = '20s'")
        dbapi.commit()

    sa.event.listen(engine, "connect", lock_timeout)
    go = threading.Event()
    calls = itertools.count()

    def uow():
        if next(calls) == 1:  # the guard (call 0) holds the lock; the first batch waits for go
            assert go.wait(30)
        return db.unit_of_work(engine)

    reports: dict[str, SweepReport] = {}
    sweeper = threading.Thread(target=lambda: reports.setdefault(
        "sweep", _sweep_all(uow, JUNE_16, calendar, batch_size=500, workers=2)), daemon=True)

    def lone() -> None:
        with db.unit_of_work(engine) as s:
            tasks = select_tasks(s, due_ids(s, JUNE_16), JUNE_16)
            reports["lone"] = sweep_tasks(s, tasks, JUNE_16, calendar)

    loner = threading.Thread(target=lone, daemon=True)
    sweeper.start()
    with engine.connect() as c:
        for _ in range(300):  # the sweep's guard holds the lock
            if _seen(c, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"):
                break
            time.sleep(0.05)
        loner.start()
        for _ in range(300):  # the lone batch waits for it
            if _seen(c, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'advisory' "
                        "AND datname = current_database()"):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the lone batch never waited for the numbering lock")
    go.set()
    sweeper.join(60)
    loner.join(60)
    assert not sweeper.is_alive() and not loner.is_alive()
    assert "sweep" in reports, "a batch of the sweep timed out on rows the lone batch held"
    assert reports["sweep"].created == 1623
    assert (reports["lone"].created, reports["lone"].changed_concurrently) == (0, 1623)
