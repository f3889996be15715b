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
import yaml
from sqlmodel import col, func, select

from rollout import db
from rollout.calendar import TZ
from rollout.errors import PlanError
from rollout.models import Organization, OrgKind, TrackedTask
from rollout.plans.fanout import instantiate_plan
from rollout.plans.schema import load_plan_spec, load_registry_spec, read_yaml
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


# -- several provinces (--provinces N [--townships]) -------------------------------------------

# The real first two digits of the 31 provincial-level divisions (GB/T 2260), written out here.
PREFIXES = ["11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36",
            "37", "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62",
            "63", "64", "65"]
# By hand for 2 provinces, 3 cities, 6 counties, 20 townships, 26 domains: work_plan and
# dept_filing one per province × domain, training and go_live one per province, city_filing
# per city, city_review per county, catalog/upload/acceptance per county × domain,
# township_catalog per township × domain.
EXPECTED_TWO = {
    "work_plan": 2 * 26, "dept_filing": 2 * 26, "city_filing": 3, "catalog": 6 * 26,
    "township_catalog": 20 * 26, "training": 2, "city_review": 6, "upload": 6 * 26,
    "acceptance": 6 * 26, "go_live": 2,
}


def test_two_synthetic_provinces_with_townships_fan_out_to_the_hand_count(
    tmp_path: Path, sqlite_url: str, calendar
) -> None:
    files = write_synthetic_plan(tmp_path, provinces=2, cities=3, counties=6, townships=20, seed=5)
    assert sum(EXPECTED_TWO.values()) == 1105 == files.expected_tasks
    spec = load_plan_spec(files.plan)
    assert {m.key: m.due for m in spec.milestones} == {**DUE, "township_catalog": date(2020, 7, 1)}
    town_ms = next(m for m in spec.milestones if m.key == "township_catalog")
    assert (town_ms.title, town_ms.fan_out.over, town_ms.fan_out.owner) == (
        "乡镇（街道）编制本级标准目录", ["township", "domain"], "township")
    reg = load_registry_spec(files.registry)
    assert [b.province.code for b in reg.blocks] == ["110000", "120000"]
    cities = [c.code for b in reg.blocks for c in b.cities]
    counties = [c for b in reg.blocks for c in b.counties]
    towns = [t for b in reg.blocks for t in b.townships]
    assert len(cities) == 3 and len(counties) == 6 and len(towns) == 20
    for b in reg.blocks:
        pp = b.province.code[:2]
        assert all(re.fullmatch(pp + r"\d{2}00", c.code) for c in b.cities)
        assert all(c.city[:4] == c.code[:4] and c.city.startswith(pp) for c in b.counties)
        assert all(re.fullmatch(r"\d{9}", t.code) and t.code[:6] == t.county for t in b.townships)
        assert len(b.departments) == 18
    assert {c.code for c in counties} == {t.county for t in towns}  # every county has one

    engine = db.get_engine(sqlite_url)
    with db.unit_of_work(engine) as s:
        report = instantiate_plan(s, files.plan, now=LOADED_AT, calendar=calendar)
    assert report.tasks == EXPECTED_TWO and report.created == 1105
    with db.read_session(engine) as s:
        assert s.exec(select(func.count()).select_from(TrackedTask)).one() == 1105
        owners = dict(s.exec(select(TrackedTask.key, TrackedTask.org_code)).all())
    assert owners["dept_filing:120000:social_assistance"] == "120000.dept.civil_affairs"
    assert owners["training:110000"] == "110000.office"
    assert owners[f"township_catalog:{towns[0].code}:employment"] == towns[0].code


def test_national_defaults_are_the_real_totals(tmp_path: Path) -> None:
    files = write_synthetic_plan(tmp_path, provinces=31, townships=True, seed=1)
    reg = load_registry_spec(files.registry)
    assert [b.province.code[:2] for b in reg.blocks] == PREFIXES
    assert sum(len(b.cities) for b in reg.blocks) == 333
    assert sum(len(b.counties) for b in reg.blocks) == 2850
    assert sum(len(b.townships) for b in reg.blocks) == 38000
    # 2·31·26 + 333 + 3·26·2850 + 2850 + 2·31 = 227,157; + 26·38,000 = 1,215,157
    assert files.expected_tasks == 1_215_157
    assert write_synthetic_plan(tmp_path / "n", provinces=31, seed=1).expected_tasks == 227_157


def test_national_same_seed_same_bytes(tmp_path: Path) -> None:
    kw = {"provinces": 3, "cities": 5, "counties": 12, "townships": 40}
    a = write_synthetic_plan(tmp_path / "a", seed=2, **kw)
    b = write_synthetic_plan(tmp_path / "b", seed=2, **kw)
    c = write_synthetic_plan(tmp_path / "c", seed=3, **kw)
    assert a.registry.read_bytes() == b.registry.read_bytes()
    assert a.plan.read_bytes() == b.plan.read_bytes()
    assert a.registry.read_bytes() != c.registry.read_bytes()
    # written as JSON (read fast by read_yaml) that is also the same data as YAML
    text = a.registry.read_text(encoding="utf-8")
    assert text.startswith("# 合成数据") and text.splitlines()[1].startswith("{")
    assert read_yaml(a.registry) == yaml.load(text, Loader=yaml.SafeLoader)


@pytest.mark.parametrize(
    ("kw", "words"),
    [({"provinces": 32}, "省份数须在 1–31 之间"),
     ({"provinces": 3, "cities": 2}, "市（州）数须在 3–297 之间"),
     ({"provinces": 2, "cities": 3, "counties": 6, "townships": 5}, "乡镇（街道）数须在 6–2394 之间")],
)
def test_national_out_of_range_sizes_are_refused(tmp_path: Path, kw, words) -> None:
    with pytest.raises(PlanError, match=words):
        write_synthetic_plan(tmp_path, seed=1, **kw)
    assert list(tmp_path.iterdir()) == []


def test_cli_national(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    ok = subprocess.run(
        [sys.executable, "-m", "rollout", "plans", "synth", "--provinces", "2", "--cities", "3",
         "--counties", "6", "--townships", "--township-count", "20", "--seed", "5",
         "--out", str(tmp_path / "p")],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    assert "1105" in ok.stdout and "20 个乡镇（街道）" in ok.stdout
    assert (tmp_path / "p" / "registry.yaml").read_bytes() == write_synthetic_plan(
        tmp_path / "q", provinces=2, cities=3, counties=6, townships=20, seed=5,
    ).registry.read_bytes()
    bad = subprocess.run(
        [sys.executable, "-m", "rollout", "plans", "synth", "--provinces", "32",
         "--out", str(tmp_path / "r")],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert bad.returncode == 1
    assert "省份数须在 1–31 之间" in bad.stderr
    assert not (tmp_path / "r").exists()
