"""Calendar feeds parsed back with icalendar; dates and alarm instants worked out by hand.

Catalog tasks are due 2020-07-01 (Wed). Reminders 10/5/3/1/0 working days before at 09:00
Beijing (01:00Z): 06-16, 06-23, 06-28 (a make-up working Sunday after 端午节), 06-30, 07-01.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import icalendar
import sqlalchemy as sa
from sqlmodel import select

from rollout import db
from rollout.calendar import TZ, WorkingCalendar
from rollout.exports import ICS_MEDIA_TYPE, alarm_at, calendar_feed
from rollout.models import Plan
from rollout.plans.fanout import instantiate_plan
from tests.exports.conftest import COUNTY, COUNTY_B, EXTENDED

NOW = datetime(2020, 6, 1, 8, 15, 30, tzinfo=TZ)
CASES_PLAN = Path(__file__).parent / "data" / "window-plan.yaml"
LONG_TITLE = (
    "各县市区政府对口部门要按照国务院部门制定的标准指引全面梳理本领域公开事项编制目录并通过政府"
    "网站政务新媒体政务服务大厅便民服务站公开栏等渠道发布确保公开事项名称要素准确完整及时更新便于"
    "群众查阅获取和监督"
)


def _feed(engine: sa.Engine, org: str, calendar: WorkingCalendar, now: datetime = NOW) -> bytes:
    with db.read_session(engine) as s:
        plan = s.exec(select(Plan)).one()
        return calendar_feed(s, org, plan, calendar, now)


def _events(raw: bytes) -> dict[str, icalendar.Event]:
    cal = icalendar.Calendar.from_ical(raw)
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


def _check_lines(raw: bytes) -> None:
    """Strict RFC 5545 framing: CRLF lines of at most 75 octets, each valid UTF-8 on its own."""
    assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    for line in raw.split(b"\r\n")[:-1]:
        assert len(line) <= 75, line
        line.decode("utf-8")  # raises if a fold split a character


def _triggers(ev: icalendar.Event) -> list[datetime]:
    return sorted(a["TRIGGER"].dt for a in ev.walk("VALARM"))


def test_county_feed(assessed: sa.Engine, calendar: WorkingCalendar) -> None:
    raw = _feed(assessed, "220104", calendar)
    raw.decode("utf-8")
    _check_lines(raw)
    assert b"TZID" not in raw and b"VTIMEZONE" not in raw
    cal = icalendar.Calendar.from_ical(raw)
    assert str(cal["VERSION"]) == "2.0" and "rollout" in str(cal["PRODID"])
    assert str(cal["X-WR-CALNAME"]).startswith("朝阳区")
    events = _events(raw)
    assert len(events) == 26 * 3
    for uid, ev in events.items():
        assert re.fullmatch(r"task-jilin-2020-[a-z_]+:220104:[a-z_]+@rollout", uid)
        assert ev["DTSTAMP"].dt == datetime(2020, 6, 1, 0, 15, 30, tzinfo=UTC)
        start, end = ev["DTSTART"].dt, ev["DTEND"].dt
        assert type(start) is date and type(end) is date and end == start + timedelta(days=1)
        assert "§" in str(ev["DESCRIPTION"])
    assert raw.count(b"DTSTART;VALUE=DATE:") == raw.count(b"DTEND;VALUE=DATE:") == 78
    assert raw.count(b"DTSTAMP:20200601T001530Z") == 78
    cat = events["task-jilin-2020-catalog:220104:social_assistance@rollout"]
    assert (cat["DTSTART"].dt, cat["DTEND"].dt) == (date(2020, 7, 1), date(2020, 7, 2))
    assert str(cat["SUMMARY"]) == "完成本领域公开事项梳理、目录编制和信息发布（社会救助）"
    assert _triggers(cat) == [
        datetime(2020, 6, d, 1, 0, tzinfo=UTC) for d in (16, 23, 28, 30)
    ] + [datetime(2020, 7, 1, 1, 0, tzinfo=UTC)]
    assert b"TRIGGER;VALUE=DATE-TIME:20200616T010000Z" in raw


def test_uids_stable_across_downloads(assessed: sa.Engine, calendar: WorkingCalendar) -> None:
    first = _feed(assessed, COUNTY, calendar)
    later = _feed(assessed, COUNTY, calendar, NOW + timedelta(days=30))
    assert set(_events(first)) == set(_events(later)) and len(_events(first)) == 78
    assert b"DTSTAMP:20200701T001530Z" in later and b"DTSTAMP:20200601" not in later


def test_done_tasks_have_no_alarms_and_extension_moves_the_day(
    assessed: sa.Engine, calendar: WorkingCalendar
) -> None:
    done = _events(_feed(assessed, COUNTY, calendar))
    accepted = done["task-jilin-2020-catalog:220102:social_assistance@rollout"]
    assert _triggers(accepted) == [] and "已完成" in str(accepted["DESCRIPTION"])
    upload = done["task-jilin-2020-upload:220102:social_assistance@rollout"]
    assert (upload["DTSTART"].dt, upload["DTEND"].dt) == (date(2020, 10, 15), date(2020, 10, 16))
    assert len(_triggers(upload)) == 5
    ext = _events(_feed(assessed, COUNTY_B, calendar))[
        f"task-jilin-2020-catalog:{COUNTY_B}:{EXTENDED}@rollout"
    ]
    assert (ext["DTSTART"].dt, ext["DTEND"].dt) == (date(2020, 7, 10), date(2020, 7, 11))
    assert "原定截止日：2020年7月1日" in str(ext["DESCRIPTION"])


def test_training_window(jilin: sa.Engine, calendar: WorkingCalendar) -> None:
    raw = _feed(jilin, "220000.office", calendar)
    assert b"DTSTART;VALUE=DATE:20200701\r\nDTEND;VALUE=DATE:20200711\r\n" in raw
    ev = _events(raw)["task-jilin-2020-training@rollout"]
    assert (ev["DTSTART"].dt, ev["DTEND"].dt) == (date(2020, 7, 1), date(2020, 7, 11))


def test_field_cases(engine: sa.Engine, calendar: WorkingCalendar) -> None:
    with db.unit_of_work(engine) as s:
        instantiate_plan(s, CASES_PLAN, now=NOW, calendar=calendar)
    office = _feed(engine, "220000.office", calendar)
    _check_lines(office)
    assert b"DTSTART;VALUE=DATE:20200413\r\nDTEND;VALUE=DATE:20200418\r\n" in office
    events = _events(office)
    long = events["task-feed-cases-long_title@rollout"]
    assert str(long["SUMMARY"]) == LONG_TITLE and len(LONG_TITLE) == 100
    assert office.count(b"\r\n ") > 10  # the Chinese lines were folded
    city = _feed(engine, "220100", calendar)
    _check_lines(city)
    ev = _events(city)["task-feed-cases-evening:220100@rollout"]
    # reminder-1: the working day before 05-06 is 04-30 (05-01..05-05 are the May Day holiday)
    assert _triggers(ev) == [
        datetime(2020, 4, 30, 12, 30, tzinfo=UTC), datetime(2020, 5, 6, 12, 30, tzinfo=UTC)
    ]
    assert b"TRIGGER;VALUE=DATE-TIME:20200506T123000Z" in city


def test_timed_alarm_is_utc() -> None:
    raw = alarm_at(datetime(2020, 5, 5, 20, 30, tzinfo=TZ), "催办").to_ical()
    assert b"TRIGGER;VALUE=DATE-TIME:20200505T123000Z\r\n" in raw
    assert ICS_MEDIA_TYPE == "text/calendar; charset=utf-8"
