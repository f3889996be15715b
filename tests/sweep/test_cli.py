"""``rollout sweep``, ``rollout calendar reload`` and the year-end warning of ``rollout status``,
run as a clerk runs them (real processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import chinese_calendar
from sqlmodel import Session, col, select

from rollout.calendar import TZ, WorkingCalendar
from rollout.cli.deadlines import holiday_data_warning
from rollout.models import AuditEvent, TaskSchedule, TrackedTask

FIXTURE_2027 = Path(__file__).parents[1] / "calendar" / "fixtures" / "holidays"

# The State Council's 2020 arrangement (国办发明电〔2019〕16号, Spring Festival extended to 02-02
# by 国办发明电〔2020〕1号), plus one invented day off, 06-17, to move the catalog reminders.
OVERRIDE_2020 = """\
year: 2020
source: "测试：2020年官方安排，另加 06-17 为假日"
holidays:
  - {name: 元旦, days: [2020-01-01]}
  - {name: 春节, from: 2020-01-24, to: 2020-02-02}
  - {name: 清明节, from: 2020-04-04, to: 2020-04-06}
  - {name: 劳动节, from: 2020-05-01, to: 2020-05-05}
  - {name: 端午节, from: 2020-06-25, to: 2020-06-27}
  - {name: 测试假日, days: [2020-06-17]}
  - {name: 国庆节, from: 2020-10-01, to: 2020-10-08}
workdays:
  - {name: 春节调休, days: [2020-01-19]}
  - {name: 劳动节调休, days: [2020-04-26, 2020-05-09]}
  - {name: 端午节调休, days: [2020-06-28]}
  - {name: 国庆节调休, days: [2020-09-27, 2020-10-10]}
"""


def rollout(*args: str, db_url: str, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "rollout", *args, "--db", db_url],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_sweep_json_twice(jilin, db_url):
    args = ("sweep", "--as-of", "2020-06-16T09:00+08:00", "--format", "json")
    first = json.loads(rollout(*args, db_url=db_url).stdout)
    # 1,623 due tasks: one batch of the default 10,000
    assert (first["created"], first["skipped"], first["batches"]) == (1623, 745, 1)
    assert first["waiting_for_holiday_data"] == []
    second = json.loads(rollout(*args, db_url=db_url).stdout)
    assert (second["created"], second["skipped"], second["tasks"]) == (0, 0, 0)


def test_calendar_reload_moves_the_affected_tasks(jilin, db_url, tmp_path):
    folder = tmp_path / "holidays"
    folder.mkdir()
    (folder / "2020.yaml").write_text(OVERRIDE_2020, encoding="utf-8")
    # the file is the official year except 06-17 (checked against chinese_calendar itself)
    cal = WorkingCalendar([folder])
    day = date(2020, 1, 1)
    while day.year == 2020:
        expected = chinese_calendar.is_workday(day) and day != date(2020, 6, 17)
        assert cal.is_working_day(day) == expected, day
        day += timedelta(days=1)
    unchanged = rollout("calendar", "reload", db_url=db_url)
    assert "提醒时间变动 0 项" in unchanged.stdout

    env = {"ROLLOUT_HOLIDAY_DIRS": json.dumps([str(folder)])}
    proc = rollout("calendar", "reload", db_url=db_url, env=env)
    # catalog (due 07-01): reminder-10 was 06-16; without 06-17 counting back 06-30, 29, 28,
    # 24, 23, 22, 19, 18, 16, 15 gives 06-15. No other milestone's next step spans 06-17.
    assert "提醒时间变动 1560 项" in proc.stdout
    with Session(jilin) as s:
        cat = s.exec(select(TaskSchedule.next_action_at).join(
            TrackedTask, col(TrackedTask.id) == TaskSchedule.task_id).where(
            col(TrackedTask.key).startswith("catalog:"))).all()
        assert set(cat) == {datetime(2020, 6, 15, 9, 0, tzinfo=TZ)}
        events = s.exec(select(AuditEvent).where(AuditEvent.kind == "task_schedule_moved")).all()
        assert len(events) == 1560
        assert events[0].before["next_action_at"] == "2020-06-16T09:00:00+08:00"
        assert events[0].after["next_action_at"] == "2020-06-15T09:00:00+08:00"
    again = rollout("calendar", "reload", db_url=db_url, env=env)
    assert "提醒时间变动 0 项" in again.stdout


def test_status_warns_from_november_when_next_years_data_is_missing(jilin, db_url):
    cal = WorkingCalendar()  # chinesecalendar covers up to 2026; no 2027 file is bundled
    warning = holiday_data_warning(datetime(2026, 11, 29, 10, 0, tzinfo=TZ), cal)
    assert warning is not None and "2027" in warning
    assert holiday_data_warning(datetime(2026, 10, 31, 23, 0, tzinfo=TZ), cal) is None
    # 2026-10-31T17:00Z is already November 1st in Beijing
    assert holiday_data_warning(datetime(2026, 10, 31, 17, 0, tzinfo=UTC), cal) is not None
    assert holiday_data_warning(
        datetime(2026, 11, 29, 10, 0, tzinfo=TZ), WorkingCalendar([FIXTURE_2027])) is None

    proc = rollout("status", "--as-of", "2026-11-29T10:00+08:00", "--format", "json", db_url=db_url)
    assert "2027" in proc.stderr
    assert "2027" in json.loads(proc.stdout)["holiday_data_warning"]
    quiet = rollout("status", "--as-of", "2026-10-31T10:00+08:00", "--format", "json", db_url=db_url)
    assert json.loads(quiet.stdout)["holiday_data_warning"] is None
