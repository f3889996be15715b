"""Peer 1 of ``bench/run.py``: the same reminders and escalation as SpiffWorkflow BPMN instances.

The process (``catalog_task.bpmn`` beside this file, parsed with SpiffWorkflow's ``BpmnParser``):
a user task with five non-interrupting timer boundary events (reminders 10/5/3/1/0 working days
before the due day) and one interrupting one (escalation 1 working day after), each leading to a
script task that records the notice. BPMN timers know no working days: each timer is a
``timeDate`` naming an instance variable that holds the ISO time ``rollout.deadlines.steps_for``
computed with rollout's ``WorkingCalendar`` and default ``DeadlinePolicy`` (so Spiff is spared
the calendar work our sweep does).

The clock. SpiffWorkflow 3.2 compares each timer with ``datetime.now(timezone.utc)`` (its
``TimeDateEventDefinition.has_fired``); it takes no clock. So the simulated schedule is shifted
onto the real clock: simulated ``DAY`` 09:00 (the send time) becomes a real instant ``t_day`` a
little after the instances are made, and one simulated day is 24 real hours, so at ``t_day`` the
steps of ``DAY`` and of no other day are due. ``due_share`` of the instances (every ``1/share``-th)
have their reminder-10 on ``DAY`` (due 2020-07-01); the rest are due 2020-10-15 (first step
2020-09-25): nothing of theirs fires.

Measured, each over all K instances, one process, wall clock (``perf_counter``):

- instantiate: ``BpmnWorkflow(spec)``, set the six timer times, ``do_engine_steps()`` (runs to the
  waiting user task and arms the timers);
- serialize: ``BpmnWorkflowSerializer.serialize_json`` of each (what storing it costs), bytes;
- advance (in memory): after ``t_day``, per instance ``refresh_timers()`` then
  ``do_engine_steps()``: the timers' due check, and for the due ones the boundary path and its
  script task. This is Spiff's best case: the instances already live in memory;
- advance (stored): the same from the serialized state: ``deserialize_json``, advance,
  ``serialize_json``, as an engine whose instances live in a database must do;
- memory: ``tracemalloc``'s traced bytes kept alive by ``min(K, 500)`` more instances, per
  instance (a separate pass, so tracing slows none of the timings above).

Checks (``AssertionError`` otherwise): no timer fired while instantiating, and after the
advance exactly the due instances (counted here as ``ceil(K·share)``) sent exactly one notice
("reminder-10").
"""

from __future__ import annotations

import math
import time
import tracemalloc
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.parser import BpmnParser
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.util.task import TaskState

from rollout.calendar import WorkingCalendar
from rollout.deadlines import DeadlinePolicy, StepKind, steps_for

BPMN = Path(__file__).with_name("catalog_task.bpmn")
PROCESS_ID = "catalog_task"
DAY = date(2020, 6, 16)
DUE_ON_DAY = date(2020, 7, 1)
"""Due day whose reminder-10 falls on ``DAY`` (10 working days before 2020-07-01)."""
DUE_LATER = date(2020, 10, 15)
"""Due day of the instances with nothing due on ``DAY`` (first step 2020-09-25)."""
TIMERS = ("reminder-10", "reminder-5", "reminder-3", "reminder-1", "reminder-0", "escalation-1")


@dataclass(frozen=True)
class SpiffResult:
    """What ``measure`` found. Times in µs per instance, memory in KiB, sizes in bytes."""

    version: str
    instances: int
    due: int
    instantiate_us: float
    serialize_us: float
    state_bytes: float
    advance_us: float
    advance_due_us: float
    advance_idle_us: float
    advance_stored_us: float
    kib_per_instance: float
    kib_sample: int


def _schedule(due_on: date, calendar: WorkingCalendar) -> dict[str, datetime]:
    steps = {s.key: s.at for s in steps_for(due_on, DeadlinePolicy(), calendar)
             if s.kind is not StepKind.overdue}
    return {k: steps[k] for k in TIMERS}


def _variables(schedule: dict[str, datetime], shift: timedelta) -> dict[str, str]:
    """The instance variables the BPMN timers name: ``reminder_10`` ... as UTC ISO strings."""
    return {k.replace("-", "_"): (at + shift).astimezone(UTC).isoformat()
            for k, at in schedule.items()}


def _start(spec, variables: dict[str, str]) -> BpmnWorkflow:
    wf = BpmnWorkflow(spec)
    wf.task_tree.data.update(variables)
    wf.do_engine_steps()
    return wf


def _notices(wf: BpmnWorkflow) -> list[str]:
    return [t.task_spec.name for t in wf.get_tasks(state=TaskState.COMPLETED)
            if t.task_spec.name.startswith(("send_", "escalate"))]


def _advance(wf: BpmnWorkflow) -> None:
    wf.refresh_timers()
    wf.do_engine_steps()


def measure(instances: int, due_share: float = 0.05) -> SpiffResult:
    """Run the workload above with ``instances`` (K >= 20) instances, ``due_share`` of them due
    on the simulated day (0 < share <= 1). Takes a few seconds more than the work (it waits for
    the shifted day to come). Raises ``AssertionError`` if a check fails."""
    from SpiffWorkflow.version import __version__

    if instances < 20 or not 0 < due_share <= 1:
        raise ValueError("instances >= 20 and 0 < due_share <= 1")
    parser = BpmnParser()
    parser.add_bpmn_file(str(BPMN))
    spec = parser.get_spec(PROCESS_ID)
    serializer = BpmnWorkflowSerializer()
    calendar = WorkingCalendar()
    on_day, later = _schedule(DUE_ON_DAY, calendar), _schedule(DUE_LATER, calendar)
    day_at = on_day["reminder-10"]
    assert day_at.date() == DAY and min(later.values()) > day_at + timedelta(days=1)
    every = round(1 / due_share)
    is_due = [i % every == 0 for i in range(instances)]

    # A pilot (not counted) sizes the wait: t_day must come after instantiate + serialize.
    far = timedelta(days=3650)
    t = time.perf_counter()
    for _ in range(20):
        serializer.serialize_json(_start(spec, _variables(later, far)))
    pilot = (time.perf_counter() - t) / 20
    t_day = datetime.now(UTC) + timedelta(seconds=1.5 * pilot * instances + 1)
    shift = t_day - day_at
    due_vars, idle_vars = _variables(on_day, shift), _variables(later, shift)

    t = time.perf_counter()
    wfs = [_start(spec, due_vars if d else idle_vars) for d in is_due]
    instantiate = time.perf_counter() - t
    t = time.perf_counter()
    states = [serializer.serialize_json(wf) for wf in wfs]
    serialize = time.perf_counter() - t
    assert datetime.now(UTC) < t_day, "the pilot underestimated: rerun"
    assert not any(_notices(wf) for wf in wfs), "a timer fired while instantiating"

    time.sleep(max(0.0, (t_day - datetime.now(UTC)).total_seconds()) + 0.01)
    spent = {True: 0.0, False: 0.0}
    for wf, d in zip(wfs, is_due, strict=True):
        t = time.perf_counter()
        _advance(wf)
        spent[d] += time.perf_counter() - t
    t = time.perf_counter()
    for s in states:
        wf = serializer.deserialize_json(s)
        _advance(wf)
        serializer.serialize_json(wf)
    stored = time.perf_counter() - t

    due = math.ceil(instances / every)
    fired = [_notices(wf) for wf in wfs]
    assert sum(is_due) == due
    assert all(f == (["send_reminder_10"] if d else []) for f, d in zip(fired, is_due, strict=True)), \
        "advance fired the wrong timers"

    sample = min(instances, 500)
    variables = _variables(later, far)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = [_start(spec, variables) for _ in range(sample)]
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert len(kept) == sample

    return SpiffResult(
        version=__version__, instances=instances, due=due,
        instantiate_us=instantiate / instances * 1e6, serialize_us=serialize / instances * 1e6,
        state_bytes=sum(len(s) for s in states) / instances,
        advance_us=(spent[True] + spent[False]) / instances * 1e6,
        advance_due_us=spent[True] / due * 1e6,
        advance_idle_us=spent[False] / max(1, instances - due) * 1e6,
        advance_stored_us=stored / instances * 1e6,
        kib_per_instance=grown / sample / 1024, kib_sample=sample,
    )


def as_json(result: SpiffResult) -> dict:
    """``result`` as JSON-ready data."""
    return asdict(result)
