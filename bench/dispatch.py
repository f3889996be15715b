"""Benchmark: dispatch N digests (default 10,000) to a local aiosmtpd sink, on SQLite and on
PostgreSQL; prints a table. Run by hand (never in the test suite):

    .venv/bin/python bench/dispatch.py [--digests 10000] [--batch 100] [--connections 4]
                                       [--backends sqlite,postgresql]

Setup per backend (not timed): a fresh database with the Jilin plan loaded and N pending outbox
rows, one per address, so every row becomes its own digest. Timed: one ``dispatch`` run (build
the N digests, claim them in batches of ``--batch``, send each batch over ``--connections``
SMTP connections to a sink in a separate process while the next batch is claimed and the last
one recorded, one transaction per batch's results), with the rate limit off. Besides the rate
it prints the CPU time per digest of this process (the dispatcher) and of the sink, and the
load average before and after (the machine is shared: a busy neighbour halves the rate).
PostgreSQL: ``ROLLOUT_BENCH_POSTGRES_URL`` (default the local server, database ``test``); a
scratch database is created and dropped.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import sqlalchemy as sa
from sink import free_port, scratch_postgres, start_sink  # bench/sink.py (the script's folder)
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


@dataclass
class Result:
    """One backend's run: digests sent, wall seconds, CPU seconds of the dispatcher process and
    of the sink process, 1-minute load average before and after."""

    backend: str
    sent: int
    seconds: float
    cpu_seconds: float
    sink_cpu_seconds: float
    load_before: float
    load_after: float


def measure(backend: str, url: str, n: int, sink: subprocess.Popen, port: int, batch: int,
            connections: int) -> Result:
    """Prepare ``url`` (not timed), then time one ``dispatch`` run of ``n`` digests."""
    engine = db.get_engine(url)
    prepare(engine, n)
    cfg = DispatchConfig(
        smtp=SmtpConfig(host="127.0.0.1", port=port, starttls=False, mail_from="gk-notice@example.org",
                        mail_from_name="省政务公开办"),
        batch_size=batch, connections=connections, rate_per_second=1e9, settle_seconds=0,
        lease_seconds=3600,
    )
    load_before = os.getloadavg()[0]
    cpu, sink_cpu, t = time.process_time(), process_cpu_seconds(sink.pid), time.perf_counter()
    report = dispatch(lambda: db.unit_of_work(engine), now=NOW, config=cfg,
                      calendar=WorkingCalendar())
    seconds = time.perf_counter() - t
    cpu, sink_cpu = time.process_time() - cpu, process_cpu_seconds(sink.pid) - sink_cpu
    with db.read_session(engine) as s:
        sent = s.exec(select(func.count()).select_from(Digest)
                      .where(Digest.status == DigestStatus.sent)).one()
    assert report.sent == sent == n, (report, sent)
    engine.dispose()
    db.get_engine.cache_clear()
    return Result(backend, sent, seconds, cpu, sink_cpu, load_before, os.getloadavg()[0])


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--digests", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=DispatchConfig().batch_size)
    ap.add_argument("--connections", type=int, default=DispatchConfig().connections)
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
                    results.append(measure(backend, url, args.digests, sink, port, args.batch,
                                           args.connections))
            else:
                with scratch_postgres() as url:
                    results.append(measure(backend, url, args.digests, sink, port, args.batch,
                                           args.connections))
    finally:
        sink.terminate()
        sink.wait()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"batch {args.batch}, {args.connections} SMTP connections")
    print(f"{'backend':<12}{'digests':>9}{'seconds':>10}{'digests/s':>12}"
          f"{'cpu ms/digest':>15}{'sink ms/digest':>16}{'load before/after':>19}")
    for r in results:
        print(f"{r.backend:<12}{r.sent:>9}{r.seconds:>10.1f}{r.sent / r.seconds:>12.0f}"
              f"{r.cpu_seconds / r.sent * 1e3:>15.2f}{r.sink_cpu_seconds / r.sent * 1e3:>16.2f}"
              f"{r.load_before:>12.1f} / {r.load_after:.1f}")


if __name__ == "__main__":
    main()
