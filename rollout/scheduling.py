"""The embedded scheduler: APScheduler 3 in-process, started only by ``rollout serve`` and
``rollout scheduler`` (never at import, never in tests unless a test starts it, never twice in one
process). Issue 3, item 6; DESIGN.md, "Scheduling" and "Two schedulers, one truth".

Times come from ``rollout.jobs.JOBS`` (the same ones ``prefect.yaml`` declares). Several
processes may each run this scheduler (uvicorn ``--workers 4``): every run of a job first takes
the job's lease in the database (``JobLease``, ``rollout.leases``), so one process at a time
runs it, and each *slot* (a scheduled fire time, e.g. 2020-04-17 09:00+08:00) runs at most once:
the lease row keeps the last completed slot in ``last_run_at``, and a process that reaches a slot
already done (another process did it, or it restarted at 09:00:30) runs nothing. The runner
passes its holder to the job as ``lease_holder``, so the sweep flow runs under the runner's lease
instead of taking its own; a sweep a Prefect worker runs takes the lease itself, and a firing
that finds it held skips (the slot stays open).

Misfires and downtime:

- ``misfire_grace_time`` is set in ``job_defaults``. APScheduler 3 ignores it as a top-level
  scheduler argument and then uses its default of 1 s, so a 09:00 job reached at 09:00:05 (a
  busy process, a slow thread wake-up) would be dropped as missed.
- Downtime is not APScheduler's to handle here: with its in-memory job store a restarted process
  knows nothing of fire times before it started, and APScheduler 3 does not support one
  persistent job store shared by several schedulers. Instead, on start each ``catch_up`` job runs
  once for the latest slot if that slot is later than ``last_run_at``: a process down from 08:00
  to 10:30 runs the 09:00 sweep once, at 10:30; up again at 10:31 it runs nothing more.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from rollout import db
from rollout.errors import RolloutError
from rollout.jobs import JOBS, SCHEDULE_TIMEZONE, JobSpec
from rollout.leases import acquire_lease, release_lease

log = logging.getLogger(__name__)

MISFIRE_GRACE_SECONDS = 600
"""A fire time reached up to 10 minutes late still runs (coalesced to one run)."""

JOB_DEFAULTS: dict[str, object] = {
    "coalesce": True,
    "misfire_grace_time": MISFIRE_GRACE_SECONDS,
    "max_instances": 1,
}
"""APScheduler job defaults; ``misfire_grace_time`` counts only here or per job."""

JobFunc = Callable[..., object]
"""A job callable. It is called with those of the keyword arguments ``now`` (aware datetime,
the run instant), ``as_of`` (the same as ISO text, for ``sweep_deadlines``), ``slot_at`` (aware
datetime, the slot being served), ``database_url`` (str) and ``lease_holder`` (str: the holder
of the job's lease, which the runner holds for the whole call; ``sweep_deadlines`` then takes
no lease of its own) that its signature names (for a Prefect flow, the signature of
``flow.fn``)."""

_LOOKBACKS = (timedelta(minutes=2), timedelta(hours=2), timedelta(days=2), timedelta(days=40))


def trigger_for(spec: JobSpec) -> CronTrigger:
    """The APScheduler trigger of ``spec``: its cron fields, its ``second``, in its timezone.

    Raises ``ValueError`` when the day-of-week field holds numbers: APScheduler 3 counts 0 as
    Monday where cron (and Prefect) count 0 as Sunday, so only ``*`` or names (``mon-fri``) mean
    the same in both schedulers.
    """
    fields = spec.cron.split()
    if len(fields) != 5:
        raise ValueError(f"{spec.name}: cron needs 5 fields, got {spec.cron!r}")
    minute, hour, day, month, day_of_week = fields
    if any(ch.isdigit() for ch in day_of_week):
        raise ValueError(f"{spec.name}: write day-of-week as names (mon-fri), not {day_of_week!r}")
    return CronTrigger(
        second=spec.second,
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=day_of_week,
        timezone=ZoneInfo(spec.timezone),
    )


def latest_slot(trigger: CronTrigger, now: datetime) -> datetime | None:
    """The latest fire time of ``trigger`` at or before ``now`` (aware), or None if there is none
    within 40 days. E.g. a daily 09:00 trigger at 2020-04-17T10:30+08:00 → 2020-04-17T09:00+08:00;
    at 08:30 → 2020-04-16T09:00+08:00."""
    for lookback in _LOOKBACKS:
        last = None
        fire = trigger.get_next_fire_time(None, now - lookback)
        while fire is not None and fire <= now:
            last = fire
            fire = trigger.get_next_fire_time(fire, fire)
        if last is not None:
            return last
    return None


def _call(func: JobFunc, **available: object) -> object:
    target = getattr(func, "fn", func)  # a Prefect flow's signature is its function's
    params = inspect.signature(target).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return func(**available)
    return func(**{key: value for key, value in available.items() if key in params})


class JobRunner:
    """Runs one job's slots under its lease: what each APScheduler firing calls.

    ``clock()`` gives the run instant when ``run`` gets no ``now`` (tests inject one).
    """

    def __init__(
        self,
        engine_url: str,
        spec: JobSpec,
        func: JobFunc,
        holder: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.engine_url = engine_url
        self.spec = spec
        self.func = func
        self.holder = holder
        self.clock = clock
        self.trigger = trigger_for(spec)

    def run(self, now: datetime | None = None) -> bool:
        """Serve the latest slot at or before ``now`` (aware; default ``clock()``) unless another
        process holds the lease or the slot is done. Returns True if this call ran the job.

        Firings of other processes that find the lease held skip; so when the run ends after a
        newer slot began (a catch-up at 08:59:50 still running at 09:00), the holder serves that
        newest slot once more before returning, and no slot is lost to its own lease. The job
        runs with no transaction open. If it raises, the lease is released without marking the
        slot done and the exception propagates (APScheduler logs it).
        """
        now = now or self.clock()
        ran = False
        while (slot_at := latest_slot(self.trigger, now)) is not None:
            started = time.monotonic()
            if not self._run_slot(slot_at, now):
                break
            ran = True
            later = now + timedelta(seconds=time.monotonic() - started)
            if latest_slot(self.trigger, later) == slot_at:
                break
            now = later
        return ran

    def _run_slot(self, slot_at: datetime, now: datetime) -> bool:
        engine = db.get_engine(self.engine_url)
        spec = self.spec
        if not acquire_lease(engine, spec.name, self.holder, slot_at, now, spec.lease_seconds):
            log.debug("job %s slot %s: done or held elsewhere", spec.name, slot_at.isoformat())
            return False
        log.info("job %s slot %s: running (%s)", spec.name, slot_at.isoformat(), self.holder)
        try:
            _call(
                self.func,
                now=now,
                as_of=now.isoformat(),
                slot_at=slot_at,
                database_url=self.engine_url,
                lease_holder=self.holder,
            )
        except BaseException:
            release_lease(engine, spec.name, self.holder, None)
            raise
        if not release_lease(engine, spec.name, self.holder, slot_at):
            log.warning("job %s slot %s outlived its lease", spec.name, slot_at.isoformat())
        return True


@cache
def _import_dotted(path: str) -> JobFunc:
    module, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def lazy_job(entrypoint: str) -> JobFunc:
    """A job callable that imports ``entrypoint`` (dotted ``module.attr``) at its first run and
    calls it with the keyword arguments its signature names (see ``JobFunc``)."""

    def run_entrypoint(**available: object) -> object:
        return _call(_import_dotted(entrypoint), **available)

    run_entrypoint.__name__ = entrypoint
    return run_entrypoint


def default_jobs() -> list[tuple[JobSpec, JobFunc]]:
    """The real jobs: each spec of ``JOBS`` with its flow, imported lazily by dotted name."""
    return [(spec, lazy_job(spec.entrypoint)) for spec in JOBS.values()]


def build_scheduler() -> BackgroundScheduler:
    """A BackgroundScheduler (not started, no jobs) in Asia/Shanghai with ``JOB_DEFAULTS``."""
    return BackgroundScheduler(timezone=ZoneInfo(SCHEDULE_TIMEZONE), job_defaults=JOB_DEFAULTS)


_guard = threading.Lock()
_running: BackgroundScheduler | None = None


def start_scheduler(
    engine_url: str,
    jobs: Iterable[tuple[JobSpec, JobFunc]] | Mapping[JobSpec, JobFunc] | None = None,
    now: datetime | None = None,
    clock: Callable[[], datetime] | None = None,
) -> BackgroundScheduler:
    """Start this process's scheduler for the database at ``engine_url`` and return it.

    ``jobs``: (spec, callable) pairs; default ``default_jobs()`` (the sweep and the dispatcher).
    Each spec fires on ``trigger_for(spec)``; each firing is a ``JobRunner.run``. Specs with
    ``catch_up`` also run once right after start, as of ``now`` (aware; default the clock at
    that moment), which serves the latest slot if nobody completed it. ``clock``: the run
    instant of regular firings (default the real time in Asia/Shanghai).

    Raises ``RolloutError`` (code ``scheduler_running``) if this process already runs one.
    """
    global _running
    pairs = list(jobs.items() if isinstance(jobs, Mapping) else jobs or default_jobs())
    tz = ZoneInfo(SCHEDULE_TIMEZONE)
    clock = clock or (lambda: datetime.now(tz))
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    with _guard:
        if _running is not None:
            raise RolloutError("本进程已启动调度器，不能重复启动", code="scheduler_running")
        scheduler = build_scheduler()
        for spec, func in pairs:
            runner = JobRunner(engine_url, spec, func, holder, clock)
            scheduler.add_job(runner.run, runner.trigger, id=spec.name, name=spec.name)
            if spec.catch_up:
                scheduler.add_job(runner.run, kwargs={"now": now}, id=f"{spec.name}-catch-up")
        scheduler.start()
        _running = scheduler
    log.info("scheduler started (%s): %s", holder, ", ".join(spec.name for spec, _ in pairs))
    return scheduler


def stop_scheduler(wait: bool = True) -> None:
    """Shut down this process's scheduler (waiting for running jobs if ``wait``); no-op if none
    runs. Afterwards ``start_scheduler`` may be called again."""
    global _running
    with _guard:
        scheduler, _running = _running, None
    if scheduler is not None:
        scheduler.shutdown(wait=wait)
