"""The provincial acceptance (验收) as a Prefect flow (deployment entrypoint
``rollout.flows.acceptance.accept_catalogs``).

Coarse by design (DESIGN.md): one Prefect task run per county (its submitted acceptance tasks,
up to 26, in one unit of work), then one acceptance report per city touched. Retried only when
I/O failed (the database connection, reading the service list). Rerunning is safe: only
``submitted`` tasks are checked, so a returned task waits for the county's resubmission and an
accepted one is left alone.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from prefect import flow, task
from sqlmodel import col, select

from rollout import db
from rollout.calendar import WorkingCalendar
from rollout.catalogs.acceptance import (
    accept_county,
    acceptance_report,
    correction_working_days,
    office_actor,
)
from rollout.catalogs.compile import counties_in_scope
from rollout.catalogs.service_list import load_service_list
from rollout.errors import NotFound
from rollout.flows.runtime import io_failure, parse_as_of
from rollout.models import Organization, Plan
from rollout.settings import get_settings


@task(name="accept-county", retries=2, retry_delay_seconds=2, retry_condition_fn=io_failure)
def accept_county_task(
    database_url: str, county_code: str, now: datetime, correction_days: int,
    service_list: str | None,
) -> list[dict]:
    """Check one county's submitted acceptance tasks in one unit of work; returns the outcomes
    as dicts (``AcceptanceOutcome`` fields)."""
    services = load_service_list(service_list) if service_list else None
    calendar = WorkingCalendar(get_settings().holiday_dirs)
    with db.unit_of_work(db.get_engine(database_url)) as session:
        outcomes = accept_county(session, county_code, now=now, calendar=calendar,
                                 correction_days=correction_days, actor=office_actor(session),
                                 services=services)
    return [asdict(o) for o in outcomes]


@task(name="acceptance-report", retries=2, retry_delay_seconds=2, retry_condition_fn=io_failure)
def acceptance_report_task(database_url: str, city_code: str) -> dict:
    """The acceptance report of one city (``rollout.catalogs.acceptance.acceptance_report``)."""
    with db.read_session(db.get_engine(database_url)) as session:
        return acceptance_report(session, city_code)


@flow(name="accept-catalogs", log_prints=True)
def accept_catalogs(
    county: str | None = None,
    city: str | None = None,
    all: bool = False,  # noqa: A002 - the CLI's and the API's word
    database_url: str | None = None,
    as_of: str | None = None,
    service_list: str | None = None,
) -> dict:
    """Check the submitted acceptance tasks of one county, the counties of a city, or all
    counties, and report per city.

    ``county`` / ``city``: code or name; exactly one of ``county``, ``city``, ``all``.
    ``as_of``: ISO time of the run (default now; without offset Asia/Shanghai). The correction
    period comes from the newest plan's file (``acceptance_correction_working_days``).
    Returns ``{"as_of", "counties", "checked", "accepted", "returned", "correction_working_days",
    "outcomes": [...], "reports": [per city, in city-code order]}``. Raises ``ValueError``
    (scope), ``NotFound`` (unknown county or city, no plan), ``PlanError`` (plan file).
    """
    now = parse_as_of(as_of)
    url = database_url or get_settings().database_url
    with db.read_session(db.get_engine(url)) as session:
        codes = counties_in_scope(session, county, city, all)
        plan = session.exec(select(Plan).order_by(col(Plan.id).desc())).first()
        if plan is None:
            raise NotFound("还没有载入实施方案，先运行 rollout init")
        days = correction_working_days(plan)
        cities = sorted({c for c in session.exec(
            select(Organization.parent_code).where(col(Organization.code).in_(codes))) if c})
    outcomes: list[dict] = []
    for code in codes:
        outcomes.extend(accept_county_task(url, code, now, days, service_list))
    reports = [acceptance_report_task(url, c) for c in cities]
    actions = [o["action"] for o in outcomes]
    result = {
        "as_of": now.isoformat(), "counties": len(codes), "checked": len(outcomes),
        "accepted": actions.count("accepted"), "returned": actions.count("returned"),
        "correction_working_days": days, "outcomes": outcomes, "reports": reports,
    }
    print(f"公开事项目录验收：{len(codes)} 个县（市、区），检查 {len(outcomes)} 个目录，"
          f"通过 {result['accepted']} 个，退回改正 {result['returned']} 个")
    return result
