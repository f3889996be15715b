"""The phases of ``bench/run.py``, each run in its own child process (``run.py --phase NAME``):
init, days, prepare, sweep, dispatch, dashboard, and the two peers. Each returns JSON-ready
data; ``run.py`` adds the process's ``peak_mib``. What each times: ``bench/run.py``'s docstring.
"""

from __future__ import annotations

import math
import resource
import statistics
import time
from collections import Counter
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

LOADED_AT_ISO = "2020-03-20T09:00:00+08:00"


def rss_mib() -> float:
    """Resident set of this process now, MiB (``/proc/self/status`` VmRSS)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_mib() -> float:
    """Peak resident set of this process so far, MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_init(url: str, plan: Path) -> dict:
    """Migrate, then time ``instantiate_plan`` in one unit of work."""
    from rollout import db
    from rollout.calendar import WorkingCalendar
    from rollout.plans.fanout import instantiate_plan

    engine, base = db.get_engine(url), rss_mib()
    db.migrate(engine)
    t = time.perf_counter()
    with db.unit_of_work(engine) as s:
        report = instantiate_plan(s, plan, now=datetime.fromisoformat(LOADED_AT_ISO),
                                  calendar=WorkingCalendar())
    seconds = time.perf_counter() - t
    engine.dispose()
    return {"init_s": seconds, "tasks": report.total, "base_mib": base}


def _reminder_days(session) -> tuple[Counter, dict, int]:
    """Per local day, the tasks with a reminder that day (if every task is done on time);
    the send time of each day's steps; the number of tasks."""
    import sqlalchemy as sa
    from sqlmodel import select

    from rollout.calendar import WorkingCalendar
    from rollout.deadlines import DeadlinePolicy, StepKind, steps_for
    from rollout.models import Milestone, TrackedTask

    cal = WorkingCalendar()
    policies = {m.id: DeadlinePolicy.model_validate(m.policy) for m in session.exec(select(Milestone))}
    groups = session.exec(select(TrackedTask.milestone_id, TrackedTask.due_on, sa.func.count())
                          .group_by(TrackedTask.milestone_id, TrackedTask.due_on)).all()
    per_day: Counter = Counter()
    at: dict[date, datetime] = {}
    for mid, due_on, n in groups:
        for s in steps_for(due_on, policies[mid], cal):
            if s.kind is StepKind.reminder:
                per_day[s.on] += n
                at[s.on] = s.at
    return per_day, at, sum(n for *_, n in groups)


def phase_days(url: str, due_share: float) -> dict:
    """The sweep days (read only): ``typical``, the reminder day whose due count is nearest
    ``due_share`` of all tasks (by ratio), and ``peak``, the busiest: the earliest day with at
    least 90 % of the largest count (the first day of the largest wave, so little catch-up is
    needed before it); each with its send time and count, and every reminder day's share."""
    from rollout import db

    engine = db.get_engine(url)
    with db.read_session(engine) as s:
        per_day, at, total = _reminder_days(s)
    engine.dispose()
    target = due_share * total
    typical = min(per_day, key=lambda d: (abs(math.log(per_day[d] / target)), d))
    most = max(per_day.values())
    peak = min(d for d, n in per_day.items() if n >= 0.9 * most)
    return {
        "total": total,
        "shares": sorted({round(n / total, 4) for n in per_day.values()}),
        **{name: {"day": d.isoformat(), "at": at[d].isoformat(), "due": per_day[d]}
           for name, d in (("typical", typical), ("peak", peak))},
    }


def phase_prepare(url: str, day: date) -> dict:
    """State "as of ``day``": tasks due before it accepted, then a sweep as of the end of the
    day before, then VACUUM ANALYZE (PostgreSQL) / ANALYZE (SQLite) (untimed)."""
    import sqlalchemy as sa

    from rollout import db
    from rollout.calendar import WorkingCalendar, end_of_day_at
    from rollout.models import TaskSchedule, TaskState, TrackedTask
    from rollout.sweep import sweep_all

    engine = db.get_engine(url)
    with db.unit_of_work(engine) as s:
        before = TrackedTask.due_on < day
        accepted = s.execute(sa.update(TrackedTask).where(before)
                             .values(state=TaskState.accepted.value)).rowcount
        # as the workflow does (rollout.schedules): a task that is not open has no next action
        s.execute(sa.update(TaskSchedule).where(
            TaskSchedule.task_id.in_(sa.select(TrackedTask.id).where(before)))  # type: ignore[union-attr]
            .values(next_action_at=None))
    t = time.perf_counter()
    catch_up = sweep_all(lambda: db.unit_of_work(engine), end_of_day_at(day - timedelta(days=1)),
                         WorkingCalendar())
    catch_up_s = time.perf_counter() - t
    # One UPDATE of ~90 % of the rows leaves as many dead tuples, which a real year (states
    # changing over months, autovacuum running) never has: vacuum and analyze as autovacuum would.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE")
    engine.dispose()
    return {"accepted_before": accepted, "catch_up_rows": catch_up.created + catch_up.skipped,
            "catch_up_s": catch_up_s}


def phase_sweep(url: str, at: datetime, batch: int) -> dict:
    """Time the sweep as of ``at``, one unit of work per batch."""
    from rollout import db
    from rollout.calendar import WorkingCalendar
    from rollout.sweep import sweep_all

    engine, base, cal = db.get_engine(url), rss_mib(), WorkingCalendar()
    t = time.perf_counter()
    total = sweep_all(lambda: db.unit_of_work(engine), at, cal, batch_size=batch)
    seconds = time.perf_counter() - t
    engine.dispose()
    return {"sweep_s": seconds, "swept": total.tasks, "created": total.created,
            "skipped": total.skipped, "batches": total.batches, "base_mib": base}


def phase_dispatch(url: str, day: date, port: int, digests: int, batch: int) -> dict:
    """Add ``digests`` rows (reminders of open tasks) to as many addresses (untimed), then time
    one dispatch at 09:05 (rows of tasks no longer open would be skipped, not sent), stopped
    after ``ceil(digests / batch)`` rounds of ``batch``: about ``digests`` digests sent."""
    import sqlalchemy as sa
    from sqlmodel import col, func, select

    from rollout import db
    from rollout.calendar import TZ, WorkingCalendar
    from rollout.models import OPEN_STATES, Digest, DigestStatus, OutboxMessage, TrackedTask
    from rollout.notifications.dispatch import DispatchConfig, dispatch
    from rollout.notifications.smtp import SmtpConfig

    engine, base, cal = db.get_engine(url), rss_mib(), WorkingCalendar()
    now = datetime.combine(day, dtime(9, 5), TZ)
    with db.unit_of_work(engine) as s:
        tasks = list(s.exec(select(TrackedTask.id, TrackedTask.plan_id, TrackedTask.due_on,
                                   TrackedTask.org_code)
                            .where(col(TrackedTask.state).in_([x.value for x in OPEN_STATES]))
                            .order_by(col(TrackedTask.id)).limit(digests)))
        rows = [{"plan_id": p, "task_id": tid, "due_on": due, "step_key": f"bench-{i}",
                 "kind": "reminder", "levels_up": 0, "recipient_org_code": org,
                 "recipient_name": "", "channel": "email", "address": f"bench{i}@example.org",
                 "notice_number": f"催办〔2020〕B{i + 1:06d}号", "scheduled_on": day,
                 "status": "pending", "created_at": now - timedelta(minutes=5)}
                for i, (tid, p, due, org) in ((i, tasks[i % len(tasks)]) for i in range(digests))]
        for i in range(0, len(rows), 5000):
            s.execute(sa.insert(OutboxMessage), rows[i:i + 5000])
    cfg = DispatchConfig(
        smtp=SmtpConfig(host="127.0.0.1", port=port, starttls=False,
                        mail_from="gk-notice@example.org", mail_from_name="省政务公开办"),
        batch_size=batch, rate_per_second=1e9, settle_seconds=0, lease_seconds=3600,
    )
    t = time.perf_counter()
    rep = dispatch(lambda: db.unit_of_work(engine), now=now, config=cfg, calendar=cal,
                   max_rounds=math.ceil(digests / batch))
    seconds = time.perf_counter() - t
    with db.read_session(engine) as s:
        sent = s.exec(select(func.count()).select_from(Digest)
                      .where(Digest.status == DigestStatus.sent)).one()
    engine.dispose()
    assert rep.sent == sent >= digests and not rep.failed and not rep.retrying, (rep, sent)
    assert not rep.errors, rep
    return {"dispatch_s": seconds, "sent": sent, "built": rep.digests_built, "base_mib": base}


def phase_dashboard(url: str, day: date, repeats: int) -> dict:
    """Median time of ``plan_progress`` of the (only) plan as of D 18:00."""
    from sqlmodel import select

    from rollout import db
    from rollout.calendar import TZ
    from rollout.models import Plan
    from rollout.progress import plan_progress

    engine, base = db.get_engine(url), rss_mib()
    as_of = datetime.combine(day, dtime(18), TZ)
    times = []
    with db.read_session(engine) as s:
        plan = s.exec(select(Plan)).one()
        rows = plan_progress(s, plan, as_of)
        for _ in range(repeats):
            t = time.perf_counter()
            plan_progress(s, plan, as_of)
            times.append(time.perf_counter() - t)
    engine.dispose()
    return {"dashboard_ms": statistics.median(times) * 1000, "dashboard_min_ms": min(times) * 1000,
            "dashboard_total": sum(r.total for r in rows), "base_mib": base}


def phase_spiff(instances: int, due_share: float) -> dict:
    from peers import spiffworkflow_peer

    return spiffworkflow_peer.as_json(spiffworkflow_peer.measure(instances, due_share))


def phase_prefect(tasks: int) -> dict:
    from peers import prefect_peer

    return prefect_peer.as_json(prefect_peer.measure(tasks))
