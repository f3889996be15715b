"""Web users of organizations (登录账号), their browser sessions, and calendar-feed tokens."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Column, Field, SQLModel

from rollout.models.types import AwareDateTime


class User(SQLModel, table=True):
    """One person's login for one organization (table ``webuser``: ``user`` is reserved in SQL).

    ``username``: unique across the province. ``password_hash``: argon2id (``argon2-cffi``; the
    parameters are inside the hash). ``role``: the organization's kind (office / department /
    city / county). ``failed_logins``: consecutive failures since the last success;
    ``locked_until``: no login attempt is checked before this time (set after 5 failures,
    doubling, ``rollout.actions.users``). ``active`` False: refused.
    """

    __tablename__ = "webuser"

    id: int | None = Field(default=None, primary_key=True)
    org_code: str = Field(foreign_key="organization.code", index=True)
    username: str = Field(max_length=60, unique=True)
    display_name: str = Field(default="", max_length=80)
    password_hash: str = Field(max_length=200)
    role: str = Field(max_length=20)
    active: bool = True
    failed_logins: int = 0
    locked_until: datetime | None = Field(default=None, sa_column=Column(AwareDateTime()))
    created_at: datetime = Field(sa_column=Column(AwareDateTime(), nullable=False))
    last_login_at: datetime | None = Field(default=None, sa_column=Column(AwareDateTime()))


class WebSession(SQLModel, table=True):
    """A signed-in browser (server-side session).

    ``token_hash``: SHA-256 hex of the session cookie's value (the value itself is never stored).
    ``csrf_token``: the session's anti-forgery token, sent back in every form's hidden field.
    ``expires_at``: absolute end; a logout deletes the row.
    """

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="webuser.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=Column(AwareDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(AwareDateTime(), nullable=False))


class CalendarToken(SQLModel, table=True):
    """A secret in a calendar subscription URL (``/calendar/<token>.ics``) of one organization.

    It reads that organization's deadlines as iCalendar and nothing else: it is not an API token
    (a separate table, so it never authenticates ``/api``). ``token_hash``: SHA-256 hex of the
    token text; ``revoked_at`` set: the feed answers 404 from then on.
    """

    id: int | None = Field(default=None, primary_key=True)
    org_code: str = Field(foreign_key="organization.code", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_by: str = Field(default="", max_length=80)
    created_at: datetime = Field(sa_column=Column(AwareDateTime(), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(AwareDateTime()))
