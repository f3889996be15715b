"""Fixtures of the API tests: the app over the loaded Jilin plan (SQLite and PostgreSQL), a
movable clock, a file store folder, and tokens per organization."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import uvicorn
from fastapi.testclient import TestClient

from rollout import db
from rollout.actions.tokens import issue_token
from rollout.api import create_app
from rollout.calendar import TZ, WorkingCalendar
from rollout.settings import Settings
from rollout.workflow import Role

OFFICE = "220000.office"
CIVIL_AFFAIRS = "220000.dept.civil_affairs"  # social_assistance, elderly_care
EDUCATION = "220000.dept.education"  # compulsory_education only
CHANGCHUN, JILIN_CITY = "220100", "220200"
NANGUAN, CHANGYI = "220102", "220202"  # 南关区 (长春市), 昌邑区 (吉林市)
ROLE_OF = {OFFICE: Role.office, CIVIL_AFFAIRS: Role.department, EDUCATION: Role.department,
           CHANGCHUN: Role.city, JILIN_CITY: Role.city}


class Clock:
    """A settable clock for the app (aware, Asia/Shanghai)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, *args: int) -> None:
        self.now = datetime(*args, tzinfo=TZ)


@dataclass
class Api:
    """The app under test and what the tests need around it."""

    client: TestClient
    engine: sa.Engine
    url: str
    clock: Clock
    store: Path
    settings: Settings
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, org_code: str) -> dict[str, str]:
        """``Authorization`` header of a token of ``org_code`` (made once, cached)."""
        if org_code not in self.tokens:
            role = ROLE_OF.get(org_code, Role.county)
            with db.unit_of_work(self.engine) as session:
                _, text = issue_token(session, org_code, role, now=self.clock(), name=f"测试{org_code}")
            self.tokens[org_code] = text
        return {"Authorization": f"Bearer {self.tokens[org_code]}"}

    def call(self, method: str, path: str, org: str | None, **kw: Any):
        headers = {**(self.auth(org) if org else {}), **kw.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kw)

    def task_id(self, key: str) -> int:
        with db.read_session(self.engine) as s:
            return s.execute(sa.text("select id from trackedtask where key = :k"), {"k": key}).scalar_one()


def snapshot(engine: sa.Engine) -> dict[str, Any]:
    """Every task row and the row counts of the tables the API writes."""
    with engine.connect() as conn:
        tasks = conn.execute(sa.text(
            "select id, state, version, due_on, due_at, s.next_action_at, submitted_at, "
            "completed_at, times_returned from trackedtask "
            "left join taskschedule s on s.task_id = id order by id")).all()
        counts = {t: conn.execute(sa.text(f"select count(*) from {t}")).scalar_one()
                  for t in ("auditevent", "filing", "attachment", "cityreview",
                            "extensionrequest", "contact")}
    return {"tasks": [tuple(r) for r in tasks], **counts}


def store_files(store: Path) -> list[str]:
    """Every file under the file store folder (relative paths), sorted."""
    return sorted(str(p.relative_to(store)) for p in store.rglob("*") if p.is_file())


@pytest.fixture
def api(jilin: sa.Engine, tmp_path: Path, calendar: WorkingCalendar) -> Api:
    """The app over the Jilin plan; the clock at 2020-04-20 10:00 Asia/Shanghai."""
    url = jilin.url.render_as_string(hide_password=False)
    store = tmp_path / "files"
    settings = Settings(database_url=url, file_store_dir=store)
    clock = Clock(datetime(2020, 4, 20, 10, 0, tzinfo=TZ))
    app = create_app(settings, clock=clock, calendar=calendar)
    return Api(TestClient(app), jilin, url, clock, store, settings)


def pdf_bytes(size: int = 2000) -> bytes:
    """A small document that starts like a PDF (``%PDF-``), ``size`` bytes."""
    head = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\n"
    return head + b"0" * max(0, size - len(head) - 6) + b"\n%%EOF"


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    """A ZIP archive with ``entries`` (stored, not compressed)."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 200


@contextmanager
def live_server(app) -> Iterator[str]:
    """``app`` served by a real uvicorn on 127.0.0.1 (a free port) in a thread; yields its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def submit_catalogs(api: Api, county: str) -> None:
    """Submit the county's 26 catalog tasks (as the county, directly through the workflow)."""
    from sqlmodel import select

    from rollout.models import TrackedTask
    from rollout.workflow import Action, Actor, transition

    with db.unit_of_work(api.engine) as s:
        ids = s.exec(select(TrackedTask.id).where(TrackedTask.key.startswith(f"catalog:{county}:"))).all()
        assert len(ids) == 26
        for tid in ids:
            transition(s, tid, Action.submit, Actor(county, Role.county, "县联络员"), now=api.clock(),
                       calendar=api.client.app.state.rollout.calendar)
