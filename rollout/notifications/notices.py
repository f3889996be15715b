"""Notices are documents: numbered 催办 / 督办 notices written to the outbox (留痕).

A reminder is a 催办 notice, an escalation or overdue notice a 督办 notice (issue 3, item 7).
Each pending row gets a number unique within its plan, per prefix and year of the step day:
``催办〔2020〕0153号`` (four digits, more when a year passes 9999). Numbers come from
``NoticeCounter`` in the caller's transaction: one ``INSERT ... ON CONFLICT DO UPDATE SET
last_number = last_number + k RETURNING last_number`` per (plan, prefix, year), which on
PostgreSQL takes the counter row's lock until the caller commits (what ``SELECT ... FOR UPDATE``
would, without the race on the year's first row) and on SQLite runs under the write lock every
write transaction starts with. A number is taken only for a row actually inserted, so the
numbers of committed rows are gap-free per (plan, prefix, year) in insertion order.

Rows honour the outbox's UNIQUE (task_id, due_on, step_key, channel): a duplicate is written as
nothing (``INSERT ... ON CONFLICT DO NOTHING``, on SQLite and PostgreSQL alike). Domain
functions: they take a ``Session`` and never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from rollout.calendar import local_day
from rollout.deadlines import Step, StepKind
from rollout.models import NoticeCounter, OutboxMessage, OutboxStatus, TrackedTask
from rollout.notifications.recipients import Recipient

NOTICE_PREFIXES: dict[StepKind, str] = {
    StepKind.reminder: "催办",
    StepKind.escalation: "督办",
    StepKind.overdue: "督办",
}
"""The document type of a step's notice: reminders are 催办, escalations and overdue 督办."""

_UNIQUE_KEY = ["task_id", "due_on", "step_key", "channel"]
_INSERT_CHUNK = 500


def format_notice_number(prefix: str, year: int, number: int) -> str:
    """``format_notice_number("催办", 2020, 153) == "催办〔2020〕0153号"``."""
    return f"{prefix}〔{year}〕{number:04d}号"


@dataclass(frozen=True, slots=True)
class NoticeDraft:
    """One outbox row to write: ``task``'s ``step`` to ``recipient``.

    ``status``: ``pending`` (to send, numbered) or ``skipped`` (a missed step, recorded only).
    """

    task: TrackedTask
    step: Step
    recipient: Recipient
    status: OutboxStatus = OutboxStatus.pending


def _insert(session: Session):
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise NotImplementedError(f"unsupported database dialect {dialect!r}")


def take_notice_numbers(
    session: Session, plan_id: int, prefix: str, year: int, count: int
) -> list[int]:
    """Reserve ``count`` consecutive numbers of (plan, prefix, year); returns them ascending.

    Atomic upsert on ``NoticeCounter`` (see the module docstring). ``count`` must be >= 1
    (``ValueError`` otherwise).
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    ins = _insert(session)(NoticeCounter).values(
        plan_id=plan_id, prefix=prefix, year=year, last_number=count
    )
    stmt = ins.on_conflict_do_update(
        index_elements=["plan_id", "prefix", "year"],
        set_={"last_number": NoticeCounter.__table__.c.last_number + count},
    ).returning(NoticeCounter.__table__.c.last_number)
    last = int(session.execute(stmt).scalar_one())
    return list(range(last - count + 1, last + 1))


def _row(d: NoticeDraft, now: datetime) -> dict:
    return {
        "plan_id": d.task.plan_id,
        "task_id": d.task.id,
        "due_on": d.task.due_on,
        "step_key": d.step.key,
        "kind": d.step.kind.value,
        "levels_up": d.step.levels_up,
        "recipient_org_code": d.recipient.org_code,
        "recipient_name": d.recipient.name[:80],
        "channel": d.recipient.channel.value,
        "address": d.recipient.address,
        "notice_number": None,
        # a pending notice belongs to today's digest; a skipped one to the day it was due
        "scheduled_on": local_day(now) if d.status == OutboxStatus.pending else d.step.on,
        "status": d.status.value,
        "created_at": now,
    }


@dataclass(frozen=True, slots=True)
class Enqueued:
    """Ids of the rows ``enqueue_drafts`` inserted, ascending, by status."""

    pending: list[int]
    skipped: list[int]


def enqueue_drafts(session: Session, drafts: Sequence[NoticeDraft], now: datetime) -> Enqueued:
    """Write ``drafts`` (aware ``now`` stamps ``created_at``) and number the pending ones.

    A draft whose (task, due day, step, channel) row already exists is written as nothing.
    Pending rows are numbered in id order per (plan, prefix, year of the step day).
    """
    if not drafts:
        return Enqueued([], [])
    table = OutboxMessage.__table__
    c = table.c
    ins = _insert(session)(OutboxMessage)
    pending: list[int] = []
    skipped: list[int] = []
    groups: dict[tuple[int, str, int], list[int]] = {}
    rows = [_row(d, now) for d in drafts]
    on = {(d.task.id, d.task.due_on, d.step.key): d.step.on for d in drafts}
    for i in range(0, len(rows), _INSERT_CHUNK):
        stmt = (
            ins.values(rows[i : i + _INSERT_CHUNK])
            .on_conflict_do_nothing(index_elements=_UNIQUE_KEY)
            .returning(c.id, c.plan_id, c.kind, c.status, c.task_id, c.due_on, c.step_key)
        )
        for rid, plan_id, kind, status, task_id, due_on, step_key in session.execute(stmt):
            (pending if status == OutboxStatus.pending else skipped).append(rid)
            if status == OutboxStatus.pending:
                year = on[(task_id, due_on, step_key)].year
                groups.setdefault((plan_id, NOTICE_PREFIXES[StepKind(kind)], year), []).append(rid)
    updates = []
    for (plan_id, prefix, year), ids in sorted(groups.items()):
        numbers = take_notice_numbers(session, plan_id, prefix, year, len(ids))
        updates += [
            {"id": rid, "notice_number": format_notice_number(prefix, year, n)}
            for rid, n in zip(sorted(ids), numbers, strict=True)
        ]
    if updates:
        session.execute(sa.update(OutboxMessage), updates)
    return Enqueued(sorted(pending), sorted(skipped))


def enqueue_notice(
    session: Session, task: TrackedTask, step: Step, recipient: Recipient, now: datetime
) -> OutboxMessage | None:
    """Write one pending, numbered notice of ``task``'s ``step`` to ``recipient``.

    Returns the new row, or None when the row of (task, due day, step, channel) already exists
    (nothing is written, no number is taken). ``now``: aware, stamps ``created_at``; the row
    belongs to the digest of ``now``'s local day.
    """
    ids = enqueue_drafts(session, [NoticeDraft(task, step, recipient)], now).pending
    return session.get(OutboxMessage, ids[0]) if ids else None
