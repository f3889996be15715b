"""Compile end to end on the loaded Jilin plan, on SQLite and PostgreSQL, through real Prefect
flow runs: a 社会救助 catalog lacking one guideline item stays open with a finding naming it; the
corrected version is submitted. Also: a failed import writes nothing, and the CLI round trip."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlmodel import col, select
from typer.testing import CliRunner

from rollout import db
from rollout.calendar import TZ
from rollout.catalogs.store import import_catalog, version_items
from rollout.cli import app
from rollout.errors import CatalogImportError
from rollout.flows.compile import compile_catalogs
from rollout.models import (
    AuditEvent,
    Catalog,
    CatalogItem,
    CatalogVersion,
    CompileReport,
    Finding,
    FindingKind,
    FindingStatus,
    TaskState,
    TrackedTask,
)
from tests.catalogs.conftest import SOCIAL_ASSISTANCE, guideline_workbook

JUNE_20 = datetime(2020, 6, 20, 10, 0, tzinfo=TZ)
JUNE_24 = datetime(2020, 6, 24, 15, 30, tzinfo=TZ)
TASK_KEY = "catalog:220102:social_assistance"


def _task(session) -> TrackedTask:
    return session.exec(select(TrackedTask).where(TrackedTask.key == TASK_KEY)).one()


def test_missing_item_leaves_the_task_open_until_the_corrected_version(jilin, db_url, prefect_harness):
    lacking = [n for n in SOCIAL_ASSISTANCE if n != ("临时救助", "审核审批信息")]
    assert len(lacking) == 12
    with db.unit_of_work(jilin) as session:
        import_catalog(session, "南关区", "社会救助", "南关区社会救助v1.xlsx", guideline_workbook(lacking),
                       now=JUNE_20, actor="张三")

    state = compile_catalogs(county="220102", database_url=db_url, as_of=JUNE_20.isoformat(),
                             return_state=True)
    assert state.is_completed()
    first = state.result()
    assert (first["counties"], first["catalogs"], first["submitted"], first["left_open"]) == (1, 1, 0, 1)
    with db.read_session(jilin) as session:
        task = _task(session)
        assert task.state == TaskState.pending
        findings = session.exec(select(Finding).where(Finding.status == FindingStatus.open)).all()
        assert [(f.kind, f.blocking, f.item_position) for f in findings] == [
            (FindingKind.missing_item, True, None)]
        assert findings[0].message == ("缺项：社会救助领域标准指引中的「临时救助 / 审核审批信息」未列入目录"
                                       "（民政部《社会救助领域基层政务公开标准指引》（2019年））")

    # Running again without a new version changes nothing.
    again = compile_catalogs(county="220102", database_url=db_url, as_of=JUNE_20.isoformat())
    assert (again["unchanged"], again["left_open"]) == (1, 0)

    with db.unit_of_work(jilin) as session:
        imported = import_catalog(session, "220102", "social_assistance", "南关区社会救助v2.xlsx",
                                  guideline_workbook(SOCIAL_ASSISTANCE), now=JUNE_24, actor="张三")
        assert imported.version.number == 2 and imported.version.item_count == 13
    second = compile_catalogs(city="220100", database_url=db_url, as_of=JUNE_24.isoformat())
    # 长春市 has 11 counties now (10 + 公主岭市); only 南关区 has a catalog.
    assert (second["counties"], second["catalogs"], second["submitted"]) == (11, 1, 1)

    with db.read_session(jilin) as session:
        task = _task(session)
        assert task.state == TaskState.submitted
        assert task.submitted_at == JUNE_24
        assert session.exec(select(Finding).where(Finding.status == FindingStatus.open)).all() == []
        old = session.exec(select(Finding)).one()
        assert (old.status, old.resolved_at) == (FindingStatus.resolved, JUNE_24)
        reports = session.exec(select(CompileReport).order_by(CompileReport.id)).all()
        assert [(r.clean, r.finding_count) for r in reports] == [(False, 1), (True, 0)]
        events = session.exec(
            select(AuditEvent).where(AuditEvent.task_id == task.id).order_by(col(AuditEvent.id))
        ).all()
        assert [(e.kind, e.at) for e in events] == [
            ("catalog_imported", JUNE_20), ("catalog_compiled", JUNE_20),
            ("catalog_imported", JUNE_24), ("task_submitted", JUNE_24), ("catalog_compiled", JUNE_24),
        ]
        assert events[1].detail["findings"] == [findings[0].message]
        assert events[3].actor_org_code == "220102"
        assert events[3].after["state"] == "submitted"


def test_an_unreadable_file_imports_nothing(jilin):
    with db.unit_of_work(jilin) as session:
        import_catalog(session, "220102", "social_assistance", "v1.xlsx",
                       guideline_workbook(SOCIAL_ASSISTANCE), now=JUNE_20)
    bad = "序号,一级事项,二级事项,公开内容,公开依据,公开时限,公开主体,公开渠道和载体,全社会,特定群体,主动,依申请\n" \
          "1,a,b,c,d,常态化公开,e,政府网站,√,,是的,\n"
    with pytest.raises(CatalogImportError, match="第 2 行第 K 列"):
        with db.unit_of_work(jilin) as session:
            import_catalog(session, "220102", "social_assistance", "v2.csv", bad.encode(), now=JUNE_24)
    with db.read_session(jilin) as session:
        assert len(session.exec(select(Catalog)).all()) == 1
        assert [v.number for v in session.exec(select(CatalogVersion))] == [1]
        assert len(session.exec(select(CatalogItem)).all()) == 13
        assert len(session.exec(select(AuditEvent).where(AuditEvent.kind == "catalog_imported")).all()) == 1


def test_cli_import_export_round_trip(jilin, db_url, tmp_path):
    src = tmp_path / "南关区社会救助.xlsx"
    src.write_bytes(guideline_workbook(SOCIAL_ASSISTANCE))
    runner = CliRunner()
    res = runner.invoke(app, ["catalog", "import", str(src), "--county", "南关区", "--domain", "社会救助",
                              "--at", "2020-06-20T10:00", "--db", db_url])
    assert res.exit_code == 0, res.output
    assert "已导入第 1 版：13 项" in res.output
    out_csv = tmp_path / "out.csv"
    res = runner.invoke(app, ["catalog", "export", "--county", "220102", "--domain", "social_assistance",
                              "--format", "csv", "--out", str(out_csv), "--db", db_url])
    assert res.exit_code == 0, res.output
    assert out_csv.read_bytes()[:3] == b"\xef\xbb\xbf"
    res = runner.invoke(app, ["catalog", "import", str(out_csv), "--county", "220102", "--domain",
                              "social_assistance", "--at", "2020-06-21T10:00", "--db", db_url])
    assert res.exit_code == 0, res.output
    with db.read_session(jilin) as session:
        v1, v2 = session.exec(select(CatalogVersion).order_by(CatalogVersion.number)).all()
        strip = lambda items: [i.__dict__ | {"source_row": None} for i in items]  # noqa: E731
        assert strip(version_items(session, v1.id)) == strip(version_items(session, v2.id))
        first = version_items(session, v1.id)[0]
        assert (first.level1_name, first.level2_name, first.channels) == (
            "综合业务", "政策法规文件", ["government_website", "service_hall"])
    res = runner.invoke(app, ["catalog", "import", str(out_csv), "--county", "无此县", "--domain",
                              "社会救助", "--db", db_url])
    assert res.exit_code != 0 and "无此县" in str(res.exception)
