"""The catalog compile as a Prefect flow (deployment entrypoint
``rollout.flows.compile.compile_catalogs``).

Coarse by design (DESIGN.md, "Prefect tasks are coarse"): one Prefect task run per county (its
up to 26 catalogs in one unit of work), never one per catalog or item. A task is retried only
when I/O failed (the database connection, reading the service list); a bad catalog is not an
I/O failure and is reported, not retried. Rerunning is safe: a version already compiled is left
alone unless ``force``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime

from prefect import flow, task

from rollout import db
from rollout.calendar import WorkingCalendar
from rollout.catalogs.compile import compile_county, counties_in_scope
from rollout.catalogs.service_list import load_service_list
from rollout.flows.runtime import io_failure, parse_as_of
from rollout.settings import get_settings

_listeners: list[Callable[[str, list[dict]], None]] = []


@contextmanager
def progress_listener(callback: Callable[[str, list[dict]], None]) -> Iterator[None]:
    """Call ``callback(county_code, outcomes)`` after each county of flow runs started inside
    the block (in this process), e.g. to advance a progress bar."""
    _listeners.append(callback)
    try:
        yield
    finally:
        _listeners.remove(callback)


@task(name="compile-county", retries=2, retry_delay_seconds=2, retry_condition_fn=io_failure)
def compile_county_task(
    database_url: str, county_code: str, now: datetime, service_list: str | None, force: bool
) -> list[dict]:
    """Compile every catalog of one county in one unit of work; returns the outcomes as dicts
    (``CompileOutcome`` fields)."""
    services = load_service_list(service_list) if service_list else None
    calendar = WorkingCalendar(get_settings().holiday_dirs)
    with db.unit_of_work(db.get_engine(database_url)) as session:
        outcomes = compile_county(
            session, county_code, now=now, calendar=calendar, services=services, force=force
        )
    return [asdict(o) for o in outcomes]


@flow(name="compile-catalogs", log_prints=True)
def compile_catalogs(
    county: str | None = None,
    city: str | None = None,
    all: bool = False,  # noqa: A002 - the CLI's and the API's word
    database_url: str | None = None,
    as_of: str | None = None,
    service_list: str | None = None,
    force: bool = False,
) -> dict:
    """Compile the catalogs of one county, the counties of a city, or all counties.

    ``county`` / ``city``: code or name; exactly one of ``county``, ``city``, ``all``.
    ``as_of``: ISO time of the run (default now; without offset Asia/Shanghai).
    ``service_list``: path of the service platform's list (CSV/YAML) to check links against.
    Returns ``{"as_of", "counties", "catalogs", "submitted", "left_open", "unchanged",
    "outcomes": [...]}``. Raises ``ValueError`` (scope), ``NotFound`` (unknown county or city).
    """
    now = parse_as_of(as_of)
    url = database_url or get_settings().database_url
    with db.read_session(db.get_engine(url)) as session:
        codes = counties_in_scope(session, county, city, all)
    outcomes: list[dict] = []
    for code in codes:
        done = compile_county_task(url, code, now, service_list, force)
        outcomes.extend(done)
        for listener in list(_listeners):
            listener(code, done)
    actions = [o["task_action"] for o in outcomes]
    result = {
        "as_of": now.isoformat(),
        "counties": len(codes),
        "catalogs": len(outcomes),
        "submitted": actions.count("submitted"),
        "left_open": actions.count("left_open"),
        "unchanged": actions.count("unchanged"),
        "outcomes": outcomes,
    }
    print(f"公开事项目录编目检查：{len(codes)} 个县（市、区），{len(outcomes)} 个目录，"
          f"提交 {result['submitted']} 个，待整改 {result['left_open']} 个")
    return result
