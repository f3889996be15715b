"""The embedded scheduler (issue 3, item 6, and its cases from the field): one run per slot across
processes, misfire grace in job_defaults, catch-up after downtime, never started twice.

Times are worked out by hand: the sweep fires daily at 09:00 Asia/Shanghai, so at 10:30 on
2020-04-17 its latest slot is 2020-04-17 09:00, and at 08:30 it is 2020-04-16 09:00.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from apscheduler.events import EVENT_JOB_MISSED
from apscheduler.schedulers.background import BackgroundScheduler

from rollout import db, leases, scheduling
from rollout.errors import RolloutError
from rollout.jobs import JOBS, JobSpec
from rollout.models import JobLease, OutboxMessage, OutboxStatus

TZ = ZoneInfo("Asia/Shanghai")
REPO = Path(__file__).resolve().parents[1]
SWEEP = JOBS["sweep"]


def at(day: int, hour: int, minute: int = 0, second: int = 0, month: int = 4) -> datetime:
    return datetime(2020, month, day, hour, minute, second, tzinfo=TZ)


class Recorder:
    """A job that records each call's (slot_at, now) and signals it."""

    def __init__(self) -> None:
        self.calls: list[tuple[datetime, datetime]] = []
        self.called = threading.Event()

    def __call__(self, now: datetime, slot_at: datetime) -> None:
        self.calls.append((slot_at, now))
        self.called.set()


@pytest.fixture
def stopped():
    """Makes sure no test leaves this process's scheduler running."""
    yield
    scheduling.stop_scheduler()


def wait_catch_up(scheduler: BackgroundScheduler, name: str) -> None:
    """Wait until the catch-up job was handed to the executor, then stop (which waits for it)."""
    deadline = time.monotonic() + 5
    while scheduler.get_job(f"{name}-catch-up") is not None:
        assert time.monotonic() < deadline, "catch-up job never ran"
        time.sleep(0.02)
    scheduling.stop_scheduler(wait=True)


def lease_row(url: str, name: str) -> JobLease | None:
    with db.read_session(db.get_engine(url)) as session:
        return session.get(JobLease, name)


def test_latest_slot_of_the_daily_sweep_and_the_minute_dispatch() -> None:
    sweep = scheduling.trigger_for(SWEEP)
    assert scheduling.latest_slot(sweep, at(17, 10, 30)) == at(17, 9)
    assert scheduling.latest_slot(sweep, at(17, 9, 0)) == at(17, 9)
    assert scheduling.latest_slot(sweep, at(17, 8, 30)) == at(16, 9)
    dispatch = scheduling.trigger_for(JOBS["dispatch"])
    assert scheduling.latest_slot(dispatch, at(17, 9, 0, 30)) == at(17, 9, 0)


def test_numeric_day_of_week_is_refused() -> None:
    # APScheduler 3 counts 0 as Monday, cron and Prefect as Sunday.
    spec = JobSpec("x", "x", "0 9 * * 1-5", "m.f", lease_seconds=60, catch_up=False)
    with pytest.raises(ValueError, match="mon-fri"):
        scheduling.trigger_for(spec)


def test_lease_gives_each_slot_to_one_holder(db_url: str) -> None:
    engine = db.get_engine(db_url)
    acquire, release = leases.acquire_lease, leases.release_lease
    assert acquire(engine, "sweep", "A", at(17, 9), at(17, 9), 1800)
    assert not acquire(engine, "sweep", "B", at(17, 9), at(17, 9, 0, 1), 1800)  # held by A
    assert release(engine, "sweep", "A", at(17, 9))
    assert not acquire(engine, "sweep", "B", at(17, 9), at(17, 9, 0, 30), 1800)  # slot done
    assert lease_row(db_url, "sweep").last_run_at == at(17, 9)
    # A holder that dies keeps the job until its lease runs out (1800 s), then B may take it.
    assert acquire(engine, "sweep", "A", at(18, 9), at(18, 9), 1800)
    assert not acquire(engine, "sweep", "B", at(18, 9), at(18, 9, 29, 59), 1800)
    assert acquire(engine, "sweep", "B", at(18, 9), at(18, 9, 30, 1), 1800)
    assert not release(engine, "sweep", "A", at(18, 9))  # A's late release writes nothing
    assert lease_row(db_url, "sweep").last_run_at == at(17, 9)


def test_failed_run_leaves_the_slot_open(sqlite_url: str) -> None:
    def boom(now: datetime) -> None:
        raise RuntimeError("SMTP down")

    runner = scheduling.JobRunner(sqlite_url, SWEEP, boom, "A", clock=lambda: at(17, 9))
    with pytest.raises(RuntimeError):
        runner.run()
    row = lease_row(sqlite_url, "sweep")
    assert row.last_run_at is None and row.lease_until is None
    ok = Recorder()
    assert scheduling.JobRunner(sqlite_url, SWEEP, ok, "B", clock=lambda: at(17, 9, 1)).run()
    assert ok.calls == [(at(17, 9), at(17, 9, 1))]


def test_job_reached_5_s_late_still_runs(sqlite_url: str) -> None:
    """misfire_grace_time counts in job_defaults; as a top-level argument APScheduler 3 ignores
    it and drops a job reached 5 s late as missed (its default grace is 1 s)."""
    late = datetime.now(TZ) - timedelta(seconds=5)

    naive = BackgroundScheduler(timezone=TZ, misfire_grace_time=600)
    missed = threading.Event()
    naive.add_listener(lambda _e: missed.set(), EVENT_JOB_MISSED)
    naive.add_job(Recorder(), "date", run_date=late, kwargs={"now": late, "slot_at": late})
    naive.start()
    try:
        assert missed.wait(2), "the top-level misfire_grace_time was expected to be ignored"
    finally:
        naive.shutdown()

    job = Recorder()  # 09:00 job, reached at 09:00:05
    runner = scheduling.JobRunner(sqlite_url, SWEEP, job, "A", clock=lambda: at(17, 9, 0, 5))
    ours = scheduling.build_scheduler()
    ours.add_job(runner.run, "date", run_date=late)
    ours.start()
    try:
        assert job.called.wait(2)
    finally:
        ours.shutdown()
    assert job.calls == [(at(17, 9), at(17, 9, 0, 5))]
    assert lease_row(sqlite_url, "sweep").last_run_at == at(17, 9)


def test_started_jobs_coalesce_with_grace_and_one_instance(sqlite_url: str, stopped) -> None:
    quiet = JobSpec("sweep", "s", "0 9 * * *", "m.f", lease_seconds=60, catch_up=False)
    scheduler = scheduling.start_scheduler(sqlite_url, jobs=[(quiet, Recorder())])
    job = scheduler.get_job("sweep")
    assert (job.coalesce, job.misfire_grace_time, job.max_instances) == (True, 600, 1)
    assert job.next_run_time.hour == 9 and job.next_run_time.utcoffset() == timedelta(hours=8)


def test_never_twice_in_one_process(sqlite_url: str, stopped) -> None:
    quiet = JobSpec("sweep", "s", "0 9 * * *", "m.f", lease_seconds=60, catch_up=False)
    scheduling.start_scheduler(sqlite_url, jobs=[(quiet, Recorder())])
    with pytest.raises(RolloutError, match="重复启动"):
        scheduling.start_scheduler(sqlite_url, jobs=[(quiet, Recorder())])
    scheduling.stop_scheduler()
    scheduling.start_scheduler(sqlite_url, jobs=[(quiet, Recorder())])  # again after a stop


def test_down_0800_to_1030_runs_the_0900_sweep_once_at_1030(db_url: str, stopped) -> None:
    engine = db.get_engine(db_url)
    with db.unit_of_work(engine) as session:  # the last sweep before the outage: 04-16 09:00
        session.add(JobLease(name="sweep", last_run_at=at(16, 9)))
    job = Recorder()
    wait_catch_up(
        scheduling.start_scheduler(db_url, jobs={SWEEP: job}, now=at(17, 10, 30)), "sweep"
    )
    assert job.calls == [(at(17, 9), at(17, 10, 30))]
    wait_catch_up(
        scheduling.start_scheduler(db_url, jobs={SWEEP: job}, now=at(17, 10, 31)), "sweep"
    )
    assert len(job.calls) == 1  # not twice
    assert lease_row(db_url, "sweep").last_run_at == at(17, 9)


def test_down_0700_to_0830_runs_nothing_at_start(sqlite_url: str, stopped) -> None:
    with db.unit_of_work(db.get_engine(sqlite_url)) as session:
        session.add(JobLease(name="sweep", last_run_at=at(16, 9)))
    job = Recorder()
    wait_catch_up(
        scheduling.start_scheduler(sqlite_url, jobs={SWEEP: job}, now=at(17, 8, 30)), "sweep"
    )
    assert job.calls == []  # 04-17 09:00 is still ahead; the cron trigger will fire it


def test_restart_at_090030_runs_nothing_more(db_url: str, stopped) -> None:
    """Process A ran the 2020-04-17 09:00 slot; B restarts at 09:00:30 and runs nothing."""
    job = Recorder()
    assert scheduling.JobRunner(db_url, SWEEP, job, "A", clock=lambda: at(17, 9)).run()
    wait_catch_up(
        scheduling.start_scheduler(db_url, jobs={SWEEP: job}, now=at(17, 9, 0, 30)), "sweep"
    )
    assert job.calls == [(at(17, 9), at(17, 9))]


def test_catch_up_running_across_0900_also_serves_0900(sqlite_url: str) -> None:
    """Down since 04-16 08:00, back at 04-17 08:59:59.9: the catch-up of 04-16 09:00 still holds
    the lease at 09:00, so every 09:00 firing skips; the holder serves 04-17 09:00 right after."""
    with db.unit_of_work(db.get_engine(sqlite_url)) as session:
        session.add(JobLease(name="sweep", last_run_at=at(15, 9)))
    calls: list[datetime] = []

    def slow(slot_at: datetime) -> None:
        calls.append(slot_at)
        time.sleep(0.2)

    start = at(17, 8, 59, 59) + timedelta(microseconds=900_000)
    assert scheduling.JobRunner(sqlite_url, SWEEP, slow, "A", clock=lambda: start).run()
    assert calls == [at(16, 9), at(17, 9)]
    assert lease_row(sqlite_url, "sweep").last_run_at == at(17, 9)


PROCESS = """
import sys, time, os
import sqlalchemy as sa
from rollout import db, scheduling
from rollout.jobs import JobSpec
spec = JobSpec("tick", "tick", "* * * * *", "tests.tick", lease_seconds=30, catch_up=True,
               second="*/2")
def tick(slot_at, database_url):
    with db.unit_of_work(db.get_engine(database_url)) as session:
        session.connection().execute(sa.text("INSERT INTO tick (slot_at, pid) VALUES (:s, :p)"),
                                     {"s": slot_at.isoformat(), "p": os.getpid()})
    time.sleep(0.3)
scheduling.start_scheduler(sys.argv[1], jobs=[(spec, tick)])
print("ready", flush=True)
sys.stdin.read()  # run until the test closes stdin
scheduling.stop_scheduler()
"""


def test_three_processes_run_each_slot_once(db_url: str) -> None:
    """Three processes (as uvicorn --workers 3) each start the scheduler on one database, with a
    job firing every 2 s that inserts one row per run: every slot has exactly one row, and no
    slot between the first and the last is lost."""
    with db.unit_of_work(db.get_engine(db_url)) as session:
        session.connection().execute(sa.text("CREATE TABLE tick (slot_at VARCHAR(40), pid INT)"))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", PROCESS, db_url],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    try:
        assert [p.stdout.readline().strip() for p in procs] == ["ready"] * 3
        time.sleep(5)  # all three running: at least two 2-second slots
    finally:
        for p in procs:
            p.stdin.close()
    assert [p.wait(timeout=30) for p in procs] == [0, 0, 0]
    with db.get_engine(db_url).connect() as conn:
        rows = conn.execute(sa.text("SELECT slot_at, count(*) FROM tick GROUP BY slot_at")).all()
    counts = {datetime.fromisoformat(slot): n for slot, n in rows}
    assert len(counts) >= 3  # the first start's catch-up, then at least two slots
    assert set(counts.values()) == {1}
    slots = sorted(counts)
    gaps = [(b - a).total_seconds() for a, b in zip(slots, slots[1:], strict=False)]
    assert gaps == [2.0] * (len(slots) - 1)


def test_importing_starts_nothing() -> None:
    code = (
        "import threading, sys; import rollout.cli, rollout.scheduling as s;"
        "assert s._running is None;"
        "assert not [t for t in threading.enumerate() if 'APScheduler' in t.name];"
        "import rollout.jobs; print('ok')"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr


def test_jobs_module_is_a_leaf() -> None:
    code = (
        "import sys, rollout.jobs;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('prefect', 'apscheduler', 'sqlalchemy', 'sqlmodel')))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr


def test_two_processes_at_0900_sweep_the_plan_once(jilin, db_url: str, prefect_harness) -> None:
    """The real sweep flow, wired by its dotted entrypoint, run by two processes' runners: A at
    2020-04-17 09:00, B (restarted) at 09:00:30. The 26 work plans (one per domain, due 04-17)
    each get exactly one due-day reminder; B adds nothing."""
    job = scheduling.lazy_job(SWEEP.entrypoint)
    first = scheduling.JobRunner(db_url, SWEEP, job, "A", clock=lambda: at(17, 9))
    assert first.run()
    second = scheduling.JobRunner(db_url, SWEEP, job, "B", clock=lambda: at(17, 9, 0, 30))
    assert not second.run()
    with db.read_session(jilin) as session:
        rows = session.exec(
            sa.select(OutboxMessage.task_id, OutboxMessage.status).where(
                OutboxMessage.step_key == "reminder-0", OutboxMessage.due_on == at(17, 0).date()
            )
        ).all()
        total = session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage))
    assert len(rows) == 26 and len({task for task, _ in rows}) == 26
    assert {status for _, status in rows} == {OutboxStatus.pending}
    assert scheduling.JobRunner(db_url, SWEEP, job, "C", clock=lambda: at(17, 9, 1)).run() is False
    with db.read_session(jilin) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == total
