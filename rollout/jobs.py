"""The scheduled jobs and their times: the one place both schedulers read (DESIGN.md, "Two
schedulers, one truth").

The embedded scheduler (``rollout.scheduling``, APScheduler) builds its triggers from ``JOBS``;
``prefect.yaml`` declares the same jobs as deployments for a Prefect server and workers, and
``tests/test_prefect_yaml.py`` checks that the file agrees with ``JOBS`` field by field.

A leaf module: imports nothing of rollout, nothing of Prefect or APScheduler, so tests and both
schedulers can read it cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEDULE_TIMEZONE = "Asia/Shanghai"
"""Every schedule names this zone. A Prefect cron schedule without a timezone runs in UTC:
``0 9 * * *`` would fire at 17:00 in Beijing."""


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job.

    ``name``: the key of its ``JobLease`` row (``sweep``, ``dispatch``). ``deployment``: the
    deployment name in ``prefect.yaml``. ``cron``: a standard five-field cron expression (minute
    hour day month day-of-week) read in ``timezone`` (an IANA name). ``entrypoint``: the flow as
    a dotted module path (``rollout.flows.deadlines.sweep_deadlines``: Prefect >= 3.8 imports it
    by module path, never by file path, so ``rollout.calendar`` cannot shadow the standard
    library). ``lease_seconds``: how long one run may hold the job's lease (``rollout.leases``;
    taken by the embedded scheduler's runs, and for ``sweep`` also by Prefect-run flows) before
    another process may take it (a crashed holder blocks the job at most this long). ``catch_up``: when a process
    starts and the latest slot was never completed (everyone was down at the time), run it once
    at start. ``second``: the seconds field of the embedded trigger; ``"0"`` for every real job
    (Prefect's cron has no seconds), other values only for tests that need slots seconds apart.
    """

    name: str
    deployment: str
    cron: str
    entrypoint: str
    lease_seconds: int
    catch_up: bool
    timezone: str = SCHEDULE_TIMEZONE
    second: str = "0"

    @property
    def flow_name(self) -> str:
        """The flow function's name (the last part of ``entrypoint``)."""
        return self.entrypoint.rsplit(".", 1)[1]


JOBS: dict[str, JobSpec] = {
    # Issue 3, item 6: the sweep daily at 09:00 Asia/Shanghai; a day missed while every process
    # was down is swept once when one comes back.
    "sweep": JobSpec(
        name="sweep",
        deployment="sweep-deadlines",
        cron="0 9 * * *",
        entrypoint="rollout.flows.deadlines.sweep_deadlines",
        lease_seconds=1800,
        catch_up=True,
    ),
    # Issue 3, item 6: the dispatcher every minute; a missed minute needs no catch-up, the next
    # minute sends whatever is pending.
    "dispatch": JobSpec(
        name="dispatch",
        deployment="dispatch-outbox",
        cron="* * * * *",
        entrypoint="rollout.flows.dispatch.dispatch_outbox",
        lease_seconds=300,
        catch_up=False,
    ),
}
