"""The sweep's decision for a task: which steps are due at ``now``, which one is sent, where
``next_action_at`` moves (pure: no database; see ``rollout.sweep``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rollout.calendar import WorkingCalendar, local_day
from rollout.deadlines import DeadlinePolicy, Step, iter_steps
from rollout.errors import MissingHolidayData
from rollout.schedules import waiting_note

_EPSILON = timedelta(microseconds=1)


@dataclass(frozen=True)
class TaskOutcome:
    """The sweep's decision for one task: the step to send (``latest``), the missed ones
    (``skipped``), the new ``next_at`` and ``note``, and the missing year if any."""

    task: Any
    latest: Step | None
    skipped: list[Step]
    next_at: datetime | None
    note: str | None
    missing_year: int | None = None


def _sweep_cursor(task: Any) -> datetime | None:
    if task.next_action_at is not None:
        return task.next_action_at - _EPSILON
    return reload_cursor(task)


def reload_cursor(task: Any) -> datetime | None:
    """The time up to which ``task``'s steps count as handled when its schedule is recomputed:
    the later of ``last_step_at`` (the latest step swept) and ``submitted_at`` (a returned task
    owes nothing for steps before its submission); None if neither is set."""
    marks = [t for t in (task.last_step_at, task.submitted_at) if t is not None]
    return max(marks) if marks else None


def decision_key(task: Any) -> tuple:
    """What ``decide`` reads of ``task`` besides the policy: tasks of one milestone with equal
    keys get the same decision (milestone, due day, ``next_action_at``, the reload cursor when
    there is no ``next_action_at``, ``schedule_note``)."""
    cursor = reload_cursor(task) if task.next_action_at is None else None
    return (task.milestone_id, task.due_on, task.next_action_at, cursor, task.schedule_note)


def decide(task: Any, policy: DeadlinePolicy, calendar: WorkingCalendar, now: datetime) -> TaskOutcome:
    """What the sweep does for ``task`` at ``now`` (pure; see the module docstring).

    Steps with cursor < at <= now are due: the latest is sent, the rest skipped; ``next_at`` is
    the first step after ``now`` (None when the schedule ended or reaches a year without data;
    then ``missing_year`` and ``note`` say which).
    """
    last_at = _sweep_cursor(task)
    from_day = local_day(last_at) if last_at is not None else None
    due: list[Step] = []
    try:
        for s in iter_steps(task.due_on, policy, calendar, from_day=from_day):
            if last_at is not None and s.at <= last_at:
                continue
            if s.at > now:
                return TaskOutcome(task, due[-1] if due else None, due[:-1], s.at, None)
            due.append(s)
    except MissingHolidayData as exc:
        latest = due[-1] if due else None
        return TaskOutcome(task, latest, due[:-1], None, waiting_note(exc.year), exc.year)
    return TaskOutcome(task, due[-1] if due else None, due[:-1], None, None)
