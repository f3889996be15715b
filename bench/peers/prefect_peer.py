"""Peer 2 of ``bench/run.py``: one Prefect task run per tracked task, in Prefect's local mode.

What a team would write without the batch sweep: a flow that, for each of N tracked tasks,
calls a Prefect task that works out that task's due step (``rollout.deadlines.due_steps`` over
the default policy and rollout's calendar: the pure part of the sweep's per-task work, no
database). Prefect runs in its local (ephemeral) mode: no ``PREFECT_API_URL``, a fresh
``PREFECT_HOME`` the caller sets, so Prefect starts its own temporary server on SQLite. Runs are
sequential calls, as the flow would loop.

Measured (``perf_counter``, wall clock):

- first flow run: the first empty flow run of the process (starts the local server), once;
- flow run: an empty flow run, median of ``repeats`` after the first;
- task run: (one flow with N task runs − median empty flow) / N, as the flow sees it;
- recorded: the same, but until the server lists all N task runs as completed (Prefect 3
  sends task-run states as events that the server records in the background).

Checks: the flow returns N results equal to a direct loop's (every 20th task due), and the
server records all N (``AssertionError`` otherwise, or after 600 s).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

from prefect import flow, task

from rollout.calendar import TZ, WorkingCalendar
from rollout.deadlines import DeadlinePolicy, due_steps

RECORD_TIMEOUT_SECONDS = 600
NOW = datetime(2020, 6, 16, 9, 0, tzinfo=TZ)
"""Sweep time: 2020-06-16 09:00, reminder-10 of the tasks due 2020-07-01."""
_CALENDAR = WorkingCalendar()
_POLICY = DeadlinePolicy()


def _due_on(i: int) -> date:
    """Every 20th task is due 2020-07-01 (a step on ``NOW``), the rest 2020-10-15 (nothing)."""
    return date(2020, 7, 1) if i % 20 == 0 else date(2020, 10, 15)


def _step_key(due_on: date) -> str | None:
    last_at = NOW - timedelta(days=1)
    latest = due_steps(due_on, _POLICY, _CALENDAR, last_at=last_at, now=NOW).latest
    return latest.key if latest else None


@task(name="remind-one-task")
def remind_one(due_on: date) -> str | None:
    """The due step of one tracked task at ``NOW`` (its key), or None."""
    return _step_key(due_on)


@flow(name="bench-empty")
def empty_flow() -> int:
    """A flow run that does nothing: the fixed cost of one run."""
    return 0


@flow(name="bench-per-task")
def per_task_flow(n: int) -> tuple[str, list[str | None]]:
    """``n`` task runs, one per tracked task; returns the flow run's id and the results."""
    from prefect.runtime import flow_run

    return str(flow_run.id), [remind_one(_due_on(i)) for i in range(n)]


def _recorded(flow_run_id: str) -> int:
    """Task runs of ``flow_run_id`` the server has recorded as completed."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        TaskRunFilter,
        TaskRunFilterState,
        TaskRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    runs = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
    done = TaskRunFilter(state=TaskRunFilterState(type=TaskRunFilterStateType(
        any_=[StateType.COMPLETED])))
    count, page = 0, 200
    with get_client(sync_client=True) as client:
        while True:
            got = len(client.read_task_runs(flow_run_filter=runs, task_run_filter=done,
                                            limit=page, offset=count))
            count += got
            if got < page:
                return count


@dataclass(frozen=True)
class PrefectResult:
    """What ``measure`` found: seconds for flow runs, ms per task run. ``recorded_s``: from the
    start of the N-task flow until the server lists all N task runs as completed (Prefect 3
    reports task-run states as events the server records in the background, so the flow can
    return first); ``recorded_task_ms`` the same per task run, less one empty flow run."""

    version: str
    tasks: int
    first_flow_s: float
    flow_s: float
    per_task_flow_s: float
    task_ms: float
    recorded_s: float
    recorded_task_ms: float


def measure(tasks: int, repeats: int = 3) -> PrefectResult:
    """Run the workload above with ``tasks`` task runs (>= 1) and ``repeats`` empty flow runs."""
    import prefect

    t = time.perf_counter()
    empty_flow()
    first = time.perf_counter() - t
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        empty_flow()
        runs.append(time.perf_counter() - t)
    t = time.perf_counter()
    run_id, keys = per_task_flow(tasks)
    per_task = time.perf_counter() - t
    recorded = _recorded(run_id)
    while recorded < tasks and time.perf_counter() - t < RECORD_TIMEOUT_SECONDS:
        time.sleep(0.2)
        recorded = _recorded(run_id)
    until_recorded = time.perf_counter() - t
    assert recorded == tasks, f"the server recorded {recorded} of {tasks} task runs"
    expected = [_step_key(_due_on(i)) for i in range(tasks)]
    assert keys == expected and sum(k is not None for k in keys) == len(range(0, tasks, 20)), keys
    flow_s = statistics.median(runs)
    return PrefectResult(prefect.__version__, tasks, first, flow_s, per_task,
                         (per_task - flow_s) / tasks * 1000, until_recorded,
                         (until_recorded - flow_s) / tasks * 1000)


def as_json(result: PrefectResult) -> dict:
    """``result`` as JSON-ready data."""
    return asdict(result)
