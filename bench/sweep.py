"""Benchmark: init, sweep one day and dispatch its digests for a synthetic plan of ~225,000 tasks,
on SQLite and on PostgreSQL; prints a table. Run by hand (never in the test suite):

    .venv/bin/python bench/sweep.py [--counties 2850] [--cities 99] [--backends sqlite,postgresql]
        [--open-every 7] [--sweep-batch 10000]

Plan: ``rollout.plans.synth`` (seeded; the Jilin milestones over ``--counties`` county-level
units in ``--cities`` cities: 2,850 / 99 give 225,303 tasks), written once to a temp folder.
Each backend runs in its own child process (so its peak RSS is its own) on a fresh database
(SQLite: a file in a temp folder; PostgreSQL: a scratch database on ``ROLLOUT_BENCH_POSTGRES_URL``,
created and dropped here). Phases, each timed with ``perf_counter``:

1. init: ``instantiate_plan`` in one unit of work, as ``rollout init`` does (after ``migrate``).
2. setup (not timed): counterpart-department contacts for the first k domains of every county,
   k the smallest giving >= ``--digests`` digests on the day (k + 1 addresses per county).
   With ``--open-every N`` > 1, every catalog task whose id is not a multiple of N is marked
   submitted on 06-10 (no next action): N = 7 on 9,801 counties leaves 36,555 of 774,432 tasks
   (4.7%) due on 06-16, the "one day, about 5% due" of issue 6.
3. sweep: ``rollout.sweep.sweep_all`` as of 2020-06-16 09:00+08:00 (catalog reminder-10: one row per
   county × domain task; the overdue department and city tasks of April–May catch up too), one
   unit of work per batch of ``--sweep-batch``, as ``rollout.flows.deadlines`` does.
4. dispatch: ``rollout.notifications.dispatch.dispatch`` at 09:05 (building the day's digests,
   claiming ``--dispatch-batch`` at a time, one SMTP connection to an aiosmtpd ``Sink`` in a
   separate process, rate limit off), stopped after ``--digests`` digests.

Peak RSS: ``getrusage(RUSAGE_SELF).ru_maxrss`` of the child after each phase (cumulative).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sink import free_port, scratch_postgres, start_sink
from sqlmodel import col, func, select

from rollout import db
from rollout.calendar import TZ, WorkingCalendar
from rollout.models import (
    Contact,
    Digest,
    DigestStatus,
    Domain,
    Milestone,
    Organization,
    OrgKind,
    OutboxMessage,
    TaskSchedule,
    TaskState,
    TrackedTask,
)
from rollout.notifications.dispatch import DispatchConfig, dispatch
from rollout.notifications.smtp import SmtpConfig
from rollout.plans.fanout import instantiate_plan
from rollout.plans.synth import write_synthetic_plan
from rollout.sweep import DEFAULT_BATCH_SIZE, sweep_all

LOADED_AT = datetime(2020, 3, 20, 9, 0, tzinfo=TZ)
SWEEP_AT = datetime(2020, 6, 16, 9, 0, tzinfo=TZ)
DISPATCH_AT = datetime(2020, 6, 16, 9, 5, tzinfo=TZ)
SUBMITTED_AT = datetime(2020, 6, 10, 9, 0, tzinfo=TZ)


def peak_mib() -> float:
    """Peak resident set of this process so far, MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def add_domain_contacts(engine: sa.Engine, digests: int) -> int:
    """Give every county a counterpart-department contact for its first k domains (k the
    smallest with counties·(k+1) >= ``digests``, at most all domains); returns k."""
    with db.unit_of_work(engine) as s:
        counties = list(s.exec(select(Organization.code).where(Organization.kind == OrgKind.county)
                               .order_by(col(Organization.code))))
        domains = list(s.exec(select(Domain.key, Domain.name).order_by(col(Domain.position))))
        k = min(len(domains), max(0, math.ceil(digests / len(counties)) - 1))
        rows = [{"org_code": c, "domain_key": key, "name": f"{name}联络员", "role": "联络员",
                 "email": f"gk-{c}-{key}@example.org", "active": True}
                for c in counties for key, name in domains[:k]]
        for i in range(0, len(rows), 5000):
            s.execute(sa.insert(Contact), rows[i:i + 5000])
    return k


def submit_most_catalogs(engine: sa.Engine, every: int) -> None:
    """Mark every catalog task whose id is not a multiple of ``every`` submitted (06-10 09:00,
    no next action), so that only about 1/``every`` of them is due on the sweep day."""
    t = TrackedTask.__table__
    with db.unit_of_work(engine) as s:
        catalog = s.exec(select(Milestone.id).where(Milestone.key == "catalog")).one()
        which = sa.and_(t.c.milestone_id == catalog, t.c.id % every != 0)
        s.execute(sa.update(t).where(which).values(
            state=TaskState.submitted.value, submitted_at=SUBMITTED_AT))
        sched = TaskSchedule.__table__
        s.execute(sa.update(sched).where(sched.c.task_id.in_(sa.select(t.c.id).where(which)))
                  .values(next_action_at=None))
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE trackedtask")


def run_backend(url: str, plan: Path, port: int, args: argparse.Namespace) -> dict:
    """The four phases on the database at ``url`` (empty); returns the measurements."""
    engine = db.get_engine(url)
    cal = WorkingCalendar()
    db.migrate(engine)
    res: dict = {}

    t = time.perf_counter()
    with db.unit_of_work(engine) as s:
        report = instantiate_plan(s, plan, now=LOADED_AT, calendar=cal)
    res["init_s"], res["tasks"], res["init_mib"] = time.perf_counter() - t, report.total, peak_mib()

    res["contact_domains"] = add_domain_contacts(engine, args.digests)
    if args.open_every > 1:
        submit_most_catalogs(engine, args.open_every)

    t = time.perf_counter()
    total = sweep_all(lambda: db.unit_of_work(engine), SWEEP_AT, cal, batch_size=args.sweep_batch)
    res["sweep_s"], res["sweep_mib"] = time.perf_counter() - t, peak_mib()
    with db.read_session(engine) as s:
        res["rows"] = s.exec(select(func.count()).select_from(OutboxMessage)).one()
    assert res["rows"] == total.created + total.skipped, (res["rows"], total)
    res |= {"created": total.created, "skipped": total.skipped, "swept_tasks": total.tasks,
            "batches": total.batches, "due_share": total.tasks / res["tasks"]}

    cfg = DispatchConfig(
        smtp=SmtpConfig(host="127.0.0.1", port=port, starttls=False,
                        mail_from="gk-notice@example.org", mail_from_name="省政务公开办"),
        batch_size=args.dispatch_batch, rate_per_second=1e9, settle_seconds=0, lease_seconds=3600,
    )
    t = time.perf_counter()
    rep = dispatch(lambda: db.unit_of_work(engine), now=DISPATCH_AT, config=cfg, calendar=cal,
                   max_rounds=math.ceil(args.digests / args.dispatch_batch))
    res["dispatch_s"], res["dispatch_mib"] = time.perf_counter() - t, peak_mib()
    with db.read_session(engine) as s:
        res["sent"] = s.exec(select(func.count()).select_from(Digest)
                             .where(Digest.status == DigestStatus.sent)).one()
    assert rep.sent == res["sent"] and not rep.failed and not rep.retrying, rep
    res["built"] = rep.digests_built
    engine.dispose()
    return res


def child(args: argparse.Namespace) -> None:
    """Child-process mode: measure one backend, print its JSON as the last line."""
    res = run_backend(args.url, Path(args.plan), args.port, args)
    print(json.dumps(res))


def spawn(backend: str, url: str, plan: Path, port: int, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--child", "--url", url, "--plan", str(plan),
           "--port", str(port), "--digests", str(args.digests),
           "--sweep-batch", str(args.sweep_batch), "--dispatch-batch", str(args.dispatch_batch),
           "--open-every", str(args.open_every)]
    proc = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
    return {"backend": backend, **json.loads(proc.stdout.strip().splitlines()[-1])}


def print_table(results: list[dict]) -> None:
    heads = ("backend", "tasks", "init s", "sweep s", "rows created", "rows/s", "dispatch digests",
             "digests/s", "peak MiB init/sweep/dispatch")
    lines = [heads]
    for r in results:
        lines.append((
            r["backend"], f"{r['tasks']:,}", f"{r['init_s']:.1f}", f"{r['sweep_s']:.1f}",
            f"{r['rows']:,}", f"{r['rows'] / r['sweep_s']:,.0f}", f"{r['sent']:,}",
            f"{r['sent'] / r['dispatch_s']:,.0f}",
            f"{r['init_mib']:.0f}/{r['sweep_mib']:.0f}/{r['dispatch_mib']:.0f}",
        ))
    widths = [max(len(line[i]) for line in lines) for i in range(len(heads))]
    for line in lines:
        print("  ".join(v.ljust(w) if i == 0 else v.rjust(w)
                        for i, (v, w) in enumerate(zip(line, widths, strict=True))))
    for r in results:
        print(f"{r['backend']}: rows = {r['created']:,} pending + {r['skipped']:,} skipped from "
              f"{r['swept_tasks']:,} tasks ({r['due_share']:.1%} due) in {r['batches']} batches; dispatch {r['dispatch_s']:.1f} s, "
              f"{r['built']:,} digests built (counties have contacts for {r['contact_domains']} "
              f"domains), {r['sent']:,} sent")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counties", type=int, default=2850)
    ap.add_argument("--cities", type=int, default=99)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--digests", type=int, default=10_000)
    ap.add_argument("--sweep-batch", type=int, default=DEFAULT_BATCH_SIZE)
    ap.add_argument("--open-every", type=int, default=1)
    ap.add_argument("--dispatch-batch", type=int, default=100)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--plan", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    load = [os.getloadavg()]
    port = free_port()
    sink = start_sink(port)
    results = []
    try:
        with tempfile.TemporaryDirectory() as d:
            files = write_synthetic_plan(Path(d) / "plan", counties=args.counties,
                                         cities=args.cities, seed=args.seed)
            for backend in args.backends.split(","):
                if backend == "sqlite":
                    url = f"sqlite:///{Path(d) / 'bench.db'}"
                    results.append(spawn(backend, url, files.plan, port, args))
                elif backend == "postgresql":
                    with scratch_postgres() as url:
                        results.append(spawn(backend, url, files.plan, port, args))
                else:
                    raise SystemExit(f"unknown backend {backend!r} (sqlite, postgresql)")
                load.append(os.getloadavg())
    finally:
        sink.terminate()
        sink.wait()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}")
    print("load average (1/5/15 min) at start and after each backend: "
          + "; ".join("/".join(f"{x:.2f}" for x in la) for la in load))
    print_table(results)


if __name__ == "__main__":
    main()
