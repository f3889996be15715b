"""Benchmark: the provincial dashboard's aggregate queries at ~775,000 tasks (or any synthetic
size), on SQLite and PostgreSQL; prints ms median / p95 per query. Run by hand (never in the
test suite):

    .venv/bin/python bench/dashboard.py [--counties 9801] [--cities 99] [--repeat 20]
        [--provinces 31 --townships] [--backends sqlite,postgresql] [--pg-url URL]
        [--sqlite-path FILE]

Plan: ``rollout.plans.synth`` (seeded; 99 cities / 9,801 counties give 774,432 tasks;
``--provinces 31 --townships`` the national one of about 1.2 million), loaded
with ``instantiate_plan`` (timed: that is ``rollout init``) into a fresh database: a scratch
PostgreSQL database on ``ROLLOUT_BENCH_POSTGRES_URL`` (dropped afterwards) and a SQLite file in
a temp folder. ``--pg-url`` / ``--sqlite-path`` measure an already loaded database instead (no
init, no seeding). Seeding (not timed): plain SQL moves tasks by ``id % 20`` as a simulated
2020-09-10 would have them: 40 % of catalog-and-earlier tasks accepted, 15 % submitted, 5 %
returned, 1 % waived, 0.5 % cancelled (the triggers keep the counts, as for any write).

Measured at 2020-09-10 09:00+08:00, each ``--repeat`` times in one read session after one
warm-up, ``perf_counter``:

- ``dashboard``: what ``GET /dashboard`` runs over the tasks: ``load_board`` (city × county ×
  milestone matrix), ``overdue_tasks`` (count and the first 100), ``delivered_by_day``;
- ``plan_progress``: ``rollout status`` and the per-milestone totals;
- ``plain GROUP BY``: for comparison, the board's GROUP BY over ``TrackedTask`` as it ran
  before migration 0014 (what pre-aggregation saves).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sink import scratch_postgres
from sqlmodel import Session, col, select

from rollout import db
from rollout.api.pages.board import load_board, overdue_tasks, soon_limit
from rollout.api.pages.charts import delivered_by_day
from rollout.calendar import TZ, WorkingCalendar
from rollout.models import DONE_STATES, OPEN_STATES, Milestone, Organization, Plan, TrackedTask
from rollout.plans.fanout import instantiate_plan
from rollout.plans.synth import write_synthetic_plan
from rollout.progress import plan_progress

LOADED_AT = datetime(2020, 3, 20, 9, 0, tzinfo=TZ)
AS_OF = datetime(2020, 9, 10, 9, 0, tzinfo=TZ)
SEED_SQL = [  # (id % 20 in these, state, set submitted_at / completed_at)
    ((0, 1, 2, 3, 4, 5, 6, 7), "accepted", True, True),
    ((8, 9, 10), "submitted", True, False),
    ((11,), "returned", True, False),
]


def seed(engine: sa.Engine) -> None:
    """Move tasks of milestones due by 2020-09-10 by ``id % 20`` (see the module docstring)."""
    with db.unit_of_work(engine) as s:
        due = [m for (m,) in s.execute(select(Milestone.id).where(
            col(Milestone.due_on) <= AS_OF.date()))]
        for mods, state, submitted, completed in SEED_SQL:
            values = {"state": state}
            if submitted:
                values["submitted_at"] = datetime(2020, 6, 20, 10, tzinfo=TZ)
            if completed:
                values["completed_at"] = datetime(2020, 7, 15, 10, tzinfo=TZ)
            s.execute(sa.update(TrackedTask).where(
                col(TrackedTask.milestone_id).in_(due), (TrackedTask.id % 20).in_(mods)
            ).values(**values))
        s.execute(sa.update(TrackedTask).where(TrackedTask.id % 200 == 13)
                  .values(state="waived", completed_at=datetime(2020, 8, 1, 10, tzinfo=TZ)))
        s.execute(sa.update(TrackedTask).where(TrackedTask.id % 200 == 17).values(state="cancelled"))


def plain_group_by(session: Session, plan: Plan, calendar: WorkingCalendar) -> int:
    """The board's GROUP BY over ``TrackedTask`` as before 0014; returns the number of cells."""
    soon_on = soon_limit(AS_OF.astimezone(TZ).date(), calendar)
    unit = sa.func.coalesce(TrackedTask.unit_code, TrackedTask.org_code)
    state = col(TrackedTask.state)
    owed = state.in_([s.value for s in OPEN_STATES])

    def n(cond):
        return sa.func.sum(sa.case((cond, 1), else_=0))

    q = (select(unit, Organization.kind, Milestone.key,
                n(sa.and_(owed, col(TrackedTask.due_at) < AS_OF)),
                n(sa.and_(owed, col(TrackedTask.due_at) >= AS_OF, col(TrackedTask.due_on) <= soon_on)),
                n(state == "submitted"), n(state.in_([s.value for s in DONE_STATES])))
         .join(Organization, col(Organization.code) == unit)
         .join(Milestone, col(Milestone.id) == TrackedTask.milestone_id)
         .where(TrackedTask.plan_id == plan.id, state != "cancelled")
         .group_by(unit, Organization.kind, Milestone.key))
    return len(session.exec(q).all())


def measure(url: str, repeat: int, calendar: WorkingCalendar) -> dict[str, list[float]]:
    """ms per run of each query group, ``repeat`` runs after one warm-up."""
    engine = db.get_engine(url)
    out: dict[str, list[float]] = {}
    with db.read_session(engine) as s:
        plan = s.exec(select(Plan).order_by(col(Plan.id).desc())).first()
        assert plan is not None, "no plan loaded"

        def dashboard() -> None:
            load_board(s, plan, AS_OF, calendar)
            overdue_tasks(s, plan, AS_OF, calendar)
            delivered_by_day(s, plan)

        jobs: dict[str, Callable[[], object]] = {
            "dashboard": dashboard,
            "plan_progress": lambda: plan_progress(s, plan, AS_OF),
            "plain GROUP BY": lambda: plain_group_by(s, plan, calendar),
        }
        for name, job in jobs.items():
            job()
            times = []
            for _ in range(repeat if name != "plain GROUP BY" else max(3, repeat // 5)):
                t = time.perf_counter()
                job()
                times.append((time.perf_counter() - t) * 1000)
            out[name] = times
        tasks = s.exec(select(sa.func.count()).select_from(TrackedTask)).one()
    out["tasks"] = [float(tasks)]
    return out


def p95(values: list[float]) -> float:
    """The 95th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counties", type=int, default=9801)
    ap.add_argument("--cities", type=int, default=99)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--provinces", type=int, help="national synth: the first N provinces")
    ap.add_argument("--townships", action="store_true", help="with townships (national synth)")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--pg-url", help="an already loaded PostgreSQL database (no init)")
    ap.add_argument("--sqlite-path", help="an already loaded SQLite file (no init)")
    args = ap.parse_args()
    calendar = WorkingCalendar()
    print(f"# {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, as of {AS_OF.isoformat()}",
          flush=True)
    rows = []
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        plan = None
        for backend in args.backends.split(","):
            given = args.pg_url if backend == "postgresql" else args.sqlite_path
            init_s = None
            if given:
                url = given if "://" in given else f"sqlite:///{given}"
            else:
                if plan is None:
                    plan = write_synthetic_plan(
                        Path(tmp), counties=args.counties, cities=args.cities, seed=args.seed,
                        provinces=args.provinces, townships=args.townships,
                    ).plan
                url = (stack.enter_context(scratch_postgres("rollout_dash"))
                       if backend == "postgresql" else f"sqlite:///{tmp}/dash.db")
                engine = db.get_engine(url)
                db.migrate(engine)
                t = time.perf_counter()
                with db.unit_of_work(engine) as s:
                    instantiate_plan(s, plan, now=LOADED_AT, calendar=calendar)
                init_s = time.perf_counter() - t
                seed(engine)
            result = measure(url, args.repeat, calendar)
            tasks = int(result.pop("tasks")[0])
            for name, times in result.items():
                rows.append((backend, tasks, name, statistics.median(times), p95(times), init_s))
            db.get_engine(url).dispose()
    print(f"{'backend':<11}{'tasks':>9}  {'query':<16}{'median ms':>10}{'p95 ms':>9}{'init s':>8}")
    for backend, tasks, name, med, high, init_s in rows:
        init = f"{init_s:8.1f}" if init_s is not None else f"{'-':>8}"
        print(f"{backend:<11}{tasks:>9}  {name:<16}{med:>10.1f}{high:>9.1f}{init}")


if __name__ == "__main__":
    main()
