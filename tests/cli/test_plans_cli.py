"""``rollout init``, ``status``, ``orgs`` and ``task`` as a clerk runs them (real processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from rollout.plans.schema import BUNDLED_PLAN

REGISTRY = BUNDLED_PLAN.parent / "jilin-registry.yaml"
EARLY = {"work_plan", "dept_filing", "city_filing", "catalog"}


def rollout(*args: str, db_url: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "rollout", *args, "--db", db_url],
        capture_output=True, text=True, env=env, timeout=120,
    )
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _status(db_url: str, as_of: str, *extra: str) -> dict:
    proc = rollout("status", "--as-of", as_of, "--format", "json", *extra, db_url=db_url)
    return {m["key"]: m for m in json.loads(proc.stdout)["milestones"]}


def _table_counts(db_url: str) -> dict[str, int]:
    engine = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        out = {
            t: conn.execute(sa.text(f"select count(*) from {t}")).scalar_one()
            for t in ("organization", "plan", "milestone", "trackedtask", "auditevent")
        }
    engine.dispose()
    return out


@pytest.fixture
def loaded(db_url: str) -> str:
    rollout("init", db_url=db_url)
    return db_url


def test_init_twice_and_status_overdue_on_both_sides_of_the_catalog_deadline(loaded):
    second = rollout("init", db_url=loaded)
    assert "新建 0" in second.stdout and "4805" in second.stdout
    after = _status(loaded, "2020-07-02T00:00+08:00")
    assert sum(m["total"] for m in after.values()) == 4805
    for key, m in after.items():
        assert m["overdue"] == (m["total"] if key in EARLY else 0), key
        assert m["open"] == m["total"] and m["done"] == m["submitted"] == 0
    before = _status(loaded, "2020-07-01T23:59+08:00")
    assert before["catalog"]["overdue"] == 0
    assert before["city_filing"]["overdue"] == 11


def test_status_per_city_and_task_commands(loaded):
    cc = _status(loaded, "2020-07-02T00:00+08:00", "--city", "长春市")
    # 长春市: 11 counties (with 公主岭市) × 26 domains, its own city_filing, 11 city reviews
    assert cc["catalog"]["total"] == 11 * 26
    assert cc["city_filing"]["total"] == 1
    assert cc["city_review"]["total"] == 11
    assert cc["work_plan"]["total"] == 0
    rollout("task", "submit", "city_filing:220100", "--as", "长春市",
            "--at", "2020-05-06T10:00+08:00", db_url=loaded)
    cc = _status(loaded, "2020-07-02T00:00+08:00", "--city", "220100")
    assert (cc["city_filing"]["done"], cc["city_filing"]["overdue"]) == (1, 0)
    refused = rollout("task", "submit", "city_filing:220200", "--as", "长春市", db_url=loaded, check=False)
    assert refused.returncode == 1 and "无权" in refused.stderr
    shown = json.loads(rollout("task", "show", "city_review:220102", "--format", "json", db_url=loaded).stdout)
    assert len(shown["waiting_for"]) == 26 and shown["due_on"] == "2020-09-01"


def test_orgs_lists_the_registry(loaded):
    counties = json.loads(rollout("orgs", "--kind", "county", "--format", "json", db_url=loaded).stdout)
    assert len(counties) == 60
    gzl = next(o for o in counties if o["name"] == "公主岭市")
    assert (gzl["code"], gzl["parent_code"]) == ("220184", "220100")
    offices = json.loads(rollout("orgs", "--kind", "office", "--format", "json", db_url=loaded).stdout)
    assert [o["kind"] for o in offices] == ["office"]


BAD_PLANS = [
    # (replace this, with that, the field the message must name)
    ("    requires: [work_plan]\n", "    requires: [work_plans]\n", "milestones[1].requires[0]"),
    ("due: 2020-04-17", "due: 2020-02-30", "milestones[0].due"),
    ("fan_out: {over: [county, domain], owner: county}\n    accepted_by: city",
     "fan_out: {over: [village, domain], owner: county}\n    accepted_by: city",
     "milestones[3].fan_out.over[0]"),
]


@pytest.mark.parametrize(("old", "new", "field"), BAD_PLANS)
def test_bad_plan_file_names_the_field_and_changes_nothing(loaded, tmp_path: Path, old, new, field):
    text = BUNDLED_PLAN.read_text(encoding="utf-8")
    assert old in text
    bad = tmp_path / "bad-plan.yaml"
    bad.write_text(
        text.replace(old, new, 1).replace("registry: jilin-registry.yaml", f"registry: {REGISTRY}"),
        encoding="utf-8",
    )
    before = _table_counts(loaded)
    proc = rollout("init", "--plan", str(bad), db_url=loaded, check=False)
    assert proc.returncode != 0
    assert str(bad) in proc.stderr.replace("\n", "") and field in proc.stderr
    assert _table_counts(loaded) == before


def test_a_database_never_initialised_gets_a_message_not_a_traceback(tmp_path: Path):
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    for args in (("status",), ("task", "show", "1"), ("dispatch",)):
        proc = rollout(*args, db_url=empty, check=False)
        assert proc.returncode == 1, args
        assert "rollout init" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
