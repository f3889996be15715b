"""``rollout export assessment|ics`` as a clerk runs them (real processes, SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import icalendar
import openpyxl
import sqlalchemy as sa

from tests.exports.conftest import COUNTY


def rollout(*args: str, engine: sa.Engine, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    url = engine.url.render_as_string(hide_password=False)
    return subprocess.run(
        [sys.executable, "-m", "rollout", *args, "--db", url],
        capture_output=True, text=True, env=env, timeout=300, cwd=cwd,
    )


def test_export_assessment_csv_and_xlsx(assessed: sa.Engine, tmp_path: Path) -> None:
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    out = tmp_path / "考核.csv"
    p = rollout("export", "assessment", "--format", "csv", "--as-of", "2020-07-20",
                "--out", str(out), engine=assessed, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    raw = out.read_bytes()
    assert raw[:3] == b"\xef\xbb\xbf"
    row = next(r for r in csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))
               if r["单位代码"] == COUNTY)
    assert row["平均逾期工作日"] == "4" and row["得分"] == "76.23"

    p = rollout("export", "assessment", "--as-of", "2020-07-20", engine=assessed, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    xlsx = tmp_path / "绩效考核_jilin-2020_20200720.xlsx"
    ws = openpyxl.load_workbook(xlsx)["汇总"]
    header = [c.value for c in ws[1]]
    r = next(r for r in ws.iter_rows(min_row=2) if r[1].value == COUNTY)
    assert r[header.index("平均逾期工作日")].value == 4


def test_export_ics_and_bad_input(jilin: sa.Engine, tmp_path: Path) -> None:
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    p = rollout("export", "ics", "--org", "南关区", engine=jilin, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    cal = icalendar.Calendar.from_ical((tmp_path / f"{COUNTY}.ics").read_bytes())
    assert len(cal.walk("VEVENT")) == 78

    p = rollout("export", "ics", "--org", "不存在的县", "--out", "x.ics", engine=jilin, cwd=tmp_path)
    assert p.returncode != 0 and "不存在的县" in p.stderr
    assert not (tmp_path / "x.ics").exists()
    p = rollout("export", "assessment", "--format", "pdf", engine=jilin, cwd=tmp_path)
    assert p.returncode != 0
    p = rollout("export", "assessment", "--as-of", "2020-13-01", engine=jilin, cwd=tmp_path)
    assert p.returncode != 0 and "2020-13-01" in p.stderr
    assert sorted(x.name for x in tmp_path.iterdir()) == [f"{COUNTY}.ics"]


def test_export_assessment_of_one_province(engine: sa.Engine, calendar, tmp_path: Path) -> None:
    # the two-province registry (tests/data/two_provinces): 乙市 110000 has city 110100
    # (乙市市辖区) and county 110101 (乙一区); 甲省 220000 has 甲一市, 甲一区 and 甲二区
    from rollout import db
    from rollout.plans.fanout import instantiate_plan
    from tests.conftest import LOADED_AT

    plan = Path(__file__).parents[1] / "data" / "two_provinces" / "plan.yaml"
    with db.unit_of_work(engine) as s:
        instantiate_plan(s, plan, now=LOADED_AT, calendar=calendar)
    out = tmp_path / "乙.csv"
    p = rollout("export", "assessment", "--format", "csv", "--as-of", "2020-07-20",
                "--province", "110000", "--out", str(out), engine=engine, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert sorted(r["单位代码"] for r in rows if r["类别"] != "中省直部门") == ["110100", "110101"]
    assert {r["单位代码"] for r in rows if r["类别"] == "中省直部门"} == {
        "110000.dept.civil_affairs", "110000.dept.education"}

    p = rollout("export", "assessment", "--format", "csv", "--province", "330000",
                "--out", str(tmp_path / "丙.csv"), engine=engine, cwd=tmp_path)
    assert p.returncode != 0 and "330000" in p.stderr
    assert not (tmp_path / "丙.csv").exists()
