"""A tracked task's reminder schedule (``TaskSchedule``), as user transitions change it.

Every task has one ``TaskSchedule`` row, made with it (``rollout.plans.fanout``). The sweep
advances it set-based (``rollout.sweep``); the workflow, extensions and plan reloads set it one
task at a time through this module. Two rules hold for every writer:

- ``next_action_at`` is None whenever the task is not open (submitted, accepted, waived,
  cancelled): the sweep's index (``ix_taskschedule_due``) then holds only open tasks. (A task
  closed by other means, plain SQL, is cleared by the next sweep that meets it.)
- A writer changes a task's schedule only while it holds the task's row (it has written or
  locked ``TrackedTask`` first, in the same transaction), so the sweep, which locks the task
  rows of a batch in id order before it writes their schedules, cannot deadlock with it.

Domain functions: they take a ``Session`` and never commit.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple

from sqlmodel import Session

from rollout.calendar import WorkingCalendar, end_of_day_at
from rollout.deadlines import DeadlinePolicy, next_step
from rollout.errors import MissingHolidayData
from rollout.models import TaskSchedule, TrackedTask

EPOCH = end_of_day_at(date(1970, 1, 1))
"""A cursor before every schedule: ``next_step(…, after=EPOCH)`` is a schedule's first step."""


def waiting_note(year: int) -> str:
    """The ``TrackedTask.schedule_note`` of a task whose schedule needs holiday data for ``year``."""
    return f"等待节假日数据（{year}年）"


class NextAction(NamedTuple):
    """Where a schedule stands after some time (``next_action``): ``at``, the aware time of its
    next step (None: none, the schedule ended or waits); ``note``, ``waiting_note(year)`` when it
    reaches a year without holiday data (else None); ``missing_year``, that year."""

    at: datetime | None
    note: str | None = None
    missing_year: int | None = None


def next_action(
    due_on: date, policy: DeadlinePolicy, calendar: WorkingCalendar, *, after: datetime
) -> NextAction:
    """The first step of the schedule of a task due ``due_on`` under ``policy`` after aware
    ``after`` (``rollout.deadlines.next_step``; ``after=EPOCH``: its first step at all), or the
    waiting note when computing it needs a year without holiday data (the task is still made
    and tracked; the sweep retries it). Raises ``ValueError`` on a naive ``after``."""
    try:
        step = next_step(due_on, policy, calendar, after=after)
    except MissingHolidayData as exc:
        return NextAction(None, waiting_note(exc.year), exc.year)
    return NextAction(step.at if step else None)


def schedule_of(session: Session, task: TrackedTask) -> TaskSchedule:
    """``task``'s schedule row, added to ``session``; made (empty) if it has none yet.

    Flushes ``session`` first, so the task's own pending changes are written (and its row held)
    before its schedule's (the rule of the module docstring; without a ``relationship`` the
    unit of work does not order the two tables)."""
    assert task.id is not None, "a task gets its schedule once it has an id"
    session.add(task)
    session.flush()
    schedule = session.get(TaskSchedule, task.id)
    if schedule is None:
        schedule = TaskSchedule(task_id=task.id)
    session.add(schedule)
    return schedule


def next_action_of(session: Session, task_id: int) -> datetime | None:
    """The aware ``next_action_at`` of task ``task_id``, None when nothing is scheduled (read only)."""
    schedule = session.get(TaskSchedule, task_id)
    return schedule.next_action_at if schedule else None


def reschedule(
    session: Session,
    task: TrackedTask,
    policy: DeadlinePolicy,
    calendar: WorkingCalendar,
    *,
    after: datetime,
    restart: bool = False,
) -> TaskSchedule:
    """Set ``task``'s next action to the first step of its schedule (``task.due_on`` under
    ``policy``, ``rollout.deadlines.next_step``) after aware ``after``; None when the schedule
    has ended. A schedule reaching a year without holiday data gets no next action and the note
    ``waiting_note(year)`` on ``task`` (the sweep retries it); otherwise the note is cleared.
    ``restart``: forget the latest step too (the task's due day moved with its plan). Returns the
    schedule row (added to the session, with ``task``)."""
    schedule = schedule_of(session, task)
    schedule.next_action_at, task.schedule_note, _ = next_action(
        task.due_on, policy, calendar, after=after)
    if restart:
        schedule.last_step_key = schedule.last_step_at = None
    session.add(task)
    return schedule


def clear(session: Session, task: TrackedTask) -> None:
    """Nothing more to send for ``task`` (it left the open states): no next action, no note."""
    schedule_of(session, task).next_action_at = None
    task.schedule_note = None
    session.add(task)
