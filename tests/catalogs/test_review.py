"""The review flow (复核材料) on the loaded Jilin plan through real Prefect flow runs, on SQLite and
PostgreSQL, and the escalation of an unsigned county by the deadline sweep.

By hand: 长春市 has 11 counties today; the registry has 26 domains. 南关区 imports 社会救助 v1
(the 13 guideline items minus 临时救助/审核审批信息, plus an extra 综合业务/工作动态) and 养老服务
(the 6 items of its partial guideline), both compiled on 06-20: 养老服务 clean, 社会救助 with one
missing item. v2 of 社会救助 (06-24) has the 13 guideline items, drops 工作动态 and rewords the
content of 综合业务/监督检查.
"""

from __future__ import annotations

import io
from datetime import date, datetime

import openpyxl
from sqlmodel import col, select

from rollout import db
from rollout.calendar import TZ
from rollout.catalogs.review import diff_items, newest_packet
from rollout.catalogs.store import import_catalog
from rollout.catalogs.tabular import ItemDraft
from rollout.flows.compile import compile_catalogs
from rollout.flows.review import review_city
from rollout.models import OutboxMessage, ReviewPacket, TrackedTask
from rollout.sweep import sweep_all
from rollout.workflow import Action, Actor, Role, transition
from tests.catalogs.conftest import SOCIAL_ASSISTANCE, guideline_workbook

JUNE_20 = datetime(2020, 6, 20, 10, 0, tzinfo=TZ)
JUNE_24 = datetime(2020, 6, 24, 10, 0, tzinfo=TZ)
JUNE_25 = datetime(2020, 6, 25, 10, 0, tzinfo=TZ)
JUNE_29 = datetime(2020, 6, 29, 10, 0, tzinfo=TZ)
ELDERLY = [("养老服务通用政策", "国家和地方层面养老服务相关法律、法规、政策文件"),
           ("养老服务通用政策", "养老服务扶持政策措施清单"), ("养老服务通用政策", "养老机构投资指南"),
           ("养老服务业务办理", "养老机构备案"), ("养老服务业务办理", "养老服务扶持补贴"),
           ("养老服务业务办理", "老年人补贴")]
MISSING = ("缺项：社会救助领域标准指引中的「临时救助 / 审核审批信息」未列入目录"
           "（民政部《社会救助领域基层政务公开标准指引》（2019年））")


def _with_content(data: bytes, row: int, text: str) -> bytes:
    wb = openpyxl.load_workbook(io.BytesIO(data))
    wb.active.cell(row=row, column=4).value = text
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_diff_items_matches_by_both_names():
    a = ItemDraft(level1_name="综合业务", level2_name="政策法规文件", content="x", channels=["press"])
    b = ItemDraft(level1_name="综合 业务", level2_name="政策法规文件", content="y", channels=["other"])
    c = ItemDraft(level1_name="临时救助", level2_name="办事指南")
    d = ItemDraft(level1_name="最低生活保障", level2_name="办事指南")
    diff = diff_items([a, c], [b, d])
    assert diff.added == ["最低生活保障 / 办事指南"]
    assert diff.removed == ["临时救助 / 办事指南"]
    assert diff.changed == [{"item": "综合 业务 / 政策法规文件", "elements": ["公开内容", "公开渠道和载体"]}]


def test_review_packets_of_a_city(jilin, db_url, prefect_harness):
    # the builder merges a 一级事项 cell over its rows: keep each 一级事项's items together
    v1 = [n for n in SOCIAL_ASSISTANCE if n != ("临时救助", "审核审批信息")]
    v1.insert(2, ("综合业务", "工作动态"))
    with db.unit_of_work(jilin) as session:
        import_catalog(session, "220102", "社会救助", "v1.xlsx", guideline_workbook(v1), now=JUNE_20)
        import_catalog(session, "220102", "养老服务", "v1.xlsx", guideline_workbook(ELDERLY), now=JUNE_20)
    compile_catalogs(county="220102", database_url=db_url, as_of=JUNE_20.isoformat())
    with db.unit_of_work(jilin) as session:
        # row 5 is the second item, 综合业务 / 监督检查
        v2 = _with_content(guideline_workbook(SOCIAL_ASSISTANCE), 5, "监督检查结果及整改情况")
        import_catalog(session, "220102", "social_assistance", "v2.xlsx", v2, now=JUNE_24)

    state = review_city("220100", database_url=db_url, as_of=JUNE_25.isoformat(), return_state=True)
    assert state.is_completed()
    result = state.result()
    assert (result["city"], result["counties"], result["complete"]) == ("220100", 11, 0)
    assert [p["county_code"] for p in result["packets"]] == [
        "220102", "220103", "220104", "220105", "220106", "220112", "220113", "220122", "220182",
        "220183", "220184"]
    with db.read_session(jilin) as session:
        packet = newest_packet(session, "220102")
        assert (packet.city_code, packet.created_at, packet.domains_total, packet.domains_clean,
                packet.domains_missing, packet.open_findings, packet.complete) == (
            "220100", JUNE_25, 26, 1, 24, 1, False)
        review_task = session.get(TrackedTask, packet.task_id)
        assert review_task.key == "city_review:220102"
        rows = {r["domain"]: r for r in packet.detail["domains"]}
        assert list(rows)[:3] == ["urban_rural_planning", "major_construction_projects",
                                  "public_resource_trading"]
        assert rows["social_assistance"] == {
            "domain": "social_assistance", "name": "社会救助", "status": "not_compiled",
            "task_state": "pending", "version": 2, "report_id": None, "blocking": 0}
        assert (rows["elderly_care"]["status"], rows["elderly_care"]["task_state"],
                rows["elderly_care"]["version"]) == ("clean", "submitted", 1)
        assert (rows["fiscal_budget"]["status"], rows["fiscal_budget"]["version"]) == ("missing", None)
        assert packet.detail["findings"] == [
            {"domain": "social_assistance", "kind": "missing_item", "message": MISSING}]
        assert packet.detail["changes"] == [{
            "domain": "social_assistance", "from_version": 1, "to_version": 2,
            "added": ["临时救助 / 审核审批信息"], "removed": ["综合业务 / 工作动态"],
            "changed": [{"item": "综合业务 / 监督检查", "elements": ["公开内容"]}],
        }]
        other = newest_packet(session, "220184")
        assert (other.domains_missing, other.domains_clean, other.detail["changes"]) == (26, 0, [])

    compile_catalogs(county="220102", database_url=db_url, as_of=JUNE_29.isoformat())
    again = review_city("长春市", database_url=db_url, as_of=JUNE_29.isoformat())
    [mine] = [p for p in again["packets"] if p["county_code"] == "220102"]
    assert (mine["domains_clean"], mine["open_findings"], mine["complete"]) == (2, 0, False)
    with db.read_session(jilin) as session:
        assert len(session.exec(select(ReviewPacket)).all()) == 22
        assert newest_packet(session, "220102").created_at == JUNE_29


def test_an_unsigned_county_is_escalated_after_the_review_deadline(jilin, calendar):
    """city_review is due Tuesday 2020-09-01; escalation-1 falls one working day later, Wednesday
    09-02 at 09:00, one level up from the city: the provincial office. A county whose review
    task is done (here waived by the office) gets nothing."""
    office = Actor("220000.office", Role.office, "王五")
    with db.unit_of_work(jilin) as session:
        [waived] = session.exec(select(TrackedTask).where(TrackedTask.key == "city_review:220103")).all()
        transition(session, waived.id, Action.waive, office, now=JUNE_20, calendar=calendar,
                   note="试点调整")
    now = datetime(2020, 9, 2, 10, 0, tzinfo=TZ)
    sweep_all(lambda: db.unit_of_work(jilin), now, calendar)
    with db.read_session(jilin) as session:
        rows = session.exec(
            select(OutboxMessage, TrackedTask)
            .join(TrackedTask, col(TrackedTask.id) == OutboxMessage.task_id)
            .where(col(TrackedTask.key).in_(["city_review:220102", "city_review:220103"]),
                   OutboxMessage.status == "pending")
        ).all()
        assert [(t.key, m.step_key, m.kind, m.levels_up, m.recipient_org_code, m.scheduled_on)
                for m, t in rows] == [
            ("city_review:220102", "escalation-1", "escalation", 1, "220000.office", date(2020, 9, 2))]
