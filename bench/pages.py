"""Benchmark: render each web page N times (default 30) for the 4,805-task Jilin plan through
the ASGI app in-process (Starlette's TestClient), on SQLite and on PostgreSQL; prints a table of
median and p95 milliseconds per page. Run by hand (never in the test suite):

    .venv/bin/python bench/pages.py [--n 30] [--backends sqlite,postgresql] [--no-simulate]

Setup per backend (not timed): a fresh database with the Jilin plan, then a simulated run from
2020-03-20 to 2020-09-01 (sweep and dispatch at 09:00 each working day, ``rollout.simulation``)
with seeded progress (most units deliver 2 days early, about one in five late, one in ten never;
cities sign off as soon as a county's catalogs are in), so the outbox, the audit trail and the
matrix look like a real September. Users log in once; each timed request carries the session
cookie (the session lookup is part of the time). Two untimed warm-up requests per page.
PostgreSQL: ``ROLLOUT_BENCH_POSTGRES_URL`` (default the local server, database ``test``); a
scratch database is created and dropped.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date, datetime
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import select

from rollout import db
from rollout.actions.calendar_tokens import issue_calendar_token
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

PG_URL = os.environ.get("ROLLOUT_BENCH_POSTGRES_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")
LOADED_AT = datetime(2020, 3, 20, 9, 0, tzinfo=TZ)
AS_OF = datetime(2020, 9, 1, 18, 0, tzinfo=TZ)
PASSWORD = "bench-password"
USERS = {"office": "220000.office", "changchun": "220100", "nanguan": "220102"}


def prepare(url: str, with_simulation: bool, calendar: WorkingCalendar) -> tuple[str, dict[str, int]]:
    """Load the plan (and simulate); make users and a feed token. Returns the feed token and
    a few task ids."""
    engine = db.get_engine(url)
    db.migrate(engine)
    with db.unit_of_work(engine) as s:
        instantiate_plan(s, BUNDLED_PLAN, now=LOADED_AT, calendar=calendar)
    if with_simulation:
        simulate(engine, date(2020, 3, 20), AS_OF.date(), calendar=calendar,
                 config=DispatchConfig.from_settings(Settings()), on_day=DemoProgress(calendar))
    with db.unit_of_work(engine) as s:
        for name, org in USERS.items():
            create_user(s, org, name, PASSWORD, now=AS_OF)
        _, feed = issue_calendar_token(s, "220102", now=AS_OF)
        ids = {k: s.exec(select(TrackedTask.id).where(TrackedTask.key == k)).one()
               for k in ("catalog:220102:social_assistance", "city_review:220102")}
    return feed, ids


def login(app, username: str) -> TestClient:
    """A client of ``app`` signed in as ``username``."""
    c = TestClient(app, follow_redirects=False)
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)  # type: ignore[union-attr]
    r = c.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 303, r.text
    return c


def run(url: str, n: int, with_simulation: bool, tmp: Path) -> list[tuple[str, float, float, int]]:
    """Prepare ``url`` and time every page ``n`` times: [(page, median ms, p95 ms, bytes)]."""
    calendar = WorkingCalendar()
    feed, ids = prepare(url, with_simulation, calendar)
    app = create_app(Settings(database_url=url, file_store_dir=tmp / "files"),
                     clock=lambda: AS_OF, calendar=calendar)
    office, city, county = login(app, "office"), login(app, "changchun"), login(app, "nanguan")
    anonymous = TestClient(app)
    pages = [
        ("/dashboard", office), ("/dashboard/county/220102", office), ("/city/220100", city),
        ("/unit/220102", county), ("/unit/220000.office", office),
        (f"/tasks/{ids['catalog:220102:social_assistance']}", county),
        (f"/tasks/{ids['city_review:220102']}", city), ("/outbox", office),
        ("/outbox?status=sent", office), ("/outbox", county), (f"/calendar/{feed}.ics", anonymous),
        ("/dashboard/assessment?format=csv", office), ("/dashboard/assessment?format=xlsx", office),
    ]
    out = []
    for path, client in pages:
        for _ in range(2):
            assert client.get(path).status_code == 200, path
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            r = client.get(path)
            times.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200, path
        times.sort()
        p95 = times[min(len(times) - 1, int(round(0.95 * len(times))) - 1)]
        label = path if "calendar/" not in path else "/calendar/<token>.ics"
        who = {id(office): "office", id(city): "city", id(county): "county", id(anonymous): "-"}[id(client)]
        out.append((f"{label} ({who})", statistics.median(times), p95, len(r.content)))
    db.get_engine(url).dispose()
    return out


def main() -> None:
    """Parse the options, run each backend, print the tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--no-simulate", action="store_true")
    args = ap.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, {platform.system()} {platform.release()}")
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            if backend == "sqlite":
                url, drop = f"sqlite:///{tmp}/bench.db", None
            else:
                name = f"rollout_bench_{uuid.uuid4().hex[:8]}"
                admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
                with admin.connect() as conn:
                    conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
                url = sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
                drop = name
            try:
                rows = run(url, args.n, not args.no_simulate, Path(tmp))
            finally:
                if drop:
                    db.get_engine.cache_clear()
                    with admin.connect() as conn:
                        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{drop}" WITH (FORCE)'))
        print(f"\n{backend}: {args.n} requests per page, as of {AS_OF:%Y-%m-%d %H:%M} "
              f"({'after simulated run' if not args.no_simulate else 'plan only'})")
        print(f"{'page':48} {'median ms':>10} {'p95 ms':>8} {'bytes':>9}")
        for label, med, p95, size in rows:
            print(f"{label:48} {med:10.1f} {p95:8.1f} {size:9d}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
