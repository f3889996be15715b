"""The outbox dispatcher as a Prefect flow (deployment entrypoint
``rollout.flows.dispatch.dispatch_outbox``; every minute, see ``rollout.jobs``).

Coarse (DESIGN.md, "Prefect tasks are coarse"): one Prefect task run does a whole dispatch run
(rounds of claim → send → record, ``rollout.notifications.dispatch``). A delivery failure is
recorded in the outbox, not raised; the task's retries cover database errors. A retry after a
partial run is safe: what was recorded stays recorded, a digest claimed and not recorded is
sent again with the same Message-ID once its lease expires.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from prefect import flow, task

from rollout import db
from rollout.calendar import TZ, WorkingCalendar
from rollout.notifications.dispatch import DispatchConfig, dispatch
from rollout.settings import get_settings


@task(name="dispatch-run", retries=2, retry_delay_seconds=5)
def dispatch_run(database_url: str, now: datetime) -> dict:
    """One dispatch run against ``database_url`` as of ``now``; returns the report as a dict."""
    settings = get_settings()
    engine = db.get_engine(database_url)
    report = dispatch(
        lambda: db.unit_of_work(engine), now=now,
        config=DispatchConfig.from_settings(settings),
        calendar=WorkingCalendar(settings.holiday_dirs),
    )
    return asdict(report)


@flow(name="dispatch-outbox", log_prints=True)
def dispatch_outbox(database_url: str | None = None, now: datetime | None = None) -> dict:
    """Send what is due in the outbox of ``database_url`` (default ``ROLLOUT_DATABASE_URL``).

    ``now``: aware datetime the run counts from (the embedded scheduler passes its slot time;
    default the clock). SMTP and delivery settings come from ``ROLLOUT_SMTP_*`` /
    ``ROLLOUT_DISPATCH_*``. Returns the ``DispatchReport`` fields plus ``as_of``. Raises
    ``ValueError`` for a naive ``now``.
    """
    now = now or datetime.now(TZ)
    if now.tzinfo is None:
        raise ValueError(f"now must be an aware datetime, got {now!r}")
    result = {"as_of": now.isoformat(),
              **dispatch_run(database_url or get_settings().database_url, now)}
    print(f"发件箱发送完成：{result}")
    return result
