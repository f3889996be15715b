"""Real headless Chromium (Debian's ``chromium``, driven by Playwright through its executable
path) against the app served by a real uvicorn on 127.0.0.1, over a SQLite file with the Jilin
plan."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlmodel import col, select

from rollout import db
from rollout.actions.users import create_user
from rollout.api import create_app
from rollout.calendar import TZ, WorkingCalendar
from rollout.demo import DemoProgress
from rollout.models import TrackedTask
from rollout.notifications.dispatch import DispatchConfig
from rollout.plans.fanout import instantiate_plan
from rollout.plans.schema import BUNDLED_PLAN
from rollout.settings import Settings
from rollout.simulation import simulate
from rollout.workflow import Action, Actor, Role, transition
from tests.api.conftest import Clock, live_server
from tests.conftest import LOADED_AT
from tests.pages.chromium import CHROMIUM_ARGS, ensure_chromium
from tests.pages.conftest import PASSWORD, USERS

ARTIFACTS = Path(__file__).parents[1] / "artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium from /usr/bin/chromium (apt-installed by ``ensure_chromium`` if absent).

    Module-scoped: Playwright's sync API keeps an event loop on the main thread while it runs,
    and later tests that call ``asyncio.run`` (the dispatcher) must not find it there."""
    path = ensure_chromium()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(path), args=CHROMIUM_ARGS)
        yield b
        b.close()


class Site:
    """The app served on a free port, its engine, clock and calendar."""

    def __init__(self, base: str, engine: sa.Engine, clock: Clock, calendar: WorkingCalendar) -> None:
        self.base, self.engine, self.clock, self.calendar = base, engine, clock, calendar

    def users(self, *names: str) -> None:
        with db.unit_of_work(self.engine) as s:
            for n in names:
                create_user(s, USERS[n], n, PASSWORD, now=self.clock(), display_name=f"{n}经办人")

    def task_id(self, key: str) -> int:
        with db.read_session(self.engine) as s:
            return s.exec(select(TrackedTask.id).where(TrackedTask.key == key)).one()

    def login(self, browser: Browser, username: str) -> Page:
        page = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN").new_page()
        page.goto(self.base + "/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        return page


@pytest.fixture
def site(sqlite_url: str, tmp_path: Path, calendar: WorkingCalendar) -> Iterator[Site]:
    """The Jilin plan in a SQLite file, served by uvicorn; the clock at 2020-08-20 10:00."""
    engine = db.get_engine(sqlite_url)
    with db.unit_of_work(engine) as s:
        instantiate_plan(s, BUNDLED_PLAN, now=LOADED_AT, calendar=calendar)
    clock = Clock(datetime(2020, 8, 20, 10, 0, tzinfo=TZ))
    app = create_app(Settings(database_url=sqlite_url, file_store_dir=tmp_path / "files"),
                     clock=clock, calendar=calendar)
    with live_server(app) as base:
        yield Site(base, engine, clock, calendar)


def test_city_signs_off_from_the_task_page_and_the_dashboard_shows_it_done(browser, site):
    site.users("changchun", "office")
    with db.unit_of_work(site.engine) as s:  # 南关区 submits its 26 catalogs through the workflow
        for tid in s.exec(select(TrackedTask.id).where(col(TrackedTask.key).startswith("catalog:220102:"))):
            transition(s, tid, Action.submit, Actor("220102", Role.county, "县联络员"),
                       now=site.clock(), calendar=site.calendar)
    city = site.login(browser, "changchun")
    assert city.url == site.base + "/city/220100"
    city.click('tr[data-county="220102"] >> text=去签署')
    expect(city.locator("#sign-off-form")).to_be_visible()
    city.fill('#sign-off-form input[name="reviewer"]', "王复核")
    city.check('#sign-off-form input[value="approved"]')
    city.click('#sign-off-form button[type="submit"]')
    expect(city.locator(".flash")).to_have_text("复核签署已记录")
    expect(city.locator("#task-state")).to_have_text("已完成")

    office = site.login(browser, "office")
    assert office.url == site.base + "/dashboard"
    cell = office.locator('tr[data-county="220102"] td[data-milestone="city_review"]')
    expect(cell).to_have_class("cell st-done")
    expect(cell).to_have_text("1/1")
    other = office.locator('tr[data-county="220103"] td[data-milestone="city_review"]')
    expect(other).to_have_text("0/1")


def test_a_county_user_cannot_open_another_countys_task_page(browser, site):
    site.users("changyi")
    page = site.login(browser, "changyi")
    response = page.goto(f"{site.base}/tasks/{site.task_id('catalog:220102:social_assistance')}")
    assert response is not None and response.status == 404
    expect(page.locator(".error")).to_contain_text("不存在或不在您的权限范围内")
    own = page.goto(f"{site.base}/tasks/{site.task_id('catalog:220202:social_assistance')}")
    assert own is not None and own.status == 200


def test_a_post_without_the_csrf_token_is_refused(browser, site):
    site.users("nanguan")
    page = site.login(browser, "nanguan")
    tid = site.task_id("catalog:220102:social_assistance")
    page.goto(f"{site.base}/tasks/{tid}")
    page.evaluate("document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove())")
    with page.expect_navigation():
        page.click("form.act-start button[type=submit]")
    expect(page.locator(".error")).to_contain_text("防伪令牌")
    refused = page.request.post(f"{site.base}/tasks/{tid}/act", form={"action": "start", "version": "1"})
    assert refused.status == 403
    with db.read_session(site.engine) as s:
        assert s.get(TrackedTask, tid).state.value == "pending"  # type: ignore[union-attr]


def test_dashboard_screenshot_after_simulating_to_2020_09_01(browser, site, calendar):
    # in a thread of its own: the dispatcher runs asyncio, and Playwright's sync API already has
    # an event loop on this one
    with ThreadPoolExecutor(1) as pool:
        report = pool.submit(simulate, site.engine, date(2020, 3, 20), date(2020, 9, 1),
                             calendar=calendar, config=DispatchConfig.from_settings(Settings()),
                             on_day=DemoProgress(calendar)).result()
    assert report.created > 0
    site.clock.now = datetime(2020, 9, 1, 18, 0, tzinfo=TZ)
    site.users("office")
    page = site.login(browser, "office")
    expect(page.locator("#timeline")).to_contain_text("今天 9/1")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard-2020-09-01.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
    with db.read_session(site.engine) as s:
        notices = s.exec(sa.select(sa.func.count()).select_from(sa.table("outboxmessage"))).one()[0]
    assert notices > 0
    page.goto(site.base + "/outbox")
    expect(page.locator("h1")).to_contain_text("发件箱")
