"""Pre-aggregated task counts for the dashboards, kept exact by database triggers.

A GROUP BY over a million ``TrackedTask`` rows takes seconds on PostgreSQL; the provincial
dashboard must answer in under 300 ms (issue 6). These tables hold the same counts grouped in
advance: every insert, update or delete of a tracked task, by any code path (the workflow, the
sweep, extensions, ``rollout init``'s COPY, the simulation, plain SQL), changes them in the same
transaction, through triggers made by migration 0014 (statement-level with transition tables on
PostgreSQL, row-level on SQLite). Rows whose count fell to 0 may stay; readers sum ``n``.

Nothing in rollout writes these tables itself. Time-dependent status (overdue, due soon) is not
stored: the key keeps ``due_at`` and ``due_on``, so a reader compares them with its own ``now``.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from rollout.models.task import TaskState
from rollout.models.types import AwareDateTime, enum_column


class TaskCount(SQLModel, table=True):
    """How many tasks share one (plan, milestone, unit, state, due day, due time, waiting) key.

    ``unit_code``: the task's fan-out unit, else its owner (``coalesce(unit_code, org_code)``,
    the unit of the dashboard's matrix). ``waiting``: the task has a ``schedule_note`` (its
    reminder schedule waits for holiday data). ``n``: the number of such tasks (>= 0).
    """

    plan_id: int = Field(primary_key=True)
    milestone_id: int = Field(primary_key=True)
    unit_code: str = Field(primary_key=True)
    state: TaskState = Field(primary_key=True, sa_type=enum_column(TaskState))
    due_on: date = Field(primary_key=True)
    due_at: datetime = Field(sa_column=Column(AwareDateTime(), primary_key=True))
    waiting: bool = Field(primary_key=True)
    n: int = Field(default=0, sa_column=Column(sa.Integer, nullable=False))


class DeliveredCount(SQLModel, table=True):
    """How many tasks of one milestone were delivered on one local day.

    Delivered: state submitted, accepted or waived, dated by ``coalesce(submitted_at,
    completed_at)`` taken as an Asia/Shanghai day (``delivered_on``); tasks with neither time are
    not counted. ``n`` >= 0.
    """

    plan_id: int = Field(primary_key=True)
    milestone_id: int = Field(primary_key=True)
    delivered_on: date = Field(primary_key=True)
    n: int = Field(default=0, sa_column=Column(sa.Integer, nullable=False))
