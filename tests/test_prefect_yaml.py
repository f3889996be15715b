"""``prefect.yaml`` agrees with ``rollout.jobs.JOBS`` (DESIGN.md, "Two schedulers, one truth"):
the scheduled deployments are exactly the jobs; the others (the catalog flows, run on demand)
have no schedule. Every schedule names Asia/Shanghai: a Prefect cron schedule without a timezone runs in UTC,
so ``0 9 * * *`` would fire at 17:00 in Beijing.

Fire times below are worked out by hand from 2020-04-16 12:00+08:00.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from prefect.cli.deploy._models import PrefectYamlModel
from prefect.server.schemas.schedules import CronSchedule

from rollout import scheduling
from rollout.jobs import JOBS

TZ = ZoneInfo("Asia/Shanghai")
PREFECT_YAML = Path(__file__).resolve().parents[1] / "prefect.yaml"
START = datetime(2020, 4, 16, 12, 0, tzinfo=TZ)


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load(PREFECT_YAML.read_text(encoding="utf-8"))


def test_prefect_parses_the_file(config: dict) -> None:
    model = PrefectYamlModel.model_validate(config)
    assert sorted(d.name for d in model.deployments) == [
        "accept-catalogs", "compile-catalogs", "dispatch-outbox", "review-city", "sweep-deadlines"]


def test_every_schedule_names_asia_shanghai(config: dict) -> None:
    schedules = [s for d in config["deployments"] for s in d.get("schedules") or []]
    assert len(schedules) == 2
    assert all(s.get("timezone") == "Asia/Shanghai" for s in schedules)
    assert all("schedule" not in d for d in config["deployments"])  # no second, unchecked form


def test_scheduled_deployments_equal_jobs(config: dict) -> None:
    by_name = {d["name"]: d for d in config["deployments"] if d.get("schedules")}
    assert set(by_name) == {spec.deployment for spec in JOBS.values()}
    for spec in JOBS.values():
        deployment = by_name[spec.deployment]
        assert deployment["entrypoint"] == spec.entrypoint
        assert ":" not in deployment["entrypoint"]  # a dotted module path, not a file path
        assert deployment["work_pool"]["name"] == "rollout-process"
        assert deployment["concurrency_limit"] == 1
        [schedule] = deployment["schedules"]
        assert (schedule["cron"], schedule["timezone"]) == (spec.cron, spec.timezone)
        assert spec.second == "0"


def _prefect_dates(cron: str, timezone: str | None, n: int) -> list[datetime]:
    schedule = CronSchedule(cron=cron, timezone=timezone)
    # In a worker thread: an earlier test in the session may leave an event loop running in the
    # main thread (asyncio.run refuses to start inside one).
    with ThreadPoolExecutor(max_workers=1) as pool:
        dates = pool.submit(asyncio.run, schedule.get_dates(n=n, start=START)).result()
    return [d.astimezone(TZ) for d in dates]


def _apscheduler_dates(spec, n: int) -> list[datetime]:
    trigger, dates, fire = scheduling.trigger_for(spec), [], None
    for _ in range(n):
        fire = trigger.get_next_fire_time(fire, fire or START)
        dates.append(fire.astimezone(TZ))
    return dates


def test_both_schedulers_fire_at_the_same_times() -> None:
    sweep = [datetime(2020, 4, d, 9, 0, tzinfo=TZ) for d in (17, 18, 19)]
    assert _prefect_dates(JOBS["sweep"].cron, JOBS["sweep"].timezone, 3) == sweep
    assert _apscheduler_dates(JOBS["sweep"], 3) == sweep
    dispatch = [datetime(2020, 4, 16, 12, m, tzinfo=TZ) for m in (0, 1, 2)]
    assert _prefect_dates(JOBS["dispatch"].cron, JOBS["dispatch"].timezone, 3) == dispatch
    assert _apscheduler_dates(JOBS["dispatch"], 3) == dispatch


def test_without_a_timezone_prefect_fires_at_1700_in_beijing() -> None:
    assert _prefect_dates("0 9 * * *", None, 1) == [datetime(2020, 4, 16, 17, 0, tzinfo=TZ)]


def test_entrypoints_load_as_prefect_flows() -> None:
    from prefect.flows import Flow, load_flow_from_entrypoint

    for spec in JOBS.values():
        flow = load_flow_from_entrypoint(spec.entrypoint, use_placeholder_flow=False)
        assert isinstance(flow, Flow) and flow.fn.__name__ == spec.flow_name


#: The on-demand deployments: name → dotted entrypoint (issue 5, item 7).
ON_DEMAND = {
    "compile-catalogs": "rollout.flows.compile.compile_catalogs",
    "review-city": "rollout.flows.review.review_city",
    "accept-catalogs": "rollout.flows.acceptance.accept_catalogs",
}


def test_unscheduled_deployments_are_the_catalog_flows(config: dict) -> None:
    from prefect.flows import Flow, load_flow_from_entrypoint

    unscheduled = {d["name"]: d for d in config["deployments"] if not d.get("schedules")}
    assert {n: d["entrypoint"] for n, d in unscheduled.items()} == ON_DEMAND
    for name, entrypoint in ON_DEMAND.items():
        assert unscheduled[name]["work_pool"]["name"] == "rollout-process"
        flow = load_flow_from_entrypoint(entrypoint, use_placeholder_flow=False)
        assert isinstance(flow, Flow) and flow.name == name


def test_every_flow_is_named_like_its_deployment(config: dict) -> None:
    """``prefect deployment run <flow>/<deployment>`` (README, "At scale") and the system test
    (tests/system/test_prefect_server.py) name a deployment as ``<name>/<name>``."""
    from prefect.flows import load_flow_from_entrypoint

    for deployment in config["deployments"]:
        flow = load_flow_from_entrypoint(deployment["entrypoint"], use_placeholder_flow=False)
        assert flow.name == deployment["name"]

