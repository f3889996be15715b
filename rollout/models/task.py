"""Tracked tasks (任务): one dated obligation of one unit, and their states."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from rollout.models.types import AwareDateTime, enum_column


class TaskState(StrEnum):
    """States of the task state machine (``rollout.workflow``). Labels: ``TASK_STATE_LABELS``."""

    pending = "pending"
    in_progress = "in_progress"
    submitted = "submitted"
    returned = "returned"
    accepted = "accepted"
    waived = "waived"
    cancelled = "cancelled"


TASK_STATE_LABELS: dict[TaskState, str] = {
    TaskState.pending: "未开始",
    TaskState.in_progress: "进行中",
    TaskState.submitted: "已提交",
    TaskState.returned: "反馈改正",
    TaskState.accepted: "已完成",
    TaskState.waived: "已豁免",
    TaskState.cancelled: "已取消",
}

#: States in which the unit still owes work (reminders and escalations apply).
OPEN_STATES = frozenset({TaskState.pending, TaskState.in_progress, TaskState.returned})
#: ``OPEN_STATES`` as a SQL condition with literal values (``state IN ('in_progress', 'pending',
#: 'returned')``): the predicate of the partial index ``ix_trackedtask_due``. A query written with
#: this very text can use that index (a bound parameter cannot prove the predicate).
OPEN_STATES_SQL = "state IN ({})".format(", ".join(f"'{s.value}'" for s in sorted(OPEN_STATES)))
#: Tasks waiting for holiday data (a note is only ever set with no ``TaskSchedule.next_action_at``):
#: the predicate of the partial index ``ix_trackedtask_waiting`` (migration 0017).
WAITING_SQL = "schedule_note IS NOT NULL"
#: Scheduled tasks: the predicate of the partial index ``ix_taskschedule_due`` (migration 0017).
SCHEDULED_SQL = "next_action_at IS NOT NULL"
#: Submitted tasks: the predicate of the partial index ``ix_trackedtask_submitted`` (review queues).
SUBMITTED_SQL = "state = 'submitted'"
#: States that end the task.
DONE_STATES = frozenset({TaskState.accepted, TaskState.waived})
#: States in which a required task counts as delivered (plan ``requires``).
DELIVERED_STATES = frozenset({TaskState.submitted, TaskState.accepted, TaskState.waived})


def _aware(**kw) -> Column:
    return Column(AwareDateTime(), **kw)


class TrackedTask(SQLModel, table=True):
    """One unit's obligation under one milestone.

    ``key``: unique within the plan, ``<milestone>:<unit>[:<domain>]``.
    ``org_code``: the owner (a county × domain task belongs to the county's counterpart
    department for ``domain_key``). ``unit_code``: the fan-out unit (the county a city's
    ``city_review`` is about; equals ``org_code`` for self-owned tasks; None for per-domain and
    single tasks). ``due_on``: local due day in force; ``original_due_on``: as the plan set it
    (assessment counts from the day in force, the original is kept). ``due_at``: end of
    ``due_on`` in Asia/Shanghai. ``next_action_at``: next reminder/escalation, None when nothing is
    scheduled. ``last_step_key`` / ``last_step_at``: the latest step the sweep processed (sent or
    skipped) and its scheduled time, None before the first one (``rollout.sweep``).
    ``version``: bumped by every change of a user transition (optimistic concurrency); the
    sweep's schedule-only changes do not bump it.
    """

    __table_args__ = (
        sa.UniqueConstraint("plan_id", "key"),
        sa.Index("ix_trackedtask_org_milestone_state", "org_code", "milestone_id", "state"),
        # the sweep's select of waiting tasks (rollout.sweep.due_queries; migrations 0013, 0017)
        sa.Index("ix_trackedtask_waiting", "id", postgresql_where=sa.text(WAITING_SQL),
                 sqlite_where=sa.text(WAITING_SQL)),
        # the dashboards' overdue list, most days late first (rollout.api.pages.board; 0014)
        sa.Index("ix_trackedtask_open_due", "plan_id", "due_on", "key",
                 postgresql_where=sa.text(OPEN_STATES_SQL), sqlite_where=sa.text(OPEN_STATES_SQL)),
        # the review queues (rollout.api.pages.units; 0016): the sweep never writes these rows
        sa.Index("ix_trackedtask_submitted", "plan_id", postgresql_where=sa.text(SUBMITTED_SQL),
                 sqlite_where=sa.text(SUBMITTED_SQL)),
    )

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id")  # served by UNIQUE (plan_id, key)
    milestone_id: int = Field(foreign_key="milestone.id")  # no index: 0016
    key: str = Field(max_length=120)
    org_code: str = Field(foreign_key="organization.code")
    unit_code: str | None = Field(default=None, foreign_key="organization.code", index=True)
    domain_key: str | None = Field(default=None, foreign_key="domain.key", index=True)
    state: TaskState = Field(default=TaskState.pending, sa_type=enum_column(TaskState))
    due_on: date
    original_due_on: date
    due_at: datetime = Field(sa_column=_aware(nullable=False))
    opened_at: datetime = Field(sa_column=_aware(nullable=False))
    started_at: datetime | None = Field(default=None, sa_column=_aware())
    submitted_at: datetime | None = Field(default=None, sa_column=_aware())
    completed_at: datetime | None = Field(default=None, sa_column=_aware())
    schedule_note: str | None = Field(default=None, max_length=200)
    times_returned: int = 0
    version: int = 1


class TaskSchedule(SQLModel, table=True):
    """A tracked task's reminder schedule: one row per task (``rollout.schedules``).

    ``next_action_at``: the next reminder/escalation, None when nothing is scheduled (the task is
    no longer open, its schedule ended, or it waits for holiday data). ``last_step_key`` /
    ``last_step_at``: the latest step the sweep processed (sent or skipped) and its scheduled
    time, None before the first one (``rollout.sweep``).

    Apart from ``TrackedTask`` so that the sweep's daily UPDATE of tens of thousands of
    schedules writes a narrow row with two index entries, not a wide one with an entry in each of
    the task's nine indexes (issue 6; migration 0017: 1.31 s -> 0.20 s for 74,100 rows).
    """

    __table_args__ = (
        sa.Index("ix_taskschedule_due", "next_action_at", postgresql_where=sa.text(SCHEDULED_SQL),
                 sqlite_where=sa.text(SCHEDULED_SQL)),
    )

    task_id: int = Field(sa_column=Column(
        sa.Integer, sa.ForeignKey("trackedtask.id", ondelete="CASCADE"), primary_key=True,
        autoincrement=False))
    next_action_at: datetime | None = Field(default=None, sa_column=_aware())
    last_step_key: str | None = Field(default=None, max_length=40)
    last_step_at: datetime | None = Field(default=None, sa_column=_aware())
