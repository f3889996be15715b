"""Assessment numbers, XLSX and CSV against values worked out by hand (see conftest's scenario).

Expected at 2020-07-20 12:00 Beijing (weights of jilin-2020.yaml: 60 / 30 / 1 / 2):

County 220102: 78 tasks (26 catalog + 26 upload + 26 acceptance); 24 on time, 2 late
(3 + 5 = 8 working days, average 4); 52 open (upload due 10-15, acceptance 12-01: none overdue);
returned once; first pass 25 of 26 accepted; score 60*24/26 + 30*25/26 - 8 = 76.23.
County 220103: the extended task is on time (due in force 07-10); 25 other catalogs overdue;
score max(0, 60/26 + 30 - 50) = 0.
City 220100: city_filing 2 working days late; 11 city_review tasks open, not due (09-01);
score 0 + 30 - 2 = 28.
Department civil_affairs (social_assistance + elderly_care): 2 x (2 + 60 x 3) = 364 tasks; on time
1, late 1 (3 days), overdue 2 work_plan + 2 dept_filing + 2 x 59 catalogs = 122; first pass 1/2.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime

import openpyxl
import pytest
import sqlalchemy as sa
import yaml
from sqlmodel import select

from rollout import db
from rollout.calendar import TZ, WorkingCalendar
from rollout.errors import PlanError
from rollout.exports import (
    ExportFormat,
    Group,
    Outcome,
    assessment_export,
    assessment_rows,
    scoring_weights,
)
from rollout.models import Plan
from rollout.plans.schema import BUNDLED_PLAN
from tests.exports.conftest import CITY, COUNTY, COUNTY_B, EXTENDED

AS_OF = datetime(2020, 7, 20, 12, 0, tzinfo=TZ)
REGISTRY = yaml.safe_load((BUNDLED_PLAN.parent / "jilin-registry.yaml").read_text("utf-8"))
CIVIL = "220000.dept.civil_affairs"


def _table(engine: sa.Engine, calendar: WorkingCalendar):
    with db.read_session(engine) as s:
        plan = s.exec(select(Plan)).one()
        return assessment_rows(s, plan, AS_OF, calendar)


def test_counts_and_scores(assessed: sa.Engine, calendar: WorkingCalendar) -> None:
    t = _table(assessed, calendar)
    a = t.row(Group.county, COUNTY)
    assert (a.tasks, a.on_time, a.late, a.open, a.overdue) == (78, 24, 2, 52, 0)
    assert a.average_working_days_late == 4
    assert a.times_returned == 1
    assert (a.first_pass, a.accepted) == (25, 26)
    assert a.score == 76.23
    assert a.city_name == "长春市"

    b = t.row(Group.county, COUNTY_B)
    assert (b.tasks, b.on_time, b.late, b.open, b.overdue) == (78, 1, 0, 77, 25)
    assert b.average_working_days_late is None and b.first_pass_rate is None
    assert b.score == 0

    counties_of_city = sum(1 for c in REGISTRY["counties"] if c["city"] == CITY)
    c = t.row(Group.city, CITY)
    assert (c.tasks, c.on_time, c.late, c.open, c.overdue) == (1 + counties_of_city, 0, 1, 11, 0)
    assert c.average_working_days_late == 2
    assert c.score == 28

    d = t.row(Group.department, CIVIL)
    assert (d.tasks, d.on_time, d.late, d.open, d.overdue) == (364, 1, 1, 362, 122)
    assert d.average_working_days_late == 3 and d.first_pass_rate == 0.5

    assert len(t.rows[Group.city]) == len(REGISTRY["cities"])
    assert len(t.rows[Group.county]) == len(REGISTRY["counties"]) == 60
    assert len(t.rows[Group.department]) == len(REGISTRY["departments"])
    assert len(t.details) == 4805


def test_extension_counts_from_the_day_in_force(assessed: sa.Engine, calendar: WorkingCalendar) -> None:
    t = _table(assessed, calendar)
    row = next(d for d in t.details if d.task_key == f"catalog:{COUNTY_B}:{EXTENDED}")
    assert (row.original_due_on, row.due_on) == (date(2020, 7, 1), date(2020, 7, 10))
    assert row.outcome == Outcome.on_time and row.working_days_late is None
    late = next(d for d in t.details if d.task_key == f"catalog:{COUNTY}:employment")
    assert late.outcome == Outcome.late and late.working_days_late == 5


def test_xlsx_reads_back(assessed: sa.Engine, calendar: WorkingCalendar) -> None:
    with db.read_session(assessed) as s:
        plan = s.exec(select(Plan)).one()
        f = assessment_export(s, plan, AS_OF, calendar, ExportFormat.xlsx)
    assert f.filename == "绩效考核_jilin-2020_20200720.xlsx"
    wb = openpyxl.load_workbook(io.BytesIO(f.content))
    assert wb.sheetnames == ["汇总", "明细", "评分说明"]
    ws = wb["汇总"]
    assert ws.freeze_panes == "A2" and wb["明细"].freeze_panes == "A2"
    header = [c.value for c in ws[1]]
    assert header[:5] == ["类别", "单位代码", "单位名称", "所属市（州）", "任务数"]
    col = {h: i for i, h in enumerate(header)}
    rows = {(r[0].value, r[1].value): r for r in ws.iter_rows(min_row=2)}
    r = rows[("县（市、区）", COUNTY)]
    assert r[col["任务数"]].value == 78 and type(r[col["任务数"]].value) is int
    avg = r[col["平均逾期工作日"]]
    assert avg.value == 4 and isinstance(avg.value, (int, float)) and avg.number_format == "0.00"
    rate = r[col["一次验收通过率"]]
    assert rate.value == pytest.approx(25 / 26) and rate.number_format == "0.00%"
    assert r[col["得分"]].value == 76.23
    assert rows[("县（市、区）", COUNTY_B)][col["平均逾期工作日"]].value is None
    assert ws.column_dimensions["C"].width >= 12  # 单位名称: Chinese names, fitted
    detail = wb["明细"]
    dh = [c.value for c in detail[1]]
    assert detail.max_row == 4805 + 1
    by_key = {row[0].value: row for row in detail.iter_rows(min_row=2)}
    late = by_key[f"catalog:{COUNTY}:social_assistance"]
    assert late[dh.index("逾期工作日")].value == 3
    assert late[dh.index("考核结果")].value == "逾期完成"
    assert late[dh.index("原定截止日")].value == datetime(2020, 7, 1)  # an Excel date cell
    assert late[dh.index("提交时间")].value == datetime(2020, 7, 6, 10, 0)  # Beijing wall time


def test_csv_has_bom_and_same_numbers(assessed: sa.Engine, calendar: WorkingCalendar) -> None:
    with db.read_session(assessed) as s:
        plan = s.exec(select(Plan)).one()
        f = assessment_export(s, plan, AS_OF, calendar, ExportFormat.csv)
        d = assessment_export(s, plan, AS_OF, calendar, ExportFormat.csv, detail=True)
    assert f.content[:3] == b"\xef\xbb\xbf" and d.content[:3] == b"\xef\xbb\xbf"
    rows = list(csv.DictReader(io.StringIO(f.content.decode("utf-8-sig"))))
    r = next(x for x in rows if x["单位代码"] == COUNTY)
    assert float(r["平均逾期工作日"]) == 4
    assert (r["任务数"], r["按时完成"], r["逾期完成"], r["退回次数"]) == ("78", "24", "2", "1")
    assert r["一次验收通过率"] == "96.15%" and r["得分"] == "76.23"
    details = list(csv.DictReader(io.StringIO(d.content.decode("utf-8-sig"))))
    assert len(details) == 4805
    row = next(x for x in details if x["任务编号"] == f"catalog:{COUNTY}:employment")
    assert row["逾期工作日"] == "5" and row["提交时间"] == "2020-07-08 16:00"


def test_scoring_keys_are_validated() -> None:
    w = scoring_weights({"on_time": 50, "overdue_penalty": 0})
    assert (w.on_time, w.first_pass, w.overdue_penalty) == (50, 30, 0)
    with pytest.raises(PlanError, match="on_tme"):
        scoring_weights({"on_tme": 60})
    with pytest.raises(PlanError, match="first_pass"):
        scoring_weights({"first_pass": -1})


def test_bundled_plan_carries_its_weights(jilin: sa.Engine) -> None:
    with db.read_session(jilin) as s:
        plan = s.exec(select(Plan)).one()
    assert plan.scoring == {
        "on_time": 60, "first_pass": 30, "late_penalty_per_working_day": 1, "overdue_penalty": 2
    }
