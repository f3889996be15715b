"""The guideline files entered from county reproductions of the national tables (status 部分):
their items as read by hand from the sources cited in each file's header, and compile's 缺项
finding naming a guideline item a catalog lacks.

Worked out from the sources (not from the files): 救灾 rows 1–6 of 佛山市南海区 and 东莞市清溪镇 (all
under 一级事项 政策文件); 重大建设项目 five items each in two or more county copies; 农村危房改造 the
four rows 夏县 and 平武县 share (计划实施 / 任务分配 and three 条件与标准 rows); 公共法律服务 rows 1–2
of 三门县, 东阳市 and 东莞东城.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from rollout import db
from rollout.calendar import TZ
from rollout.catalogs.compile import catalog_problems
from rollout.catalogs.guidelines import compare, load_guideline
from rollout.catalogs.store import import_catalog
from rollout.catalogs.tabular import ItemDraft
from rollout.models import FindingKind
from tests.catalogs.conftest import guideline_workbook

JUNE_20 = datetime(2020, 6, 20, 10, 0, tzinfo=TZ)

DISASTER_RELIEF = [("政策文件", "法律法规"), ("政策文件", "部门和地方规章"), ("政策文件", "其他政策文件"),
                   ("政策文件", "标准"), ("政策文件", "重大决策草案"), ("政策文件", "重大政策解读及回应")]


@pytest.mark.parametrize(("key", "count", "named"), [
    ("disaster_relief", 6, [("政策文件", "标准"), ("政策文件", "重大政策解读及回应")]),
    ("major_construction_projects", 5, [("批准服务信息", "办事指南"), ("征收土地信息", "征收土地信息")]),
    ("rural_dilapidated_housing", 4, [("计划实施", "任务分配"), ("条件与标准", "农村危房改造资金补助标准")]),
    ("public_legal_services", 2, [("法治宣传教育", "法律知识普及服务"), ("法治宣传教育", "推广法治文化服务")]),
])
def test_partial_guidelines_hold_the_items_checked_in_the_sources(key, count, named):
    g = load_guideline(key)
    assert g.status == "部分" and g.domain == key
    pairs = [(i.level1, i.level2) for i in g.items]
    assert len(pairs) == count and len(set(pairs)) == count
    assert all(n in pairs for n in named)


def test_disaster_relief_items_in_the_order_of_the_national_table():
    assert [(i.level1, i.level2) for i in load_guideline("disaster_relief").items] == DISASTER_RELIEF


@pytest.mark.parametrize(("key", "dropped"), [
    ("disaster_relief", "政策文件 / 标准"),
    ("major_construction_projects", "批准结果信息 / 政府投资项目建议书审批"),
    ("rural_dilapidated_housing", "条件与标准 / 农村危房等级评定标准"),
    ("public_legal_services", "法治宣传教育 / 推广法治文化服务"),
])
def test_compare_names_the_missing_item_and_lists_no_extra_for_a_partial_guideline(key, dropped):
    g = load_guideline(key)
    items = [ItemDraft(level1_name=i.level1, level2_name=i.level2) for i in g.items if i.label != dropped]
    items.append(ItemDraft(level1_name="本县增列", level2_name="工作动态"))
    result = compare(g, items)
    assert [m.label for m in result.missing] == [dropped]
    assert result.extra == []


def test_compile_reports_the_missing_disaster_relief_item_by_name(jilin):
    lacking = [n for n in DISASTER_RELIEF if n != ("政策文件", "标准")]
    with db.unit_of_work(jilin) as session:
        imported = import_catalog(session, "南关区", "救灾", "南关区救灾v1.xlsx",
                                  guideline_workbook(lacking, title="救灾领域基层政务公开标准目录"),
                                  now=JUNE_20, actor="张三")
        problems, status = catalog_problems(session, imported.catalog, imported.version.id, None)
    assert status == "部分"
    assert [(p.kind, p.message) for p in problems] == [
        (FindingKind.missing_item,
         "缺项：救灾领域标准指引中的「政策文件 / 标准」未列入目录（应急管理部《救灾领域基层政务公开标准指引》（2019年））")]
