"""A registry of two provinces (tests/data/two_provinces): loading, fan-out keys and owners,
who may accept, who sees what, requirements within one province, and the file checks.

Facts of the data files, read by hand: provinces 110000 (1 city 110100, 1 county 110101) and
220000 (1 city 220100, counties 220102 and 220103, townships 220102001 and 220102101); domains
social_assistance (department key civil_affairs) and compulsory_education (education).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from rollout import db
from rollout.calendar import TZ
from rollout.errors import NotFound, PlanError
from rollout.models import AuditEvent, Domain, Organization, OrgKind, TrackedTask
from rollout.plans.fanout import instantiate_plan
from rollout.plans.registry import office_of
from rollout.plans.schema import load_registry_spec
from rollout.workflow import Action, Actor, Role, may, waiting_for

DATA = Path(__file__).parents[1] / "data" / "two_provinces"
PLAN = DATA / "plan.yaml"
AT = datetime(2020, 3, 20, 9, 0, tzinfo=TZ)
DOMAINS = {"social_assistance": "civil_affairs", "compulsory_education": "education"}
COUNTIES = {"110101": "110100", "220102": "220100", "220103": "220100"}  # county -> its city
TOWNSHIPS = ["220102001", "220102101"]


def _expected() -> dict[str, str]:
    """Task key -> owner, worked out from the files and the fan-out rules."""
    out: dict[str, str] = {}
    for prov in ("110000", "220000"):
        for dom, dept in DOMAINS.items():
            out[f"work_plan:{prov}:{dom}"] = f"{prov}.dept.{dept}"
            out[f"dept_filing:{prov}:{dom}"] = f"{prov}.dept.{dept}"
        out[f"training:{prov}"] = f"{prov}.office"
    for city in ("110100", "220100"):
        out[f"city_filing:{city}"] = city
    for county, city in COUNTIES.items():
        out[f"city_review:{county}"] = city
        for dom in DOMAINS:
            out[f"catalog:{county}:{dom}"] = county
            out[f"acceptance:{county}:{dom}"] = county
    for town in TOWNSHIPS:
        for dom in DOMAINS:
            out[f"township_catalog:{town}:{dom}"] = town
    return out


@pytest.fixture
def two(engine: sa.Engine, calendar) -> sa.Engine:
    with db.unit_of_work(engine) as s:
        instantiate_plan(s, PLAN, now=AT, calendar=calendar)
    return engine


def _task(s: Session, key: str) -> TrackedTask:
    return s.exec(select(TrackedTask).where(TrackedTask.key == key)).one()


def test_two_provinces_load_with_their_province_codes(two):
    with db.read_session(two) as s:
        rows = {o.code: o for o in s.exec(select(Organization))}
        assert len(rows) == 2 * (1 + 2) + 2 + 3 + 2  # offices + departments, cities, counties, townships
        assert {c: o.province_code for c, o in rows.items() if c.startswith("11")} == dict.fromkeys(
            ["110000.office", "110000.dept.civil_affairs", "110000.dept.education", "110100",
             "110101"], "110000")
        assert {o.province_code for c, o in rows.items() if c.startswith("22")} == {"220000"}
        assert rows["220102001"].kind == OrgKind.township
        assert rows["220102001"].parent_code == "220102"
        assert rows["110000.dept.education"].parent_code == "110000.office"
        assert {d.key: d.department_key for d in s.exec(select(Domain))} == DOMAINS
        assert office_of(s, "110000").code == "110000.office"
        assert office_of(s, "220000").code == "220000.office"
        with pytest.raises(NotFound, match="2 个省"):
            office_of(s)
        with pytest.raises(NotFound, match="330000"):
            office_of(s, "330000")


def test_fan_out_keys_and_owners_and_rerun_creates_nothing(two, calendar):
    expected = _expected()
    assert len(expected) == 4 + 4 + 2 + 6 + 4 + 2 + 3 + 6
    with db.read_session(two) as s:
        got = dict(s.exec(select(TrackedTask.key, TrackedTask.org_code)).all())
        assert got == expected
        # province-level tasks have no unit; unit tasks carry their unit
        assert _task(s, "training:110000").unit_code is None
        assert _task(s, "work_plan:110000:social_assistance").unit_code is None
        town = _task(s, "township_catalog:220102101:compulsory_education")
        assert (town.unit_code, town.domain_key, town.due_on.isoformat()) == (
            "220102101", "compulsory_education", "2020-07-01")
    with db.unit_of_work(two) as s:
        report = instantiate_plan(s, PLAN, now=AT, calendar=calendar)
    assert (report.created, report.total) == (0, len(expected))


def test_acceptance_by_the_department_of_the_task_province_only(two):
    with db.read_session(two) as s:
        task = _task(s, "acceptance:110101:compulsory_education")
        b_edu = Actor("110000.dept.education", Role.department)
        a_edu = Actor("220000.dept.education", Role.department)
        b_civil = Actor("110000.dept.civil_affairs", Role.department)
        assert may(s, b_edu, task, Action.accept)
        assert not may(s, a_edu, task, Action.accept)
        assert not may(s, b_civil, task, Action.accept)


def test_a_department_sees_its_domains_in_its_province(two):
    from rollout.actions.scope import scope_condition

    with db.read_session(two) as s:
        cond = scope_condition(s, Actor("110000.dept.education", Role.department))
        keys = set(s.exec(select(TrackedTask.key).where(cond)).all())
    assert keys == {
        "work_plan:110000:compulsory_education", "dept_filing:110000:compulsory_education",
        "catalog:110101:compulsory_education", "acceptance:110101:compulsory_education",
    }


def test_requirements_match_within_the_province(two):
    with db.read_session(two) as s:
        filing = _task(s, "dept_filing:220000:social_assistance")
        assert [t.key for t in waiting_for(s, filing)] == ["work_plan:220000:social_assistance"]
        review = _task(s, "city_review:220102")
        assert [t.key for t in waiting_for(s, review)] == [
            "catalog:220102:compulsory_education", "catalog:220102:social_assistance"]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "registry.yaml"
    path.write_text(text, encoding="utf-8")
    return path


BLOCK = """
  - province: {{code: "{p}", name: 省{p}}}
    office: {{name: 公开办{p}}}
    departments: [{{key: civil_affairs, name: 民政{p}{extra}}}]
    cities: [{{code: "{c}", name: 市{c}}}]
    counties: [{{code: "{k}", name: 县{k}, city: "{c}"}}]
    townships: [{{code: "{t}", name: 镇{t}, county: "{tc}"}}]
"""


def _registry(blocks: list[dict[str, str]]) -> str:
    head = "domains: [{key: social_assistance, name: 社会救助, department: civil_affairs}]\nprovinces:"
    return head + "".join(BLOCK.format(**{"extra": "", **b}) for b in blocks)


def test_registry_file_problems_are_named(tmp_path: Path):
    ok = {"p": "110000", "c": "110100", "k": "110101", "t": "110101001", "tc": "110101"}
    load_registry_spec(_write(tmp_path, _registry([ok])))  # valid
    bad_town = {**ok, "tc": "110199"}
    with pytest.raises(PlanError, match=r"provinces\[0\]\.townships\[0\]\.county: 未知的县（市、区）'110199'"):
        load_registry_spec(_write(tmp_path, _registry([bad_town])))
    # a township may not name a county of another province
    other = {"p": "120000", "c": "120100", "k": "120101", "t": "120101001", "tc": "110101"}
    with pytest.raises(PlanError, match=r"provinces\[1\]\.townships\[0\]\.county"):
        load_registry_spec(_write(tmp_path, _registry([ok, other])))
    with pytest.raises(PlanError, match="机构代码重复：110000, 110100, 110101, 110101001"):
        load_registry_spec(_write(tmp_path, _registry([ok, ok])))
    wrong_code = {**ok, "extra": ", code: 110000.dept.mca"}
    with pytest.raises(PlanError, match=r"departments\[0\]\.code: 须为 '110000.dept.civil_affairs'"):
        load_registry_spec(_write(tmp_path, _registry([wrong_code])))
    mixed = _registry([ok]) + '\nprovince: {code: "110000", name: x}\n'
    with pytest.raises(PlanError, match="不能同时出现"):
        load_registry_spec(_write(tmp_path, mixed))
    broken_json = "# 注释\n" + '{"domains": [}'
    with pytest.raises(PlanError, match="YAML 格式错误"):
        load_registry_spec(_write(tmp_path, broken_json))
    short_town = {**ok, "t": "1101010"}
    with pytest.raises(PlanError, match=r"townships\[0\]\.code"):
        load_registry_spec(_write(tmp_path, _registry([short_town])))


def test_one_province_keys_have_no_province_part(jilin):
    """Jilin (one province): the unit-less keys are as before the multi-province shape."""
    with db.read_session(jilin) as s:
        keys = set(s.exec(select(TrackedTask.key).where(col(TrackedTask.unit_code).is_(None))).all())
    assert "training" in keys and "go_live" in keys
    assert "work_plan:social_assistance" in keys and "dept_filing:fiscal_budget" in keys
    assert len(keys) == 26 + 26 + 2


def test_cli_acts_as_the_office_of_the_task_province(tmp_path: Path):
    """``rollout task start`` without ``--as``: the office of the task's province acts."""
    url = f"sqlite:///{tmp_path / 'two.db'}"
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "rollout", *args, "--db", url],
                              capture_output=True, text=True, env=env, timeout=120)

    assert run("init", "--plan", str(PLAN)).returncode == 0
    started = run("task", "start", "catalog:110101:social_assistance", "--at", "2020-06-01T10:00:00+08:00")
    assert started.returncode == 0, started.stderr
    engine = db.get_engine(url)
    with db.read_session(engine) as s:
        actors = s.exec(select(AuditEvent.actor_org_code).where(AuditEvent.kind == "task_started")).all()
    assert actors == ["110000.office"]
    engine.dispose()
    db.get_engine.cache_clear()


def test_an_office_has_powers_in_its_own_province_only(two):
    """110000's office sees, starts, waives and accepts 110000's tasks and none of 220000's;
    a task outside its scope is not found (the API's 404), as for any other unit."""
    from rollout.actions.scope import scope_condition, visible_task

    b_office, a_office = Actor("110000.office", Role.office), Actor("220000.office", Role.office)
    with db.read_session(two) as s:
        keys = set(s.exec(select(TrackedTask.key).where(scope_condition(s, b_office))).all())
        assert keys == {k for k in _expected() if ":110" in k}
        b_task = _task(s, "acceptance:110101:compulsory_education")
        for action in (Action.start, Action.submit, Action.waive, Action.accept):
            assert may(s, b_office, b_task, action)
            assert not may(s, a_office, b_task, action)
        assert visible_task(s, b_office, b_task.id).key == b_task.key
        with pytest.raises(NotFound):
            visible_task(s, a_office, b_task.id)
