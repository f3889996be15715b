"""The ``sweep`` job lease around the sweep flow (``rollout.flows.deadlines``, ``rollout.leases``):
a Prefect-run sweep holds it through every batch of every province and releases it at the end
(also on failure); under the embedded scheduler the runner's lease covers the run; a second
sweep waits for the first; a crashed holder's lease is taken once it runs out.

The lease is watched from inside the sweep: at every commit of the flow's engine (SQLAlchemy's
``commit`` event, fired just before the database commits a batch) a second, separate connection
reads the lease row and the outbox rows already committed. The Jilin plan swept at 2020-04-13
09:00 writes 78 outbox rows on 52 tasks (``tests/flows/test_deadlines.py``), so an observation
with 0 < rows < 78 was made between two batches of the sweep.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from rollout import db, leases, scheduling
from rollout.calendar import TZ
from rollout.errors import RolloutError
from rollout.jobs import JOBS
from rollout.models import JobLease, OutboxMessage
from tests.flows.test_deadlines import _block_updates_of, _move_housing_to_another_province

AS_OF = "2020-04-13T09:00+08:00"
AS_OF_AT = datetime(2020, 4, 13, 9, 0, tzinfo=TZ)
ROWS = 78  # 52 pending + 26 skipped
SWEEP = JOBS["sweep"]
LEASE = timedelta(seconds=SWEEP.lease_seconds)  # 1800 s


@dataclass(frozen=True)
class Seen:
    """The lease row and the committed outbox rows, as a second connection saw them."""

    holder: str | None
    lease_until: datetime | None
    rows: int


@contextmanager
def watch_lease(db_url: str) -> Iterator[list[Seen]]:
    """Observations at every commit of ``db.get_engine(db_url)`` while the block runs."""
    engine = db.get_engine(db_url)
    other = sa.create_engine(db.normalize_url(db_url), poolclass=NullPool)
    seen: list[Seen] = []
    lease, outbox = JobLease.__table__, OutboxMessage.__table__

    def on_commit(_conn: sa.Connection) -> None:
        with other.connect() as conn:
            row = conn.execute(sa.select(lease.c.holder, lease.c.lease_until)
                               .where(lease.c.name == "sweep")).first()
            rows = conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar_one()
        seen.append(Seen(row.holder if row else None, row.lease_until if row else None, rows))

    sa.event.listen(engine, "commit", on_commit)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "commit", on_commit)
        other.dispose()


def mid_sweep(seen: list[Seen]) -> list[Seen]:
    """The observations made between two batches of the sweep."""
    return [s for s in seen if 0 < s.rows < ROWS]


def lease_row(db_url: str) -> JobLease | None:
    with db.read_session(db.get_engine(db_url)) as session:
        return session.get(JobLease, "sweep")


def outbox_rows(db_url: str) -> int:
    with db.read_session(db.get_engine(db_url)) as session:
        return session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage))


def set_lease(db_url: str, holder: str | None, lease_until: datetime | None) -> None:
    with db.unit_of_work(db.get_engine(db_url)) as session:
        lease = session.get(JobLease, "sweep") or JobLease(name="sweep")
        lease.holder, lease.lease_until = holder, lease_until
        session.add(lease)


class InThread:
    """Runs ``func(**kwargs)`` in a daemon thread; ``result``/``error`` once it ends."""

    def __init__(self, func: Callable[..., object], **kwargs: object) -> None:
        self.result: object = None
        self.error: BaseException | None = None

        def target() -> None:
            try:
                self.result = func(**kwargs)
            except BaseException as exc:  # noqa: BLE001 - handed to the test
                self.error = exc

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()

    def join(self, timeout: float) -> object:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"still running after {timeout} s"
        if self.error is not None:
            raise self.error
        return self.result


def test_a_prefect_run_holds_the_lease_through_every_batch(prefect_harness, jilin, db_url):
    from rollout.flows.deadlines import sweep_deadlines

    with watch_lease(db_url) as seen:
        state = sweep_deadlines(as_of=AS_OF, database_url=db_url, batch_size=20,
                                return_state=True)
    result = state.result()
    assert (result["created"], result["skipped"], result["batches"]) == (52, 26, 3)
    holder = f"flow-run:{state.state_details.flow_run_id}"
    between = mid_sweep(seen)
    assert len(between) >= 2  # before the commits of batches 2 and 3 (52 tasks in 20, 20, 12)
    assert {s.holder for s in between} == {holder}
    # taken at as_of (plus the milliseconds before the first try) for lease_seconds
    assert all(AS_OF_AT + LEASE <= s.lease_until < AS_OF_AT + LEASE + timedelta(seconds=30)
               for s in between)
    row = lease_row(db_url)  # released; no slot recorded, the embedded scheduler's is still open
    assert (row.holder, row.lease_until, row.last_run_at) == (None, None, None)
    assert leases.acquire_lease(db.get_engine(db_url), "sweep", "A", AS_OF_AT, AS_OF_AT,
                                    SWEEP.lease_seconds)


def test_the_embedded_runner_sweeps_once_under_its_own_lease(prefect_harness, jilin, db_url):
    from rollout.flows.deadlines import sweep_deadlines

    results: list[dict] = []

    def counted(as_of: str, database_url: str, lease_holder: str | None = None) -> dict:
        """The flow as the runner calls it, in batches of 20 (52 tasks: 20, 20, 12)."""
        results.append(sweep_deadlines(as_of=as_of, database_url=database_url,
                                       lease_holder=lease_holder, batch_size=20))
        return results[-1]

    runner = scheduling.JobRunner(db_url, SWEEP, counted, "A", clock=lambda: AS_OF_AT)
    with watch_lease(db_url) as seen:
        # in a thread: a flow that waited for the runner's own lease would hang for 31 minutes
        assert InThread(runner.run).join(timeout=60) is True
    assert len(results) == 1
    assert (results[0]["created"], results[0]["skipped"]) == (52, 26)
    assert {s.holder for s in mid_sweep(seen)} == {"A"}
    row = lease_row(db_url)
    assert (row.holder, row.lease_until, row.last_run_at) == (None, None, AS_OF_AT)
    assert outbox_rows(db_url) == ROWS


def test_a_second_sweep_waits_until_the_lease_is_free(prefect_harness, jilin, db_url):
    from rollout.flows.deadlines import sweep_deadlines

    set_lease(db_url, "another-sweep", AS_OF_AT + timedelta(days=1))
    run = InThread(sweep_deadlines, as_of=AS_OF, database_url=db_url, batch_size=20)
    time.sleep(3)  # past the first retry (every 2 s)
    assert run.thread.is_alive()
    assert outbox_rows(db_url) == 0
    assert lease_row(db_url).holder == "another-sweep"
    with watch_lease(db_url) as seen:
        set_lease(db_url, None, None)  # the first sweep ends
        result = run.join(timeout=30)
    assert (result["created"], result["skipped"]) == (52, 26)
    between = mid_sweep(seen)
    assert between and len({s.holder for s in between}) == 1
    assert between[0].holder.startswith("flow-run:")
    assert lease_row(db_url).holder is None


def test_two_prefect_runs_at_once_sweep_one_after_the_other(prefect_harness, jilin, db_url):
    from rollout.flows.deadlines import sweep_deadlines

    with watch_lease(db_url) as seen:
        runs = [InThread(sweep_deadlines, as_of=AS_OF, database_url=db_url, batch_size=20)
                for _ in range(2)]
        results = [run.join(timeout=60) for run in runs]
    assert sorted(r["created"] for r in results) == [0, 52]
    assert sorted(r["skipped"] for r in results) == [0, 26]
    between = mid_sweep(seen)
    assert between and len({s.holder for s in between}) == 1
    assert between[0].holder.startswith("flow-run:")
    assert lease_row(db_url).holder is None
    assert outbox_rows(db_url) == ROWS


def test_a_crashed_holders_lease_is_taken_once_it_runs_out(prefect_harness, jilin, db_url):
    """The crashed holder's lease runs until as_of + 3 s: the flow's tries at as_of + 0 s and
    + 2 s find it live, the one at + 4 s takes it."""
    from rollout.flows.deadlines import sweep_deadlines

    set_lease(db_url, "crashed", AS_OF_AT + timedelta(seconds=3))
    started = time.monotonic()
    with watch_lease(db_url) as seen:
        state = sweep_deadlines(as_of=AS_OF, database_url=db_url, batch_size=20,
                                return_state=True)
    assert time.monotonic() - started >= 3
    assert state.result()["created"] == 52
    between = mid_sweep(seen)
    assert between
    assert {s.holder for s in between} == {f"flow-run:{state.state_details.flow_run_id}"}
    assert lease_row(db_url).holder is None


def test_a_failing_sweep_releases_the_lease(prefect_harness, jilin, db_url):
    from rollout.flows.deadlines import ProvinceSweepFailed, sweep_deadlines

    _move_housing_to_another_province(jilin)
    _block_updates_of(jilin, "220000.dept.housing")
    with watch_lease(db_url) as seen, pytest.raises(ProvinceSweepFailed):
        sweep_deadlines(as_of=AS_OF, database_url=db_url, batch_size=20)
    assert all(s.holder and s.holder.startswith("flow-run:") for s in mid_sweep(seen))
    assert mid_sweep(seen)
    row = lease_row(db_url)
    assert (row.holder, row.lease_until, row.last_run_at) == (None, None, None)


def test_a_holder_passed_in_must_hold_the_lease(prefect_harness, jilin, db_url):
    from rollout.flows.deadlines import sweep_deadlines

    set_lease(db_url, "A", AS_OF_AT + LEASE)
    with pytest.raises(RolloutError) as refused:
        sweep_deadlines(as_of=AS_OF, database_url=db_url, lease_holder="B")
    assert refused.value.code == "lease_not_held"
    assert outbox_rows(db_url) == 0
    assert lease_row(db_url).holder == "A"  # untouched
