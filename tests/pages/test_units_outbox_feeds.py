"""The unit page, the outbox page and the calendar feed URL."""

from __future__ import annotations

import re
from datetime import date, datetime

import icalendar
from sqlmodel import select

from rollout import db
from rollout.actions.tokens import issue_token
from rollout.calendar import TZ
from rollout.models import Digest, DigestStatus, OutboxMessage, OutboxStatus, Plan
from rollout.workflow import Role
from tests.pages.markup import csrf_of


def _outbox(web) -> None:
    """Three notices: to 南关区 one sent and one failed (its digest's error), to 昌邑区 one pending."""
    at = datetime(2020, 4, 27, 9, 0, tzinfo=TZ)
    with db.unit_of_work(web.engine) as s:
        plan = s.exec(select(Plan)).one()
        failed = Digest(address="nanguan@example.org", recipient_org_code="220102", day=date(2020, 4, 27),
                        message_id="<d1@rollout.invalid>", status=DigestStatus.failed, attempts=8,
                        created_at=at, last_error="SMTP 550 邮箱不存在")
        s.add(failed)
        s.flush()
        rows = [("catalog:220102:social_assistance", "220102", OutboxStatus.sent, "催办〔2020〕0001号", None),
                ("catalog:220102:elderly_care", "220102", OutboxStatus.failed, "催办〔2020〕0002号", failed.id),
                ("catalog:220202:social_assistance", "220202", OutboxStatus.pending, "催办〔2020〕0003号", None)]
        for key, org, status, number, digest in rows:
            s.add(OutboxMessage(plan_id=plan.id, task_id=web.task_id(key), due_on=date(2020, 7, 1),
                                step_key="reminder-10", kind="reminder", recipient_org_code=org,
                                address=f"{org}@example.org", notice_number=number,
                                scheduled_on=date(2020, 4, 27), status=status, digest_id=digest,
                                created_at=at, sent_at=at if status == OutboxStatus.sent else None))


def test_outbox_page_office_sees_all_a_unit_its_own(web):
    _outbox(web)
    office = web.login("office").get("/outbox").text
    assert "全部（3）" in office and "已发送（1）" in office and "发送失败（1）" in office and "待发送（1）" in office
    assert office.count('<tr class="ob-') == 3 and "SMTP 550 邮箱不存在" in office
    failed = web.login("office").get("/outbox?status=failed").text
    assert failed.count('<tr class="ob-') == 1 and "催办〔2020〕0002号" in failed
    county = web.login("nanguan").get("/outbox").text
    assert county.count('<tr class="ob-') == 2 and "催办〔2020〕0003号" not in county


def test_unit_page_lists_what_is_owed_and_the_units_reminders(web):
    _outbox(web)
    county = web.login("nanguan")
    page = county.get("/unit/220102").text
    owed = page.split('id="owed"')[1].split("</section>")[0]
    assert "本单位待办（78）" in page  # 26 domains × catalog, upload, acceptance
    assert owed.count("<tr class=\"st-row-") == 78
    reminders = page.split('id="reminders"')[1].split("</section>")[0]
    assert "催办〔2020〕0001号" in reminders and "催办〔2020〕0002号" in reminders
    assert "催办〔2020〕0003号" not in reminders
    assert county.get("/unit/220202").status_code == 404
    assert web.login("changchun").get("/unit/220102").status_code == 200  # its county
    assert web.login("jilincity").get("/unit/220102").status_code == 404


def test_calendar_feed_url_reads_the_units_deadlines_and_nothing_else(web):
    county = web.login("nanguan")
    page = county.get("/unit/220102").text
    r = county.post("/unit/220102/calendar", data={"csrf_token": csrf_of(page)})
    assert r.status_code == 200
    url = re.search(r'<code id="feed-url">([^<]+)</code>', r.text).group(1)
    path = url.removeprefix("http://testserver")
    token = re.fullmatch(r"/calendar/(cal_[A-Za-z0-9_-]{43})\.ics", path).group(1)
    anonymous = web.client()
    feed = anonymous.get(path)
    assert feed.status_code == 200
    assert feed.headers["content-type"] == "text/calendar; charset=utf-8"
    cal = icalendar.Calendar.from_ical(feed.content)
    events = cal.walk("VEVENT")
    assert len(events) == 78  # 南关区's own tasks: 26 × catalog, upload, acceptance
    catalog = [e for e in events if str(e["UID"]) == "task-jilin-2020-catalog:220102:social_assistance@rollout"]
    assert catalog[0]["DTSTART"].dt == date(2020, 7, 1) and catalog[0]["DTEND"].dt == date(2020, 7, 2)
    # the feed token is no API token, and an API token is no feed token
    assert anonymous.get("/api/tasks", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    with db.unit_of_work(web.engine) as s:
        _, api_token = issue_token(s, "220102", Role.county, now=web.clock())
    assert anonymous.get(f"/calendar/{api_token}.ics").status_code == 404
    assert anonymous.get("/calendar/cal_unknown.ics").status_code == 404
    # nobody makes a feed for another unit
    assert county.post("/unit/220202/calendar", data={"csrf_token": csrf_of(page)}).status_code == 404
