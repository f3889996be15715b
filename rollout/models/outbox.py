"""The outbox: every notice rollout decided to send (催办 / 督办 / 逾期通报 / 状态通知), and the
digests that carry them. It is also the record (留痕) of who was urged, when, how, and the result.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from rollout.models.types import AwareDateTime, enum_column


class Channel(StrEnum):
    """How a notice travels."""

    email = "email"
    webhook = "webhook"


class OutboxStatus(StrEnum):
    """A row's delivery state. ``skipped``: a step missed while the sweep was not running,
    recorded but never sent (the latest step of the same task went instead)."""

    pending = "pending"
    sent = "sent"
    failed = "failed"
    skipped = "skipped"


OUTBOX_STATUS_LABELS: dict[OutboxStatus, str] = {
    OutboxStatus.pending: "待发送",
    OutboxStatus.sent: "已发送",
    OutboxStatus.failed: "发送失败",
    OutboxStatus.skipped: "已跳过",
}


class DigestStatus(StrEnum):
    """A digest's delivery state; ``sending`` is claimed by one dispatcher until ``lease_until``."""

    pending = "pending"
    sending = "sending"
    sent = "sent"
    failed = "failed"


DIGESTED_SQL = "digest_id IS NOT NULL"
"""The predicate of the partial ``ix_outboxmessage_digest_id``: rows already put in a digest. The
literal must stay identical to the one migration 0018 writes."""


class OutboxMessage(SQLModel, table=True):
    """One notice about one task step to one recipient over one channel.

    UNIQUE (task_id, due_on, step_key, channel): sweeping the same instant twice, or two sweeps
    at once, writes each row once. ``due_on``: the task's due day the step was computed for (a
    moved due day starts a new schedule). ``step_key``: ``reminder-10`` … ``escalation-1`` …
    ``overdue-3`` (``rollout.deadlines``) or ``state-<kind>`` for state-change notices.
    ``levels_up``: 0 = the owner; 1.. up the escalation chain. ``notice_number``: e.g.
    ``催办〔2020〕0153号``, unique within the plan (None for skipped rows). ``scheduled_on``: the
    local day the notice belongs to; rows of one recipient address and day form one digest.

    ``ix_outboxmessage_digest_id`` is partial, over rows that have a digest (``DIGESTED_SQL``):
    rows are written without one, so the sweep's INSERT skips it, and every reader of it asks
    for ``digest_id = X`` / ``= ANY(…)``, which implies the predicate (migration 0018).
    ``ix_outboxmessage_recipient_org_code`` serves the unit and outbox pages (rows addressed to
    one organization).
    """

    __table_args__ = (
        sa.UniqueConstraint("task_id", "due_on", "step_key", "channel"),
        sa.UniqueConstraint("plan_id", "notice_number"),
        sa.Index("ix_outboxmessage_status_address", "status", "address", "scheduled_on"),
        sa.Index("ix_outboxmessage_digest_id", "digest_id",
                 postgresql_where=sa.text(DIGESTED_SQL), sqlite_where=sa.text(DIGESTED_SQL)),
    )

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id")
    task_id: int = Field(foreign_key="trackedtask.id")  # served by the UNIQUE key below
    due_on: date
    step_key: str = Field(max_length=40)
    kind: str = Field(max_length=20)
    levels_up: int = 0
    recipient_org_code: str = Field(foreign_key="organization.code", index=True)
    recipient_name: str = Field(default="", max_length=80)
    channel: Channel = Field(default=Channel.email, sa_type=enum_column(Channel))
    address: str = Field(default="", max_length=500)
    notice_number: str | None = Field(default=None, max_length=40)
    scheduled_on: date
    status: OutboxStatus = Field(default=OutboxStatus.pending, sa_type=enum_column(OutboxStatus))
    digest_id: int | None = Field(default=None, foreign_key="digest.id")  # partial index above
    created_at: datetime = Field(sa_column=Column(AwareDateTime(), nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=Column(AwareDateTime()))


class Digest(SQLModel, table=True):
    """One message to one address carrying that day's pending rows (a county with 26 domains
    due the same day gets one mail listing 26 items).

    ``message_id``: stable, fixed when the digest is made, reused on every retry so a resend after
    a crash is recognisable as the same message. ``attempts`` / ``next_attempt_at``: exponential
    backoff; ``lease_until``: a claim by one dispatcher (``FOR UPDATE SKIP LOCKED`` on PostgreSQL).
    """

    __table_args__ = (sa.Index("ix_digest_status_next", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: Channel = Field(default=Channel.email, sa_type=enum_column(Channel))
    address: str = Field(max_length=500)
    recipient_org_code: str = Field(foreign_key="organization.code")
    day: date
    message_id: str = Field(max_length=200, unique=True)
    status: DigestStatus = Field(default=DigestStatus.pending, sa_type=enum_column(DigestStatus))
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_column=Column(AwareDateTime()))
    lease_until: datetime | None = Field(default=None, sa_column=Column(AwareDateTime()))
    claimed_by: str | None = Field(default=None, max_length=80)
    created_at: datetime = Field(sa_column=Column(AwareDateTime(), nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=Column(AwareDateTime()))
    last_error: str | None = Field(default=None, max_length=1000)


class NoticeCounter(SQLModel, table=True):
    """The last notice number given per (plan, prefix, year), e.g. 催办 2020 → 153.

    Incremented inside the transaction that writes the notice (row-locked on PostgreSQL, the
    write lock on SQLite), so numbers are unique and gap-free per committed sweep.
    """

    plan_id: int = Field(foreign_key="plan.id", primary_key=True)
    prefix: str = Field(max_length=10, primary_key=True)
    year: int = Field(primary_key=True)
    last_number: int = 0


class JobLease(SQLModel, table=True):
    """A lease on a scheduled job (``sweep``, ``dispatch``): one runner at a time across
    processes. Taken by a conditional UPDATE/INSERT; expires at ``lease_until``."""

    name: str = Field(primary_key=True, max_length=40)
    holder: str | None = Field(default=None, max_length=120)
    lease_until: datetime | None = Field(default=None, sa_column=Column(AwareDateTime()))
    last_run_at: datetime | None = Field(default=None, sa_column=Column(AwareDateTime()))
