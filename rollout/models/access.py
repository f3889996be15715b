"""API access: tokens of organizations (one per person or system acting for a unit)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Column, Field, SQLModel

from rollout.models.types import AwareDateTime


class ApiToken(SQLModel, table=True):
    """One API token of one organization acting in one role.

    ``token_hash``: SHA-256 hex of the whole token text (the token itself is shown once when made
    and never stored). ``role``: ``office``/``department``/``city``/``county``, equal to the
    organization's kind. ``expires_at`` None: no expiry. ``revoked_at`` set: refused from then on.
    ``last_used_at``: refreshed at most every few minutes (not on every request).
    """

    id: int | None = Field(default=None, primary_key=True)
    org_code: str = Field(foreign_key="organization.code", index=True)
    role: str = Field(max_length=20)
    name: str = Field(default="", max_length=80)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(sa_column=Column(AwareDateTime(), nullable=False))
    expires_at: datetime | None = Field(default=None, sa_column=Column(AwareDateTime()))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(AwareDateTime()))
    last_used_at: datetime | None = Field(default=None, sa_column=Column(AwareDateTime()))
