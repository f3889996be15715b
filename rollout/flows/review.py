"""The city review (复核) as a Prefect flow (deployment entrypoint
``rollout.flows.review.review_city``): one review packet per county of a city.

Coarse by design (DESIGN.md): one Prefect task run per county, its packet written in one unit
of work. Retried only when I/O failed (the database connection). The sign-off itself is a human
step that comes in through the API (``POST /api/reviews/{county}``), never a paused flow run;
counties unsigned after 09-01 are escalated by the deadline sweep, not by this flow.
"""

from __future__ import annotations

from datetime import datetime

from prefect import flow, task

from rollout import db
from rollout.catalogs.compile import counties_in_scope
from rollout.catalogs.review import build_packet
from rollout.flows.runtime import io_failure, parse_as_of
from rollout.models import OrgKind
from rollout.plans.registry import find_org
from rollout.settings import get_settings


@task(name="review-county", retries=2, retry_delay_seconds=2, retry_condition_fn=io_failure)
def review_county_task(database_url: str, county_code: str, now: datetime) -> dict:
    """Write one county's review packet; returns its id, counts and detail as a dict."""
    with db.unit_of_work(db.get_engine(database_url)) as session:
        p = build_packet(session, county_code, now=now)
        return {"packet_id": p.id, "county_code": p.county_code, "domains_total": p.domains_total,
                "domains_clean": p.domains_clean, "domains_missing": p.domains_missing,
                "open_findings": p.open_findings, "complete": p.complete, "detail": p.detail}


@flow(name="review-city", log_prints=True)
def review_city(city: str, database_url: str | None = None, as_of: str | None = None) -> dict:
    """Write the review packets of every county now under ``city`` (code or name).

    ``as_of``: ISO time of the run (default now; without offset Asia/Shanghai). Returns
    ``{"city", "as_of", "counties", "complete", "packets": [...]}`` (packets in county-code
    order). Raises ``NotFound`` for an unknown city.
    """
    now = parse_as_of(as_of)
    url = database_url or get_settings().database_url
    with db.read_session(db.get_engine(url)) as session:
        city_code = find_org(session, city, kind=OrgKind.city).code
        codes = counties_in_scope(session, city=city_code)
    packets = [review_county_task(url, code, now) for code in codes]
    complete = sum(1 for p in packets if p["complete"])
    print(f"复核材料：{city_code} 所辖 {len(codes)} 个县（市、区），26个领域目录齐全且检查通过的 {complete} 个")
    return {"city": city_code, "as_of": now.isoformat(), "counties": len(codes),
            "complete": complete, "packets": packets}
