"""The Jilin registry, checked against the plan text and the GB/T 2260 division list."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from sqlmodel import select

from rollout import db
from rollout.errors import NotFound
from rollout.models import Domain, Organization, OrgKind
from rollout.plans.registry import find_org, superiors_on

PLAN_TEXT = (Path(__file__).parents[1] / "data" / "jilin-2020-plan.txt").read_text(encoding="utf-8")

# County-level divisions per city in 2020 after 公主岭市 moved to 长春市 (民政部 2020 list):
# 长春 7 districts + 农安县 + 榆树/德惠/公主岭; 吉林 4 + 永吉 + 4 cities; 四平 2 + 梨树/伊通 + 双辽;
# 辽源 2 + 2; 通化 2 + 3 counties + 2 cities; 白山 2 + 3 + 临江; 松原 1 + 3 + 扶余; 白城 1 + 2 + 2;
# 延边 6 cities + 2 counties.
COUNTIES_PER_CITY = {
    "220100": 11, "220200": 9, "220300": 5, "220400": 4, "220500": 7,
    "220600": 6, "220700": 5, "220800": 5, "222400": 8,
}


def _departments_named_in_plan() -> list[str]:
    """The 18 short names in §三(一), "省发展改革委、…、省税务局（以下简称26个领域涉及到的中省直部门）"."""
    sentence = re.search(r"（一）编制基层政府26个领域政务公开事项标准目录。(.+?)（以下简称", PLAN_TEXT)
    assert sentence
    return sentence.group(1).split("、")


def test_plan_names_18_departments():
    assert len(_departments_named_in_plan()) == 18


def test_registry_counts_and_departments(jilin):
    with db.read_session(jilin) as s:
        orgs = s.exec(select(Organization)).all()
        by_kind = {k: [o for o in orgs if o.kind == k] for k in OrgKind}
        assert len(by_kind[OrgKind.office]) == 1
        assert sorted(o.short_name for o in by_kind[OrgKind.department]) == sorted(
            _departments_named_in_plan()
        )
        cities = by_kind[OrgKind.city]
        assert len(cities) == 11
        assert sum(o.is_zone for o in cities) == 2
        assert {o.short_name for o in cities if o.is_zone} == {"长白山管委会", "长春新区管委会"}
        counties = by_kind[OrgKind.county]
        assert len(counties) == 60
        assert all(re.fullmatch(r"22\d{4}", o.code) for o in counties)
        per_city = {c: sum(o.parent_code == c for o in counties) for c in COUNTIES_PER_CITY}
        assert per_city == COUNTIES_PER_CITY
        # a county's code starts with its city's 4-digit prefix (GB/T 2260)
        assert all(o.code[:4] == o.parent_code[:4] for o in counties)
        assert all(o.email and o.email.endswith("@example.org") for o in orgs)

        domains = s.exec(select(Domain)).all()
        assert len(domains) == 26
        dept_codes = {o.code for o in by_kind[OrgKind.department]}
        assert all(f"220000.dept.{d.department_key}" in dept_codes for d in domains)
        # every one of the 18 departments is responsible for at least one domain
        assert {f"220000.dept.{d.department_key}" for d in domains} == dept_codes
        # every unit is of 吉林省 (220000)
        assert {o.province_code for o in orgs} == {"220000"}
        names = {d.name for d in domains}
        assert {"社会救助", "义务教育", "户籍管理", "财政预决算", "保障性住房"} <= names


def test_gongzhuling_moves_from_siping_to_changchun(jilin):
    with db.read_session(jilin) as s:
        org = find_org(s, "220381")  # the former code is an alias
        assert (org.code, org.name, org.parent_code) == ("220184", "公主岭市", "220100")
        assert superiors_on(s, date(2020, 5, 6))["220184"] == "220300"
        assert superiors_on(s, date(2020, 9, 1))["220184"] == "220100"
        assert superiors_on(s, date(2020, 9, 1))["220102"] == "220100"


def test_find_org_by_name_short_name_and_kind(jilin):
    with db.read_session(jilin) as s:
        assert find_org(s, "延边朝鲜族自治州").code == "222400"
        assert find_org(s, "延边", OrgKind.city).code == "222400"
        with pytest.raises(NotFound, match="南关区"):
            find_org(s, "南关区", OrgKind.city)
