"""Plans (实施方案) and their milestones (进度节点), as loaded from a plan file."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel


class Plan(SQLModel, table=True):
    """One implementation plan. ``key`` is stable across re-loads (e.g. ``jilin-2020``)."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=60)
    title: str = Field(max_length=200)
    document_number: str = Field(default="", max_length=60)
    issued_on: date | None = None
    timezone: str = Field(default="Asia/Shanghai", max_length=60)
    source_file: str = Field(default="", max_length=400)
    content_sha256: str = Field(default="", max_length=64)
    policy: dict[str, Any] = Field(default_factory=dict, sa_column=Column(sa.JSON, nullable=False))
    scoring: dict[str, Any] = Field(default_factory=dict, sa_column=Column(sa.JSON, nullable=False))


class Milestone(SQLModel, table=True):
    """One dated milestone of a plan.

    ``due_on``: local due day (inclusive); ``starts_on``: first day of a window ("7月上旬").
    ``over``: fan-out dimensions (org kinds and/or ``domain``), space-separated.
    ``owner``: who owns each task (an org kind, ``parent``, ``department`` or ``office``).
    ``accepted_by``: org kind that accepts a submission, or None when submitting completes it.
    ``requires`` / ``follows``: milestone keys, space-separated (enforced / shown only).
    ``policy``: the effective reminder/escalation policy (plan default merged with overrides).
    """

    __table_args__ = (sa.UniqueConstraint("plan_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    key: str = Field(max_length=60)
    title: str = Field(max_length=200)
    section: str = Field(default="", max_length=40)
    starts_on: date | None = None
    due_on: date
    over: str = Field(default="", max_length=100)
    owner: str = Field(max_length=20)
    accepted_by: str | None = Field(default=None, max_length=20)
    requires: str = Field(default="", max_length=400)
    follows: str = Field(default="", max_length=400)
    position: int = 0
    policy: dict[str, Any] = Field(default_factory=dict, sa_column=Column(sa.JSON, nullable=False))

    @property
    def over_dims(self) -> list[str]:
        """Fan-out dimensions as a list, e.g. ``["county", "domain"]``."""
        return self.over.split()

    @property
    def requires_keys(self) -> list[str]:
        """Keys of the milestones this one requires (enforced)."""
        return self.requires.split()

    @property
    def follows_keys(self) -> list[str]:
        """Keys of the milestones this one follows (shown only)."""
        return self.follows.split()
