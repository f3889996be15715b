"""The deadline sweep as a Prefect flow (deployment entrypoint
``rollout.flows.deadlines:sweep_deadlines``, dotted: ``rollout.flows.deadlines.sweep_deadlines``).

Coarse by design (DESIGN.md, "Prefect tasks are coarse"): one Prefect task run per batch of
tracked tasks (``DEFAULT_BATCH_SIZE`` = 1,000), never one per tracked task. Each batch is one unit
of work, committed before the next starts, so a crash loses at most the batch in flight and a
rerun (or a Prefect retry) picks up where the committed batches left off: the sweep itself is
idempotent (``rollout.sweep``).
"""

from __future__ import annotations

from datetime import datetime

from prefect import flow, task

from rollout import db
from rollout.calendar import WorkingCalendar
from rollout.flows.runtime import parse_as_of
from rollout.settings import get_settings
from rollout.sweep import DEFAULT_BATCH_SIZE, SweepReport, sweep


def _calendar() -> WorkingCalendar:
    return WorkingCalendar(get_settings().holiday_dirs)


@task(name="sweep-batch", retries=2, retry_delay_seconds=2)
def sweep_batch(database_url: str, now: datetime, after_id: int, batch_size: int) -> SweepReport:
    """One batch of the sweep in its own unit of work (committed when the task returns)."""
    with db.unit_of_work(db.get_engine(database_url)) as session:
        return sweep(session, now, _calendar(), batch_size=batch_size, after_id=after_id)


@flow(name="sweep-deadlines", log_prints=True)
def sweep_deadlines(
    as_of: str | None = None,
    database_url: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> dict:
    """Sweep every due task as of ``as_of`` (ISO time; default now) in ``database_url``
    (default ``ROLLOUT_DATABASE_URL``), batch by batch.

    Returns the ``SweepReport`` JSON: ``created``, ``skipped``, ``tasks``,
    ``waiting_for_holiday_data`` (task keys), ``changed_concurrently``, ``batches``, and
    ``as_of``. Raises ``ValueError`` on a malformed ``as_of``.
    """
    now = parse_as_of(as_of)
    url = database_url or get_settings().database_url
    total = SweepReport(done=False)
    while not total.done:
        total.add(sweep_batch(url, now, total.last_id, batch_size))
    result = {"as_of": now.isoformat(), **total.as_json()}
    print(f"催办督办扫描完成：{result}")
    return result
