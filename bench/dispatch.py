"""Benchmark: dispatch N digests (default 10,000) to a local aiosmtpd sink, on SQLite and on
PostgreSQL; prints a table. Run by hand (never in the test suite):

    .venv/bin/python bench/dispatch.py [--digests 10000] [--backends sqlite,postgresql]

Setup per backend (not timed): a fresh database with the Jilin plan loaded and N pending outbox
rows, one per address, so every row becomes its own digest. Timed: one ``dispatch`` run (build
the N digests, claim them in batches of ``--batch``, send over one SMTP connection to a sink
in a separate process, record each result in its own transaction), with the rate limit off.
PostgreSQL: ``ROLLOUT_BENCH_POSTGRES_URL`` (default the local server, database ``test``); a
scratch database is created and dropped.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
import uuid
from datetime import date, datetime
from pathlib import Path

import sqlalchemy as sa
from sink import PG_URL, free_port, start_sink  # bench/sink.py (the script's folder)
from sqlmodel import col, func, select

from rollout import db
from rollout.calendar import TZ, WorkingCalendar
from rollout.models import Digest, DigestStatus, OutboxMessage, TrackedTask
from rollout.notifications.dispatch import DispatchConfig, dispatch
from rollout.notifications.smtp import SmtpConfig
from rollout.plans.fanout import instantiate_plan
from rollout.plans.schema import BUNDLED_PLAN

DAY = date(2020, 7, 1)
NOW = datetime(2020, 7, 1, 9, 5, tzinfo=TZ)


def prepare(engine: sa.Engine, n: int) -> None:
    """Load the plan and write ``n`` pending rows to ``n`` different addresses."""
    db.migrate(engine)
    with db.unit_of_work(engine) as s:
        instantiate_plan(s, BUNDLED_PLAN, now=datetime(2020, 3, 20, 9, tzinfo=TZ),
                         calendar=WorkingCalendar())
    with db.unit_of_work(engine) as s:
        tasks = list(s.exec(select(TrackedTask.id, TrackedTask.plan_id, TrackedTask.due_on,
                                   TrackedTask.org_code).order_by(col(TrackedTask.id))))
        rows = []
        for i in range(n):
            tid, plan_id, due_on, org = tasks[i % len(tasks)]
            rows.append({
                "plan_id": plan_id, "task_id": tid, "due_on": due_on, "step_key": f"bench-{i}",
                "kind": "reminder", "levels_up": 0, "recipient_org_code": org,
                "recipient_name": "", "channel": "email", "address": f"unit{i}@example.org",
                "notice_number": f"催办〔2020〕{i + 1:05d}号", "scheduled_on": DAY,
                "status": "pending", "created_at": datetime(2020, 7, 1, 9, tzinfo=TZ),
            })
        for i in range(0, n, 2000):
            s.execute(sa.insert(OutboxMessage), rows[i:i + 2000])


def measure(url: str, n: int, port: int, batch: int) -> tuple[float, int]:
    engine = db.get_engine(url)
    prepare(engine, n)
    cfg = DispatchConfig(
        smtp=SmtpConfig(host="127.0.0.1", port=port, starttls=False, mail_from="gk-notice@example.org",
                        mail_from_name="省政务公开办"),
        batch_size=batch, rate_per_second=1e9, settle_seconds=0, lease_seconds=3600,
    )
    t = time.perf_counter()
    report = dispatch(lambda: db.unit_of_work(engine), now=NOW, config=cfg,
                      calendar=WorkingCalendar())
    seconds = time.perf_counter() - t
    with db.read_session(engine) as s:
        sent = s.exec(select(func.count()).select_from(Digest)
                      .where(Digest.status == DigestStatus.sent)).one()
    assert report.sent == sent == n, (report, sent)
    engine.dispose()
    return seconds, sent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--digests", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--backends", default="sqlite,postgresql")
    args = ap.parse_args()
    port = free_port()
    sink = start_sink(port)
    results = []
    try:
        for backend in args.backends.split(","):
            if backend == "sqlite":
                with tempfile.TemporaryDirectory() as d:
                    url = f"sqlite:///{Path(d) / 'bench.db'}"
                    results.append((backend, *measure(url, args.digests, port, args.batch)))
            else:
                name = f"rollout_bench_{uuid.uuid4().hex[:8]}"
                admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
                with admin.connect() as c:
                    c.execute(sa.text(f'CREATE DATABASE "{name}"'))
                try:
                    url = sa.engine.make_url(PG_URL).set(database=name).render_as_string(
                        hide_password=False)
                    results.append((backend, *measure(url, args.digests, port, args.batch)))
                finally:
                    db.get_engine.cache_clear()
                    with admin.connect() as c:
                        c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        sink.terminate()
        sink.wait()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{'backend':<12}{'digests':>9}{'seconds':>10}{'digests/s':>12}")
    for backend, seconds, sent in results:
        print(f"{backend:<12}{sent:>9}{seconds:>10.1f}{sent / seconds:>12.0f}")


if __name__ == "__main__":
    main()
