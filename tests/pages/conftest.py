"""Fixtures of the page tests: the app over the Jilin plan (SQLite and PostgreSQL) with a
movable clock, and logins of a few organizations' users (made when first used)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import select

from rollout import db
from rollout.actions.users import create_user
from rollout.api import create_app
from rollout.calendar import TZ, WorkingCalendar
from rollout.models import TrackedTask
from rollout.settings import Settings
from rollout.workflow import Action, Actor, Role, transition
from tests.api.conftest import Clock
from tests.pages.markup import csrf_of

PASSWORD = "correct horse battery"
#: username → organization code
USERS = {
    "office": "220000.office", "changchun": "220100", "jilincity": "220200",
    "nanguan": "220102", "changyi": "220202", "civil": "220000.dept.civil_affairs",
}


@dataclass
class Web:
    """The app under test, its clock and engine, and browser-like clients per user."""

    app: object
    engine: sa.Engine
    clock: Clock
    calendar: WorkingCalendar
    store: Path
    made: set[str] = field(default_factory=set)

    def client(self) -> TestClient:
        return TestClient(self.app, follow_redirects=False)  # type: ignore[arg-type]

    def ensure_user(self, username: str) -> None:
        if username not in self.made:
            with db.unit_of_work(self.engine) as s:
                create_user(s, USERS[username], username, PASSWORD, now=self.clock(),
                            display_name=f"{username}经办人")
            self.made.add(username)

    def login(self, username: str) -> TestClient:
        """A client signed in as ``username`` (its session cookie set)."""
        self.ensure_user(username)
        c = self.client()
        token = csrf_of(c.get("/login").text)
        r = c.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
        assert r.status_code == 303, r.text
        return c

    def task_id(self, key: str) -> int:
        with db.read_session(self.engine) as s:
            return s.exec(select(TrackedTask.id).where(TrackedTask.key == key)).one()

    def task(self, key: str) -> TrackedTask:
        with db.read_session(self.engine) as s:
            return s.exec(select(TrackedTask).where(TrackedTask.key == key)).one()

    def act(self, key: str, action: Action, org: str, role: Role, **kw) -> None:
        """Make a transition directly through the workflow (test set-up)."""
        with db.unit_of_work(self.engine) as s:
            transition(s, self.task_id(key), action, Actor(org, role, "准备"), now=self.clock(),
                       calendar=self.calendar, **kw)

    def submit_catalogs(self, county: str) -> None:
        """Submit the county's 26 catalog tasks as the county."""
        with db.unit_of_work(self.engine) as s:
            ids = s.exec(select(TrackedTask.id).where(
                TrackedTask.key.startswith(f"catalog:{county}:"))).all()  # type: ignore[attr-defined]
            assert len(ids) == 26
            for tid in ids:
                transition(s, tid, Action.submit, Actor(county, Role.county, "县联络员"),
                           now=self.clock(), calendar=self.calendar)


@pytest.fixture
def web(jilin: sa.Engine, tmp_path: Path, calendar: WorkingCalendar) -> Web:
    """The app over the Jilin plan; the clock at 2020-04-28 10:00 Asia/Shanghai."""
    url = jilin.url.render_as_string(hide_password=False)
    store = tmp_path / "files"
    clock = Clock(datetime(2020, 4, 28, 10, 0, tzinfo=TZ))
    app = create_app(Settings(database_url=url, file_store_dir=store), clock=clock, calendar=calendar)
    return Web(app, jilin, clock, calendar, store)
