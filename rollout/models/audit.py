"""The append-only audit trail (留痕)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from rollout.models.types import AwareDateTime


class AuditEvent(SQLModel, table=True):
    """One recorded fact: who did what to which task, when, with the before and after.

    ``kind``: snake_case past tense (``task_created``, ``task_submitted``, ``task_due_moved``).
    ``actor``: a person or ``system``; ``actor_org_code``: the organization acted for.
    Rows are only ever inserted; nothing in rollout updates or deletes them.
    """

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=Column(AwareDateTime(), nullable=False, index=True))
    kind: str = Field(max_length=60, index=True)
    task_id: int | None = Field(default=None, foreign_key="trackedtask.id", index=True)
    plan_id: int | None = Field(default=None, foreign_key="plan.id")
    actor: str = Field(default="system", max_length=80)
    actor_org_code: str | None = Field(default=None, max_length=40)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(sa.JSON))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(sa.JSON))
    detail: dict[str, Any] | None = Field(default=None, sa_column=Column(sa.JSON))
    request_id: str | None = Field(default=None, max_length=64)
