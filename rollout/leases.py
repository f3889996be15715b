"""Job leases: one run of a scheduled job at a time across processes and schedulers (the
``JobLease`` rows; DESIGN.md, "Scheduling").

A lease row per job (``rollout.jobs.JOBS``: ``sweep``, ``dispatch``) names its ``holder`` until
``lease_until``; a holder that crashes blocks the job at most ``lease_seconds``. The embedded
scheduler (``rollout.scheduling.JobRunner``) takes a job's lease for each slot; the sweep flow
(``rollout.flows.deadlines``), when a Prefect worker runs it, takes the ``sweep`` lease itself
(``held_lease``). While the ``sweep`` lease is held the dispatcher builds no new digests
(``rollout.notifications.dispatch.sweep_running``).

Times are the caller's clock (``now``: the embedded scheduler's run instant, the flow's
``as_of``), as the dispatcher compares ``lease_until`` with its own ``now``.

Sits below ``rollout.flows`` and ``rollout.scheduling`` (import-linter layers) so both can use it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import sqlalchemy as sa

from rollout import db
from rollout.errors import RolloutError
from rollout.models import JobLease

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0
"""How often ``held_lease`` tries again while another holder has the lease."""


def _insert_missing(conn: sa.Connection, name: str) -> None:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(JobLease.__table__).values(name=name)
    conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))


def acquire_lease(
    engine: sa.Engine,
    name: str,
    holder: str,
    slot_at: datetime | None,
    now: datetime,
    lease_seconds: int,
) -> bool:
    """Take the lease of job ``name`` in one short transaction.

    Inserts the job's row if missing, then one conditional UPDATE: it succeeds only if no live
    lease is held (``lease_until`` NULL or before ``now``) and, with a ``slot_at``, the slot is
    not done yet (``last_run_at`` NULL or before ``slot_at``; None: any time, the slot is not
    checked). Returns True when this ``holder`` now holds the lease until ``now +
    lease_seconds``. On PostgreSQL a concurrent UPDATE waits for the row lock and re-checks the
    condition; on SQLite the transaction holds the write lock from its start.
    """
    table = JobLease.__table__
    free = sa.or_(table.c.lease_until.is_(None), table.c.lease_until < now)
    if slot_at is not None:
        free = free & sa.or_(table.c.last_run_at.is_(None), table.c.last_run_at < slot_at)
    with db.unit_of_work(engine) as session:
        conn = session.connection()
        _insert_missing(conn, name)
        result = conn.execute(
            sa.update(table)
            .where(table.c.name == name, free)
            .values(holder=holder, lease_until=now + timedelta(seconds=lease_seconds))
        )
        return result.rowcount == 1


def release_lease(
    engine: sa.Engine, name: str, holder: str, completed_slot_at: datetime | None
) -> bool:
    """Give back ``holder``'s lease of job ``name``; with ``completed_slot_at`` also record that
    slot as done (``last_run_at``). None (the run failed, or it served no slot) leaves
    ``last_run_at`` as it was. Returns False when the lease had expired and another process
    took it (nothing is written)."""
    table = JobLease.__table__
    values: dict[str, object] = {"holder": None, "lease_until": None}
    if completed_slot_at is not None:
        values["last_run_at"] = completed_slot_at
    with db.unit_of_work(engine) as session:
        result = session.connection().execute(
            sa.update(table).where(table.c.name == name, table.c.holder == holder).values(**values)
        )
        return result.rowcount == 1


def current_holder(engine: sa.Engine, name: str) -> str | None:
    """The ``holder`` named on job ``name``'s lease row (None: no row, or released). Whether the
    lease is still live (``lease_until``) is not checked."""
    with db.read_session(engine) as session:
        lease = session.get(JobLease, name)
        return lease.holder if lease else None


@contextmanager
def held_lease(
    engine: sa.Engine,
    name: str,
    holder: str,
    now: datetime,
    lease_seconds: int,
    *,
    wait_seconds: float,
    poll_seconds: float = POLL_SECONDS,
) -> Iterator[None]:
    """Hold job ``name``'s lease as ``holder`` for the ``with`` block; release it when the block
    ends, also on an exception (``last_run_at`` untouched: no slot is served).

    While another holder has a live lease, try again every ``poll_seconds`` for up to
    ``wait_seconds`` (real seconds); each try counts ``now`` (aware, the caller's clock) plus the
    real time elapsed, so a crashed holder's lease is taken once its ``lease_until`` passes.
    Raises ``RolloutError`` (code ``lease_busy``) when the lease is still held after
    ``wait_seconds``. Logs a warning when the block outlived its lease (another holder took it).
    """
    started = time.monotonic()
    waited = False
    while True:
        elapsed = time.monotonic() - started
        at = now + timedelta(seconds=elapsed)
        if acquire_lease(engine, name, holder, None, at, lease_seconds):
            break
        if elapsed + poll_seconds > wait_seconds:
            raise RolloutError(
                f"作业 {name} 的租约等待 {wait_seconds:g} 秒后仍被占用（{current_holder(engine, name)}）",
                code="lease_busy",
            )
        if not waited:
            log.info("job %s: lease held by %s, waiting", name, current_holder(engine, name))
            waited = True
        time.sleep(poll_seconds)
    try:
        yield
    finally:
        if not release_lease(engine, name, holder, None):
            log.warning("job %s (%s) outlived its lease of %s s", name, holder, lease_seconds)
