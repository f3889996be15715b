"""Two provinces in one deployment: each provincial office's dashboard, unit pages, outbox,
assessment download and contacts cover its own province only.

Facts of tests/data/two_provinces, read by hand: 甲省 220000 has city 220100 (甲一市), counties
220102 (甲一区) and 220103 (甲二区), townships 220102001 and 220102101; 乙市 110000 has city
110100 and county 110101 (乙一区); two domains. Tasks per province: work_plan and dept_filing
one per domain (2 + 2), city_filing one per city, catalog county × domain (甲 4, 乙 2),
township_catalog township × domain (甲 4, 乙 0).
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from rollout import db
from rollout.actions.contacts import add_contact, list_contacts
from rollout.actions.tokens import issue_token
from rollout.api import create_app
from rollout.calendar import TZ, WorkingCalendar
from rollout.errors import PermissionDenied
from rollout.models import AuditEvent, Organization, OutboxMessage, TrackedTask
from rollout.plans.fanout import instantiate_plan
from rollout.settings import Settings
from rollout.sweep import sweep_all
from rollout.workflow import Action, Actor, Role
from tests.api.conftest import Clock
from tests.pages import conftest as pages
from tests.pages.conftest import Web
from tests.pages.markup import csrf_of

DATA = Path(__file__).parents[1] / "data" / "two_provinces"
LOADED = datetime(2020, 3, 20, 9, 0, tzinfo=TZ)
JULY_2 = datetime(2020, 7, 2, 9, 0, tzinfo=TZ)


@pytest.fixture
def two(engine: sa.Engine, tmp_path: Path, calendar: WorkingCalendar,
        monkeypatch: pytest.MonkeyPatch) -> Web:
    """The app over the two-province plan. On 06-30 甲一区 submits one catalog and 乙一区 one;
    the sweep of 07-02 09:00 has run; the clock at 07-02 10:00. Users jia-office (甲) and yi-office (乙)
    offices."""
    with db.unit_of_work(engine) as s:
        instantiate_plan(s, DATA / "plan.yaml", now=LOADED, calendar=calendar)
    url = engine.url.render_as_string(hide_password=False)
    clock = Clock(datetime(2020, 6, 30, 10, 0, tzinfo=TZ))
    app = create_app(Settings(database_url=url, file_store_dir=tmp_path / "files"), clock=clock,
                     calendar=calendar)
    monkeypatch.setitem(pages.USERS, "jia-office", "220000.office")
    monkeypatch.setitem(pages.USERS, "yi-office", "110000.office")
    web = Web(app, engine, clock, calendar, tmp_path / "files")
    web.act("catalog:220102:social_assistance", Action.submit, "220102", Role.county)
    web.act("catalog:110101:social_assistance", Action.submit, "110101", Role.county)
    sweep_all(lambda: db.unit_of_work(engine), JULY_2, calendar)
    clock.set(2020, 7, 2, 10, 0)
    return web


def _milestone_table(html: str) -> dict[str, tuple[int, list[int]]]:
    """Milestone title -> (total, [overdue, soon, later, submitted, done])."""
    rows = re.findall(r"<tr><td>([^<]+)</td><td>[^<]+</td>\s*<td class=\"num\">(\d+)</td>\s*"
                      r"((?:<td class=\"num\">\d+</td>){5})", html)
    return {t: (int(n), [int(v) for v in re.findall(r"\d+", rest)]) for t, n, rest in rows}


def test_each_office_dashboard_counts_its_own_province(two):
    jia = two.login("jia-office").get("/dashboard").text
    yi = two.login("yi-office").get("/dashboard").text
    # 甲: catalogs 4 (1 submitted, 3 overdue since 07-01); 乙: 2 (1 submitted, 1 overdue)
    assert _milestone_table(jia)["县级目录"] == (4, [3, 0, 0, 1, 0])
    assert _milestone_table(yi)["县级目录"] == (2, [1, 0, 0, 1, 0])
    assert _milestone_table(jia)["乡镇（街道）编制本级标准目录"] == (4, [4, 0, 0, 0, 0])
    assert _milestone_table(yi).get("乡镇（街道）编制本级标准目录", (0,))[0] == 0  # no township
    assert _milestone_table(jia)["市州备案"] == (1, [1, 0, 0, 0, 0])
    # overdue on 07-02: work_plan 2 + dept_filing 2 + city_filing 1 + catalogs + townships
    assert "逾期清单（共 12 项）" in jia  # 2 + 2 + 1 + 3 + 4
    assert "逾期清单（共 6 项）" in yi  # 2 + 2 + 1 + 1
    # the matrix and the city chart: its own cities and counties only
    assert 'data-county="220102"' in jia and 'data-county="220103"' in jia
    assert 'data-county="110101"' not in jia and "乙一区" not in jia
    assert 'data-county="110101"' in yi and "甲一区" not in yi
    assert jia.count('<g class="city"') == 1 and yi.count('<g class="city"') == 1
    # the completion chart: its own deliveries over its own tasks
    assert "已交 1/4（25%）" in jia
    assert "已交 1/2（50%）" in yi


def test_an_office_cannot_open_another_provinces_units(two):
    jia = two.login("jia-office")
    assert jia.get("/dashboard/county/110101").status_code == 404
    assert jia.get("/city/110100").status_code == 404
    assert jia.get("/unit/110101").status_code == 404
    assert jia.get("/city/220100").status_code == 200
    assert jia.get("/unit/220102").status_code == 200


def test_each_office_outbox_holds_its_own_provinces_notices(two):
    with db.read_session(two.engine) as s:
        provinces = dict(s.exec(select(Organization.code, Organization.province_code)).all())
        rows = s.exec(select(OutboxMessage.recipient_org_code, OutboxMessage.address)).all()
    per = {p: [a for code, a in rows if provinces[code] == p] for p in ("220000", "110000")}
    assert per["220000"] and per["110000"]
    jia = two.login("jia-office").get("/outbox").text
    assert f"全部（{len(per['220000'])}）" in jia
    assert not any(a in jia for a in per["110000"])
    yi = two.login("yi-office").get("/outbox").text
    assert f"全部（{len(per['110000'])}）" in yi


def test_the_assessment_download_scores_the_offices_province(two):
    r = two.login("jia-office").get("/dashboard/assessment?format=csv")
    assert r.status_code == 200
    text = r.content.decode("utf-8-sig")
    assert "甲一区" in text and "甲二区" in text and "甲一市" in text
    assert "乙" not in text
    r = two.login("yi-office").get("/dashboard/assessment?format=csv")
    text = r.content.decode("utf-8-sig")
    assert "乙一区" in text and "甲" not in text


def test_an_office_keeps_the_contacts_of_its_province_only(two):
    jia = Actor("220000.office", Role.office, "甲省经办人")
    values = {"name": "张三", "role": "联络员", "email": "zhang@example.org"}
    with db.unit_of_work(two.engine) as s:
        add_contact(s, jia, "220102", values, now=two.clock())
        with pytest.raises(PermissionDenied, match="本省政务公开办"):
            add_contact(s, jia, "110101", values, now=two.clock())
        with pytest.raises(PermissionDenied):
            list_contacts(s, jia, "110101")
    with db.read_session(two.engine) as s:
        assert [c.email for c in list_contacts(s, jia, "220102")] == ["zhang@example.org"]
        assert s.exec(select(sa.func.count()).select_from(Organization)
                      .where(col(Organization.code) == "110101")).one() == 1


def test_each_office_reads_the_audit_trail_of_its_own_province(two):
    # events about tasks (the submissions, the sweep's plan load), contacts kept by each office,
    # and a failed login of 乙's office user; 甲's office reads the ones about 甲's tasks, those
    # made for 甲's organizations, and the system's (plan_loaded: no organization)
    jia, yi = Actor("220000.office", Role.office, "甲"), Actor("110000.office", Role.office, "乙")
    values = {"name": "联络员", "role": "联络员", "email": "c@example.org"}
    with db.unit_of_work(two.engine) as s:
        add_contact(s, jia, "220102", values, now=two.clock())
        add_contact(s, yi, "110101", values, now=two.clock())
        _, token = issue_token(s, "220000.office", Role.office, now=two.clock(), name="甲省令牌")
    two.ensure_user("yi-office")
    c = two.client()
    c.post("/login", data={"username": "yi-office", "password": "wrong",
                           "csrf_token": csrf_of(c.get("/login").text)})
    with db.read_session(two.engine) as s:
        province = dict(s.exec(select(Organization.code, Organization.province_code)).all())
        owner = dict(s.exec(select(TrackedTask.id, TrackedTask.org_code)).all())
        events = s.exec(select(AuditEvent)).all()
    mine = sorted(e.id for e in events if (
        province[owner[e.task_id]] == "220000" if e.task_id is not None
        else e.actor_org_code is None or province[e.actor_org_code] == "220000"))
    assert 0 < len(mine) < len(events)
    api = two.client()
    api.headers["Authorization"] = f"Bearer {token}"
    page = api.get("/api/audit", params={"limit": 500}).json()
    assert page["total"] == len(mine)
    assert [e["id"] for e in page["items"]] == mine
    kinds = {e["kind"] for e in page["items"]}
    assert {"plan_loaded", "task_submitted", "contact_created", "token_created"} <= kinds
    assert not {"login_failed", "user_created"} & kinds  # 乙's user's
    contacts = api.get("/api/audit", params={"kind": "contact_created"}).json()["items"]
    assert [e["actor_org_code"] for e in contacts] == ["220000.office"]
    assert api.get("/api/audit", params={"org": "110101"}).json()["total"] == 0
    yi_task = two.task_id("catalog:110101:social_assistance")
    assert api.get("/api/audit", params={"task_id": yi_task}).json()["total"] == 0
