"""The deadline sweep as a Prefect flow (deployment entrypoint
``rollout.flows.deadlines:sweep_deadlines``, dotted: ``rollout.flows.deadlines.sweep_deadlines``).

Partitioned per province (issue 6, item 3): one Prefect task run per province code
(``Organization.province_code``), submitted at once to a thread pool of ``PROVINCE_WORKERS``;
each runs ``rollout.sweep.sweep_all`` over that province's due tasks, one unit of work per batch
(``DEFAULT_BATCH_SIZE`` tasks), committed before the next starts. On PostgreSQL the run holds
the numbering lock while its provinces sweep, and their batches share one number plan: they
write at once and commit in turn (``rollout.notifications.numbering``). Coarse by design (DESIGN.md,
"Prefect tasks are coarse"): a task run per province, never per tracked task; 31 provinces are
31 task runs.

A crash loses at most the batch in flight, and a rerun (or a Prefect retry of that province)
picks up where the committed batches left off: the sweep itself is idempotent and two sweeps at
once write each outbox row once (``rollout.sweep``). A province whose task fails (after its
retries, which cover I/O errors only: ``rollout.flows.runtime.io_failure``) fails the flow, but
only after every other province has finished, so one province's fault never holds back another's
reminders.

When some organization has no ``province_code`` (a registry loaded before the column was filled)
the flow does not partition: one task sweeps everything, so no task is left unswept.

The whole run (every province) holds the ``sweep`` job lease (``rollout.leases``), so a
dispatcher running meanwhile builds no digests from half a sweep's batches
(``rollout.notifications.dispatch.sweep_running``):

- Run by a Prefect worker (``lease_holder`` unset), the flow takes the lease itself as
  ``flow-run:<flow run id>`` and releases it when it ends, also when it fails. It serves no
  slot: ``last_run_at`` is left to the embedded scheduler.
- Run by the embedded scheduler (``rollout.scheduling.JobRunner``), the runner already holds the
  lease and passes its holder as ``lease_holder``; the flow checks that the row names that
  holder and takes no lease of its own (taking it would wait on itself).
- Two Prefect-run sweeps at once (the deployment's ``concurrency_limit`` dropped, or one run
  while the embedded scheduler sweeps): the second waits, polling, until the lease is free,
  then sweeps. Not skipped, because a run's ``as_of`` may be later than the running one's and
  skipping would drop its reminders until the next day; not run alongside, because the first
  run's release would then let a dispatcher build digests while the second still commits. The
  second run finds little left to do (the sweep is idempotent). A holder that crashed blocks at
  most ``lease_seconds`` (``rollout.jobs.JOBS["sweep"]``, 30 minutes): the wait lasts up to
  ``LEASE_WAIT_SECONDS`` and then fails the run (``RolloutError``, code ``lease_busy``).
"""

from __future__ import annotations

import uuid
from contextlib import ExitStack
from datetime import datetime

from prefect import flow, task
from prefect.futures import wait
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner
from sqlmodel import col, select

from rollout import db, leases
from rollout.calendar import WorkingCalendar
from rollout.errors import RolloutError
from rollout.flows.runtime import io_failure, parse_as_of
from rollout.jobs import JOBS
from rollout.models import Organization
from rollout.notifications.numbering import NumberSequencer, start_numbering
from rollout.settings import get_settings
from rollout.sweep import DEFAULT_BATCH_SIZE, SweepReport, sweep_all

PROVINCE_WORKERS = 4
"""Provinces swept at once (threads of the flow's task runner). The work is database-bound: more
threads than the database has cores to spare only queue on its locks. Their batches write at
once and commit in turn (one number plan for the run: ``_NUMBERING``)."""

ALL = "all"
"""The partition key of an unpartitioned sweep in the flow's ``provinces`` result."""

SWEEP_JOB = JOBS["sweep"]
"""The job whose lease a run holds (``name`` ``sweep``, ``lease_seconds`` 1800)."""

LEASE_WAIT_SECONDS = SWEEP_JOB.lease_seconds + 60
"""How long a run waits for the lease held by another sweep: a crashed holder's lease runs out
within ``lease_seconds``; the extra minute covers clock steps and the polling interval."""


class ProvinceSweepFailed(RuntimeError):
    """One or more provinces' sweeps failed after their retries; ``result`` holds what the other
    provinces did (the flow's JSON result, as far as it got), ``failed`` the province codes."""

    def __init__(self, failed: list[str], result: dict) -> None:
        self.failed, self.result = failed, result
        super().__init__(f"以下省份的催办督办扫描失败：{'、'.join(failed)}；其余省份已完成：{result}")


def _calendar() -> WorkingCalendar:
    return WorkingCalendar(get_settings().holiday_dirs)


def sweep_partitions(database_url: str) -> list[str | None]:
    """The province codes to sweep one by one, sorted (``SELECT DISTINCT province_code FROM
    organization WHERE province_code IS NOT NULL``); ``[None]`` (one unpartitioned sweep) when
    some organization has no province code or there are no organizations at all."""
    with db.read_session(db.get_engine(database_url)) as session:
        codes = list(session.exec(
            select(Organization.province_code).where(col(Organization.province_code).is_not(None))
            .distinct().order_by(col(Organization.province_code))
        ))
        unassigned = session.exec(
            select(Organization.code).where(col(Organization.province_code).is_(None)).limit(1)
        ).first()
    return [None] if unassigned is not None or not codes else codes


_NUMBERING: dict[str, NumberSequencer] = {}
"""The notice-number sequencers of the runs in this process, by token (``_sweep``): a run's
province tasks run in threads of its process (``ThreadPoolTaskRunner``) and all number under
the run's one hold of the numbering lock (``rollout.notifications.numbering``)."""


@task(name="sweep-province", retries=2, retry_delay_seconds=2, retry_condition_fn=io_failure,
      task_run_name="sweep-province-{province_code}")
def sweep_province(
    database_url: str, now: datetime, province_code: str | None, batch_size: int,
    numbering: str | None = None,
) -> SweepReport:
    """Every due task of one province (``province_code`` None: of all provinces) at aware
    ``now``, in batches of ``batch_size``, each batch its own unit of work (committed when its
    ``with`` block ends), one after another: the provinces already run side by side
    (``PROVINCE_WORKERS``). ``numbering``: the token of the run's sequencer in ``_NUMBERING``
    (PostgreSQL; None: the sweep takes the numbering lock itself, or SQLite). Returns the
    summed report (``batches``: batches committed). Raises ``LookupError`` on a token this
    process does not hold (the task ran outside its flow's process)."""
    sequencer = None
    if numbering is not None:
        if numbering not in _NUMBERING:
            raise LookupError(f"本进程没有编号序列 {numbering}：省级清扫须在其流程的进程内运行")
        sequencer = _NUMBERING[numbering]
    engine = db.get_engine(database_url)
    return sweep_all(lambda: db.unit_of_work(engine), now, _calendar(), batch_size=batch_size,
                     province_code=province_code, workers=1, numbering=sequencer)


def _counts(report: SweepReport) -> dict:
    data = report.as_json()
    return {k: data[k] for k in ("created", "skipped", "tasks", "changed_concurrently", "batches")}


@flow(name="sweep-deadlines", log_prints=True,
      task_runner=ThreadPoolTaskRunner(max_workers=PROVINCE_WORKERS))
def sweep_deadlines(
    as_of: str | None = None,
    database_url: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    lease_holder: str | None = None,
) -> dict:
    """Sweep every due task as of ``as_of`` (ISO time; without an offset Asia/Shanghai; default
    now) in ``database_url`` (default ``ROLLOUT_DATABASE_URL``), provinces concurrently, each in
    batches of ``batch_size``, holding the ``sweep`` lease throughout (module docstring).

    ``lease_holder``: leave unset (the run takes the lease as ``flow-run:<id>``, waiting up to
    ``LEASE_WAIT_SECONDS`` while another sweep holds it, counting lease times from ``as_of``);
    the embedded scheduler passes the holder of the lease it holds for this run.

    Returns the summed ``SweepReport`` JSON (``created``, ``skipped``, ``tasks``,
    ``waiting_for_holiday_data`` (task keys), ``changed_concurrently``, ``batches``), ``as_of``,
    and ``provinces``: province code (``"all"`` when unpartitioned) → its ``created``,
    ``skipped``, ``tasks``, ``changed_concurrently``, ``batches``. Raises ``ValueError`` on a
    malformed ``as_of``; ``ProvinceSweepFailed`` when a province failed (after the others are
    done; what they committed stays); ``RolloutError`` (code ``lease_not_held``) when
    ``lease_holder`` does not hold the lease, (code ``lease_busy``) when the wait runs out.
    """
    now = parse_as_of(as_of)
    url = database_url or get_settings().database_url
    engine = db.get_engine(url)
    if lease_holder is not None:
        held_by = leases.current_holder(engine, SWEEP_JOB.name)
        if held_by != lease_holder:
            raise RolloutError(f"扫描租约不属于 {lease_holder}（当前持有者：{held_by or '无'}）",
                               code="lease_not_held")
        return _sweep(url, now, batch_size)
    holder = f"flow-run:{flow_run.id or uuid.uuid4()}"
    with leases.held_lease(engine, SWEEP_JOB.name, holder, now, SWEEP_JOB.lease_seconds,
                           wait_seconds=LEASE_WAIT_SECONDS):
        return _sweep(url, now, batch_size)


def _sweep(url: str, now: datetime, batch_size: int) -> dict:
    engine = db.get_engine(url)
    with ExitStack() as guard:
        token = None
        if engine.dialect.name == "postgresql":  # one hold of the numbering lock for the run
            token = uuid.uuid4().hex
            _NUMBERING[token] = start_numbering(guard.enter_context(db.unit_of_work(engine)))
            guard.callback(_NUMBERING.pop, token)
        futures = {p: sweep_province.submit(url, now, p, batch_size, token)
                   for p in sweep_partitions(url)}
        wait(list(futures.values()))
    total, provinces, failed = SweepReport(), {}, []
    for code, future in futures.items():
        if not future.state.is_completed():
            failed.append(code or ALL)
            continue
        report = future.result()
        total.add(report)
        provinces[code or ALL] = _counts(report)
    result = {"as_of": now.isoformat(), **total.as_json(), "provinces": provinces}
    if failed:
        raise ProvinceSweepFailed(failed, result)
    print(f"催办督办扫描完成：{result}")
    return result
