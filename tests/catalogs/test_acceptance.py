"""The acceptance flow on the loaded Jilin plan (SQLite and PostgreSQL), the correction period
from the plan file, and the CLI.

To reach acceptance without the whole chain, the provincial office waives the upload tasks
(``requires: [upload]`` counts waived as delivered). Worked out by hand: returned on Monday
2020-09-28 with 10 working days to correct: 09-29, 09-30, (国庆节/中秋节 10-01..10-08 off),
10-09, Saturday 10-10 (make-up working day), 10-12, 13, 14, 15, 16, 19 → due 2020-10-19.
"""

from __future__ import annotations

import io
import shutil
from datetime import date, datetime

import openpyxl
import pytest
from sqlmodel import col, select
from typer.testing import CliRunner

from rollout import db
from rollout.calendar import TZ
from rollout.catalogs.acceptance import correction_working_days
from rollout.catalogs.store import import_catalog
from rollout.cli import app
from rollout.errors import PlanError
from rollout.flows.acceptance import accept_catalogs
from rollout.models import CompileReport, Finding, FindingKind, Plan, TaskState, TrackedTask
from rollout.plans.schema import BUNDLED_PLAN, load_plan_spec
from rollout.workflow import Action, Actor, Role, transition
from tests.catalogs.conftest import SOCIAL_ASSISTANCE, guideline_workbook

FISCAL = [("财政预决算", "政府预算"), ("财政预决算", "政府决算")]
SEPT_25 = datetime(2020, 9, 25, 10, 0, tzinfo=TZ)
SEPT_28 = datetime(2020, 9, 28, 10, 0, tzinfo=TZ)
OFFICE = Actor("220000.office", Role.office, "王五")
COUNTY = Actor("220102", Role.county, "张三")
BAD_TIME = ("第1项「综合业务 / 政策法规文件」的公开时限「尽快公开」无法识别，应写明如："
            "信息形成或变更之日起20个工作日内、常态化公开、实时、每年一季度")


def _ready(engine, calendar, domains: list[str]) -> None:
    """Waive 南关区's upload tasks of ``domains`` and submit their acceptance tasks (09-25)."""
    with db.unit_of_work(engine) as session:
        for d in domains:
            up = session.exec(select(TrackedTask).where(TrackedTask.key == f"upload:220102:{d}")).one()
            transition(session, up.id, Action.waive, OFFICE, now=SEPT_25, calendar=calendar, note="测试")
            acc = session.exec(select(TrackedTask).where(TrackedTask.key == f"acceptance:220102:{d}")).one()
            transition(session, acc.id, Action.submit, COUNTY, now=SEPT_25, calendar=calendar)


def test_returns_over_the_national_day_holiday_and_accepts_the_clean(jilin, db_url, calendar, prefect_harness):
    wb = guideline_workbook(SOCIAL_ASSISTANCE)
    book = openpyxl.load_workbook(io.BytesIO(wb))
    book.active.cell(row=4, column=6).value = "尽快公开"
    buf = io.BytesIO()
    book.save(buf)
    with db.unit_of_work(jilin) as session:
        import_catalog(session, "220102", "social_assistance", "sa.xlsx", buf.getvalue(), now=SEPT_25)
        import_catalog(session, "220102", "fiscal_budget", "fb.xlsx",
                       guideline_workbook(FISCAL), now=SEPT_25)
    _ready(jilin, calendar, ["fiscal_budget", "social_assistance", "elderly_care"])

    result = accept_catalogs(county="220102", database_url=db_url, as_of=SEPT_28.isoformat())
    # registry domain order: fiscal_budget (4th), social_assistance (15th), elderly_care (16th)
    assert [(o["domain_key"], o["action"], o["version"], o["new_due_on"], o["findings"])
            for o in result["outcomes"]] == [
        ("fiscal_budget", "accepted", 1, None, []),
        ("social_assistance", "returned", 1, "2020-10-19", [BAD_TIME]),
        ("elderly_care", "returned", None, "2020-10-19", ["未上传养老服务领域的公开事项目录"]),
    ]
    with db.read_session(jilin) as session:
        states = {t.key: (t.state, t.due_on) for t in session.exec(
            select(TrackedTask).where(col(TrackedTask.key).startswith("acceptance:220102:"),
                                      TrackedTask.state != TaskState.pending))}
        assert states == {
            "acceptance:220102:fiscal_budget": (TaskState.accepted, date(2020, 12, 1)),
            "acceptance:220102:social_assistance": (TaskState.returned, date(2020, 10, 19)),
            "acceptance:220102:elderly_care": (TaskState.returned, date(2020, 10, 19)),
        }
        reports = session.exec(select(CompileReport).order_by(CompileReport.id)).all()
        assert [(r.stage, r.clean, r.summary["task_action"]) for r in reports] == [
            ("acceptance", True, "accepted"), ("acceptance", False, "returned")]
        [f] = session.exec(select(Finding)).all()
        assert (f.kind, f.element, f.item_position, f.message) == (
            FindingKind.bad_time_limit, "time_limit", 1, BAD_TIME)
    [report] = result["reports"]
    assert {k: report[k] for k in ("accepted", "returned", "submitted", "not_submitted", "tasks")} == {
        "accepted": 1, "returned": 2, "submitted": 0, "not_submitted": 283, "tasks": 286}


def test_correction_period_comes_from_the_plan_file(tmp_path):
    assert correction_working_days(Plan(key="jilin-2020", title="t", source_file=str(BUNDLED_PLAN))) == 10
    # A moved file falls back to the bundled plan of the same key.
    assert correction_working_days(Plan(key="jilin-2020", title="t", source_file="/nowhere.yaml")) == 10
    text = BUNDLED_PLAN.read_text(encoding="utf-8")
    other = tmp_path / "jilin-2020.yaml"
    other.write_text(text.replace("acceptance_correction_working_days: 10",
                                  "acceptance_correction_working_days: 5"), encoding="utf-8")
    shutil.copy(BUNDLED_PLAN.parent / "jilin-registry.yaml", tmp_path)
    assert correction_working_days(Plan(key="jilin-2020", title="t", source_file=str(other))) == 5
    # Without the line the schema's default applies.
    other.write_text(text.replace("acceptance_correction_working_days: 10\n", ""), encoding="utf-8")
    assert load_plan_spec(other).acceptance_correction_working_days == 10
    other.write_text(text.replace("acceptance_correction_working_days: 10",
                                  "acceptance_correction_working_days: 0"), encoding="utf-8")
    with pytest.raises(PlanError, match="acceptance_correction_working_days"):
        load_plan_spec(other)
    with pytest.raises(PlanError, match="无法确定反馈改正期限"):
        correction_working_days(Plan(key="hebei-2021", title="t", source_file="/nowhere.yaml"))


def test_cli_review_and_accept(jilin, db_url, calendar, prefect_harness):
    url = db_url
    with db.unit_of_work(jilin) as session:
        import_catalog(session, "220102", "fiscal_budget", "fb.xlsx",
                       guideline_workbook(FISCAL), now=SEPT_25)
    _ready(jilin, calendar, ["fiscal_budget"])
    runner = CliRunner()
    res = runner.invoke(app, ["flow", "review", "--city", "长春市", "--as-of", "2020-09-28T10:00", "--db", url])
    assert res.exit_code == 0, res.output
    flat = lambda text: "".join(text.split())  # noqa: E731 - rich wraps long lines
    assert flat("220100：11 个县（市、区），齐全且检查通过 0 个") in flat(res.output)
    res = runner.invoke(app, ["flow", "accept", "--county", "南关区", "--as-of", "2020-09-28T10:00", "--db", url])
    assert res.exit_code == 0, res.output
    assert flat("长春市：验收通过 1，退回改正 0，待验收 0，未提交 285（共 286 个）") in flat(res.output)
    assert flat("检查 1 个目录：通过 1 个，退回改正 0 个（改正期限 10 个工作日）") in flat(res.output)
    res = runner.invoke(app, ["flow", "accept", "--db", url])
    assert res.exit_code != 0
    assert "请指定 --county、--city 或 --all 之一" in str(res.exception) + res.output
    res = runner.invoke(app, ["flow", "review", "--city", "无此市", "--db", url])
    assert res.exit_code != 0 and "无此市" in str(res.exception) + res.output
