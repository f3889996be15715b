"""The synthetic province of ``rollout.plans.synth`` (bench/sweep.py's plan): shape, task counts
worked out by hand, determinism, and the CLI ``rollout plans synth``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlmodel import col, func, select

from rollout import db
from rollout.calendar import TZ
from rollout.errors import PlanError
from rollout.models import Organization, OrgKind, TrackedTask
from rollout.plans.fanout import instantiate_plan
from rollout.plans.schema import load_plan_spec, load_registry_spec
from rollout.plans.synth import write_synthetic_plan

LOADED_AT = datetime(2020, 3, 20, 9, 0, tzinfo=TZ)

# By hand from rollout/plans/data/jilin-2020.yaml (26 domains, fan-out rules) for 3 cities and
# 30 counties: domain milestones 26 each, city_filing one per city, county × domain 26 × 30,
# city_review one per county, training and go_live one each.
EXPECTED = {
    "work_plan": 26, "dept_filing": 26, "city_filing": 3, "catalog": 780, "training": 1,
    "city_review": 30, "upload": 780, "acceptance": 780, "go_live": 1,
}
DUE = {  # the plan's "X月X日前" days
    "work_plan": date(2020, 4, 17), "dept_filing": date(2020, 4, 25),
    "city_filing": date(2020, 5, 6), "catalog": date(2020, 7, 1), "training": date(2020, 7, 10),
    "city_review": date(2020, 9, 1), "upload": date(2020, 10, 15),
    "acceptance": date(2020, 12, 1), "go_live": date(2020, 12, 31),
}


def test_synthetic_plan_fans_out_to_the_counts_worked_out_by_hand(
    tmp_path: Path, sqlite_url: str, calendar
) -> None:
    files = write_synthetic_plan(tmp_path, counties=30, cities=3, seed=7)
    assert sum(EXPECTED.values()) == 2427 == files.expected_tasks
    spec = load_plan_spec(files.plan)
    assert {m.key: m.due for m in spec.milestones} == DUE
    reg = load_registry_spec(files.registry)
    assert reg.province.code == "900000"
    assert [c.code for c in reg.cities] == ["900100", "900200", "900300"]
    assert len(reg.departments) == 18 and len(reg.domains) == 26
    assert len(reg.counties) == 30
    for c in reg.counties:  # ppccxx: under its city's ppcc, xx in 01..99
        assert re.fullmatch(r"90(0[1-3])(0[1-9]|[1-9]\d)", c.code), c.code
        assert c.city == c.code[:4] + "00"
        assert c.email == f"gk-{c.code}@example.org"
    assert {c.city for c in reg.counties} == {"900100", "900200", "900300"}

    engine = db.get_engine(sqlite_url)
    with db.unit_of_work(engine) as s:
        report = instantiate_plan(s, files.plan, now=LOADED_AT, calendar=calendar)
    assert report.tasks == EXPECTED and report.created == 2427
    with db.read_session(engine) as s:
        assert s.exec(select(func.count()).select_from(TrackedTask)).one() == 2427
        kinds = {k: n for k, n in s.exec(select(Organization.kind, func.count())
                                                .group_by(Organization.kind))}
        assert kinds == {OrgKind.office: 1, OrgKind.department: 18, OrgKind.city: 3,
                         OrgKind.county: 30}
        parents = {c: p for c, p in s.exec(select(Organization.code, Organization.parent_code)
                                           .where(Organization.kind == OrgKind.county))}
        reviews = list(s.exec(select(TrackedTask.unit_code, TrackedTask.org_code)
                              .where(col(TrackedTask.key).startswith("city_review:"))))
    assert len(reviews) == 30
    assert all(owner == parents[unit] for unit, owner in reviews)  # owner: the county's city


def test_same_seed_same_bytes_other_seed_other_counties(tmp_path: Path) -> None:
    a = write_synthetic_plan(tmp_path / "a", counties=30, cities=3, seed=7)
    b = write_synthetic_plan(tmp_path / "b", counties=30, cities=3, seed=7)
    c = write_synthetic_plan(tmp_path / "c", counties=30, cities=3, seed=8)
    assert a.registry.read_bytes() == b.registry.read_bytes()
    assert a.plan.read_bytes() == b.plan.read_bytes()
    assert a.registry.read_bytes() != c.registry.read_bytes()


@pytest.mark.parametrize(
    ("counties", "cities", "words"),
    [(30, 100, "1–99"), (2, 3, "3–297"), (300, 3, "3–297")],
)
def test_out_of_range_sizes_are_refused(
    tmp_path: Path, counties: int, cities: int, words: str
) -> None:
    with pytest.raises(PlanError, match=words):
        write_synthetic_plan(tmp_path, counties=counties, cities=cities, seed=1)
    assert list(tmp_path.iterdir()) == []


def test_cli_writes_the_files_and_refuses_bad_sizes(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    ok = subprocess.run(
        [sys.executable, "-m", "rollout", "plans", "synth", "--counties", "30", "--cities", "3",
         "--seed", "7", "--out", str(tmp_path / "p")],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    assert "2427" in ok.stdout
    assert (tmp_path / "p" / "plan.yaml").read_bytes() == write_synthetic_plan(
        tmp_path / "q", counties=30, cities=3, seed=7).plan.read_bytes()
    bad = subprocess.run(
        [sys.executable, "-m", "rollout", "plans", "synth", "--cities", "100",
         "--out", str(tmp_path / "r")],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert bad.returncode == 1
    assert "市（州）数须在 1–99 之间" in bad.stderr
    assert not (tmp_path / "r").exists()
