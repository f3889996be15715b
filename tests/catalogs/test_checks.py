"""The element checks, the time-limit grammar, the guideline files and the service-list check."""

from __future__ import annotations

from pathlib import Path

import pytest

import rollout.plans
from rollout.catalogs.checks import TimeLimit, check_item, parse_time_limit
from rollout.catalogs.guidelines import compare, load_guideline
from rollout.catalogs.service_list import (
    ServiceItem,
    ServiceList,
    check_service_links,
    load_service_list,
)
from rollout.catalogs.tabular import ItemDraft
from rollout.models import FindingKind
from rollout.plans.schema import load_registry_spec

REGISTRY = Path(rollout.plans.__file__).parent / "data" / "jilin-registry.yaml"


@pytest.mark.parametrize(("text", "expected"), [
    ("信息形成或变更之日起20个工作日内", TimeLimit("event", 20, "工作日")),
    ("信息形成或者变更之日起20个工作日内", TimeLimit("event", 20, "工作日")),
    ("自信息形成之日起20个工作日内", TimeLimit("event", 20, "工作日")),
    ("制定或获取信息之日起10个工作日内，公示7个工作日", TimeLimit("event", 10, "工作日")),
    ("自受理之日起二十日内", TimeLimit("event", 20, "日")),
    ("常态化公开", TimeLimit("standing")),
    ("实时", TimeLimit("standing")),
    ("每年一季度", TimeLimit("periodic")),
    ("每年3月底前", TimeLimit("periodic")),
    ("2020年7月1日前", TimeLimit("dated")),
    ("尽快", None),
    ("20个工作日内", None),
    ("之日起20个工作日内", None),
    ("", None),
])
def test_time_limit_grammar(text, expected):
    assert parse_time_limit(text) == expected


def test_check_item_names_each_problem():
    item = ItemDraft(level1_name="最低生活保障", level2_name="审批信息", content="名单", basis="",
                     time_limit="尽快", subject="县民政局", methods=["proactive"],
                     channels=["government_website", "村务微信群"], audiences=[], levels=["county"])
    problems = check_item(item, 3)
    assert [(p.kind, p.element, p.position) for p in problems] == [
        (FindingKind.bad_element, "basis", 3),
        (FindingKind.bad_element, "audiences", 3),
        (FindingKind.unknown_vocabulary, "channels", 3),
        (FindingKind.bad_time_limit, "time_limit", 3),
    ]
    assert problems[0].message == "第3项「最低生活保障 / 审批信息」缺少要素：公开依据"
    assert problems[3].message.startswith("第3项「最低生活保障 / 审批信息」的公开时限「尽快」无法识别")


def test_every_registry_domain_has_a_guideline_file():
    keys = [d.key for d in load_registry_spec(REGISTRY).domains]
    assert len(keys) == 26
    guides = {k: load_guideline(k) for k in keys}
    assert len(guides["social_assistance"].items) == 13 and guides["social_assistance"].status == "完整"
    assert len(guides["elderly_care"].items) == 6 and len(guides["compulsory_education"].items) == 11
    # 户籍管理: the first five rows of the national table, checked in three county reproductions
    assert len(guides["household_registration"].items) == 5
    assert guides["household_registration"].status == "部分"
    # 财政预决算: its first two rows (政府预算, 政府决算), checked the same way
    assert [g.level2 for g in guides["fiscal_budget"].items] == ["政府预算", "政府决算"]
    pending = [k for k, g in guides.items() if g.status == "待补充"]
    # 救灾, 重大建设项目, 农村危房改造, 公共法律服务: partial (tests/catalogs/test_guidelines.py)
    assert len(pending) == 17 and all(guides[k].items == [] for k in pending)


def test_compare_lists_missing_and_extra_items():
    g = load_guideline("social_assistance")
    items = [ItemDraft(level1_name=a.level1, level2_name=a.level2) for a in g.items if a.level2 != "监督检查"]
    items.append(ItemDraft(level1_name="医疗救助", level2_name="办事指南"))
    result = compare(g, items)
    assert [m.label for m in result.missing] == ["综合业务 / 监督检查"]
    assert [(n, i.level1_name) for n, i in result.extra] == [(13, "医疗救助")]


def test_service_links_are_checked_against_the_platform_list(tmp_path):
    path = tmp_path / "services.csv"
    path.write_bytes("事项编码,事项名称\n220102-001,最低生活保障审批\n220102-002,临时救助审批\n".encode("gbk"))
    services = load_service_list(path)
    assert services.items == [ServiceItem("220102-001", "最低生活保障审批"), ServiceItem("220102-002", "临时救助审批")]
    items = [
        ItemDraft(level1_name="最低生活保障", level2_name="最低生活保障审批", service_item_link="220102-001"),
        ItemDraft(level1_name="临时救助", level2_name="临时救助审核审批", service_item_link="临时救助审批"),
        ItemDraft(level1_name="特困人员救助供养", level2_name="特困供养", service_item_link="220102-009"),
    ]
    problems = check_service_links(items, services)
    assert [(p.kind, p.position) for p in problems] == [
        (FindingKind.service_name_mismatch, 2), (FindingKind.service_name_mismatch, 3)]
    assert problems[0].message == ("第2项「临时救助 / 临时救助审核审批」的名称与政务服务平台事项名称不一致："
                                   "目录为「临时救助审核审批」，平台为「临时救助审批」")
    assert problems[1].message == "第3项「特困人员救助供养 / 特困供养」关联的政务服务事项「220102-009」不在政务服务事项清单中"
    assert ServiceList([]).find("x") is None
