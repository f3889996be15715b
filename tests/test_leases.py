"""``rollout.leases``: the ``JobLease`` primitives both schedulers use. Times by hand: a lease
taken at 2020-04-13 09:00 for 1800 s runs until 09:30."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from rollout import db, leases
from rollout.errors import RolloutError
from rollout.models import JobLease

TZ = ZoneInfo("Asia/Shanghai")
NINE = datetime(2020, 4, 13, 9, 0, tzinfo=TZ)


def row(url: str) -> JobLease | None:
    with db.read_session(db.get_engine(url)) as session:
        return session.get(JobLease, "sweep")


def test_without_a_slot_only_a_live_lease_blocks(db_url: str) -> None:
    engine = db.get_engine(db_url)
    assert leases.acquire_lease(engine, "sweep", "A", NINE, NINE, 1800)
    assert leases.release_lease(engine, "sweep", "A", NINE)  # slot 09:00 done
    assert not leases.acquire_lease(engine, "sweep", "B", NINE, NINE, 1800)  # by slot: done
    assert leases.acquire_lease(engine, "sweep", "B", None, NINE, 1800)  # no slot: free
    assert leases.current_holder(engine, "sweep") == "B"
    assert not leases.acquire_lease(engine, "sweep", "C", None, NINE + timedelta(minutes=29), 60)
    assert leases.acquire_lease(engine, "sweep", "C", None, NINE + timedelta(minutes=31), 60)
    assert row(db_url).last_run_at == NINE


def test_held_lease_releases_on_error_and_keeps_the_slot(db_url: str) -> None:
    engine = db.get_engine(db_url)
    with db.unit_of_work(engine) as session:
        session.add(JobLease(name="sweep", last_run_at=NINE))
    with pytest.raises(ValueError), leases.held_lease(engine, "sweep", "A", NINE, 1800,
                                                      wait_seconds=1):
        held = row(db_url)  # from 09:00 plus the microseconds before the first try
        assert held.holder == "A"
        assert NINE + timedelta(minutes=30) <= held.lease_until < NINE + timedelta(minutes=31)
        raise ValueError("boom")
    lease = row(db_url)
    assert (lease.holder, lease.lease_until, lease.last_run_at) == (None, None, NINE)


def test_held_lease_gives_up_after_wait_seconds(sqlite_url: str) -> None:
    engine = db.get_engine(sqlite_url)
    assert leases.acquire_lease(engine, "sweep", "other", None, NINE, 1800)
    started = time.monotonic()
    with pytest.raises(RolloutError, match="other") as busy, leases.held_lease(
        engine, "sweep", "A", NINE, 1800, wait_seconds=0.5, poll_seconds=0.1
    ):
        pytest.fail("the lease was held by another")
    assert busy.value.code == "lease_busy"
    assert 0.4 <= time.monotonic() - started < 3
    assert leases.current_holder(engine, "sweep") == "other"
