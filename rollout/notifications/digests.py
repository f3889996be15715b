"""Digests: one message per (channel, address, local day) carrying that day's pending notices.

A county whose 26 domains are due the same day gets one mail listing 26 items, not 26 mails
(issue 3, item 4). Functions here take the caller's ``Session`` and never commit; ``now`` is
passed in (DESIGN.md, "Transactions" and "Time").

Rules:

- Only ``pending`` rows without a digest are grouped, written at least ``settle_seconds`` before
  ``now`` (a sweep commits in batches: waiting a little keeps one recipient's rows of one day in
  one digest) and scheduled on or before the local day of ``now``.
- A reminder, escalation or overdue row whose task is no longer open (submitted, accepted,
  waived, cancelled since the sweep wrote it) is marked ``skipped`` and sent to nobody.
- Rows join a digest of the same key that has never been claimed (status ``pending``,
  ``attempts`` 0, no ``claimed_by``); otherwise a new digest is made. Once a digest has been
  claimed its items never change, so a resend carries the same items under the same Message-ID.
- The Message-ID is fixed when the digest is made: ``<digest-{id}-{YYYYMMDD}.{random}@{domain}>``
  (the random part keeps IDs unique across databases, e.g. after a reset).
- On PostgreSQL the rows and joinable digests are read ``FOR UPDATE SKIP LOCKED`` so two
  dispatchers never put one row in two digests; on SQLite the caller's ``BEGIN IMMEDIATE``
  transaction holds the write lock.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from rollout.calendar import WorkingCalendar, local_day
from rollout.errors import MissingHolidayData
from rollout.models import (
    OPEN_STATES,
    Channel,
    Contact,
    Digest,
    DigestStatus,
    Domain,
    Milestone,
    Organization,
    OutboxMessage,
    OutboxStatus,
    Plan,
    TrackedTask,
    WebhookKind,
)

#: Row kinds that only make sense while the task is still open.
DEADLINE_KINDS = frozenset({"reminder", "escalation", "overdue"})


def message_id_for(digest_id: int, day: date, domain: str, token: str | None = None) -> str:
    """The Message-ID of a digest: ``<digest-{id}-{YYYYMMDD}.{token}@{domain}>`` (RFC 5322
    msg-id; ``token`` 8 random hex digits unless given)."""
    token = token or secrets.token_hex(4)
    return f"<digest-{digest_id}-{day:%Y%m%d}.{token}@{domain}>"


def build_digests(
    session: Session,
    *,
    now: datetime,
    channels: Iterable[Channel] = (Channel.email, Channel.webhook),
    settle_seconds: float = 0.0,
    message_id_domain: str = "rollout.invalid",
) -> tuple[list[Digest], int]:
    """Group pending, undigested outbox rows into digests; returns (new digests, rows skipped).

    ``now``: aware datetime (``ValueError`` if naive). ``channels``: only rows of these channels
    are grouped (email is left out when no SMTP server is configured, so those rows stay pending
    without a digest). Rows with an empty address are left alone (nothing to send them to).
    New digests are flushed with their final Message-ID; rows get ``digest_id``.
    """
    today = local_day(now)
    channels = list(channels)
    if not channels:
        return [], 0
    rows_q = (
        select(OutboxMessage, TrackedTask.state)
        .join(TrackedTask, col(TrackedTask.id) == OutboxMessage.task_id)
        .where(
            OutboxMessage.status == OutboxStatus.pending,
            col(OutboxMessage.digest_id).is_(None),
            col(OutboxMessage.channel).in_(channels),
            OutboxMessage.address != "",
            OutboxMessage.scheduled_on <= today,
            OutboxMessage.created_at <= now - timedelta(seconds=settle_seconds),
        )
        .order_by(OutboxMessage.channel, OutboxMessage.address, OutboxMessage.scheduled_on,
                  col(OutboxMessage.id))
        .with_for_update(skip_locked=True, of=OutboxMessage)
    )
    groups: dict[tuple[Channel, str, date], list[OutboxMessage]] = defaultdict(list)
    skipped = 0
    for row, state in session.exec(rows_q):
        if row.kind in DEADLINE_KINDS and state not in OPEN_STATES:
            row.status = OutboxStatus.skipped
            skipped += 1
            continue
        groups[(row.channel, row.address, row.scheduled_on)].append(row)
    if not groups:
        session.flush()
        return [], skipped

    days = {key[2] for key in groups}
    joinable_q = (
        select(Digest)
        .where(
            Digest.status == DigestStatus.pending,
            Digest.attempts == 0,
            col(Digest.claimed_by).is_(None),
            col(Digest.channel).in_(channels),
            col(Digest.day).in_(days),
        )
        .order_by(col(Digest.id))
        .with_for_update(skip_locked=True)
    )
    joinable: dict[tuple[Channel, str, date], Digest] = {}
    for d in session.exec(joinable_q):
        joinable.setdefault((d.channel, d.address, d.day), d)

    created: list[Digest] = []
    for key, rows in groups.items():
        if key not in joinable:
            channel, address, day = key
            d = Digest(
                channel=channel, address=address, day=day,
                recipient_org_code=rows[0].recipient_org_code,
                message_id=f"<new-{secrets.token_hex(12)}@{message_id_domain}>",
                status=DigestStatus.pending, created_at=now, next_attempt_at=now,
            )
            session.add(d)
            created.append(d)
            joinable[key] = d
    session.flush()
    for d in created:
        d.message_id = message_id_for(d.id, d.day, message_id_domain)
    for key, rows in groups.items():
        for row in rows:
            row.digest_id = joinable[key].id
    session.flush()
    return created, skipped


@dataclass(frozen=True, slots=True)
class DigestItem:
    """One notice inside a digest, as a person reads it.

    ``kind``: ``reminder`` / ``escalation`` / ``overdue`` (or another row kind). ``days_left``:
    calendar days from the digest's day to ``due_on`` (0 = due that day, negative = late).
    ``working_days_late``: working days in (due_on, day] for a late item, None when not late or
    when the calendar lacks the year. ``owner_name``: the unit that owes the work.
    """

    notice_number: str
    kind: str
    step_key: str
    levels_up: int
    task_key: str
    milestone_title: str
    domain_name: str | None
    owner_name: str
    due_on: date
    days_left: int
    working_days_late: int | None


@dataclass(frozen=True, slots=True)
class DigestContent:
    """Everything needed to render and send one digest with no database session open.

    ``recipient_label``: the recipient organization's name (for the subject, e.g. 南关区);
    ``recipient_name``: the display name of the address: the rows' ``recipient_name`` when they
    all agree (e.g. one contact), else ``recipient_label`` (an address shared by the 26
    counterpart departments of a county is addressed to the county). ``created_at``
    becomes the Date header, so a resend is byte-identical apart from transport headers.
    ``webhook_kind``: the format for a webhook digest (from ``Contact``; None if no contact
    names the URL: ``rollout.notifications.webhook`` then infers it from the host).
    """

    digest_id: int
    message_id: str
    channel: Channel
    address: str
    day: date
    created_at: datetime
    attempts: int
    recipient_org_code: str
    recipient_label: str
    recipient_name: str
    plan_title: str
    document_number: str
    items: list[DigestItem] = field(default_factory=list)
    webhook_kind: WebhookKind | None = None


def _late(calendar: WorkingCalendar, due_on: date, day: date) -> int | None:
    if day <= due_on:
        return None
    try:
        return calendar.working_days_between(due_on, day)
    except MissingHolidayData:
        return None


def _common(names: set[str]) -> str:
    return next(iter(names)) if len(names) == 1 else ""


def load_contents(
    session: Session, digests: Sequence[Digest], calendar: WorkingCalendar
) -> list[DigestContent]:
    """The renderable content of ``digests`` (same order), from their ``pending`` rows.

    Items are ordered by due day, then notice number. Working days late come from ``calendar``
    (None for a year it lacks, instead of failing the whole send).
    """
    if not digests:
        return []
    ids = [d.id for d in digests]
    owner = aliased(Organization)
    q = (
        select(OutboxMessage, TrackedTask, Milestone, owner, Domain, Plan)
        .join(TrackedTask, col(TrackedTask.id) == OutboxMessage.task_id)
        .join(Milestone, col(Milestone.id) == TrackedTask.milestone_id)
        .join(owner, col(owner.code) == TrackedTask.org_code)
        .join(Plan, col(Plan.id) == OutboxMessage.plan_id)
        .outerjoin(Domain, col(Domain.key) == TrackedTask.domain_key)
        .where(col(OutboxMessage.digest_id).in_(ids),
               OutboxMessage.status == OutboxStatus.pending)
    )
    by_digest: dict[int, list] = defaultdict(list)
    for rec in session.exec(q):
        by_digest[rec[0].digest_id].append(rec)
    org_codes = {d.recipient_org_code for d in digests}
    orgs = {o.code: o for o in session.exec(
        select(Organization).where(col(Organization.code).in_(org_codes)))}
    urls = [d.address for d in digests if d.channel == Channel.webhook]
    kinds = {c.webhook_url: c.webhook_kind for c in session.exec(
        select(Contact).where(col(Contact.webhook_url).in_(urls)))} if urls else {}
    out = []
    for d in digests:
        recs = by_digest.get(d.id, [])
        items = sorted(
            (
                DigestItem(
                    notice_number=row.notice_number or f"#{row.id}", kind=row.kind,
                    step_key=row.step_key, levels_up=row.levels_up, task_key=task.key,
                    milestone_title=m.title, domain_name=dom.name if dom else None,
                    owner_name=o.name, due_on=row.due_on,
                    days_left=(row.due_on - d.day).days,
                    working_days_late=_late(calendar, row.due_on, d.day),
                )
                for row, task, m, o, dom, _plan in recs
            ),
            key=lambda i: (i.due_on, i.notice_number),
        )
        org = orgs.get(d.recipient_org_code)
        label = org.name if org else d.recipient_org_code
        first = recs[0] if recs else None
        plan = first[5] if first else None
        out.append(DigestContent(
            digest_id=d.id, message_id=d.message_id, channel=d.channel, address=d.address,
            day=d.day, created_at=d.created_at, attempts=d.attempts,
            recipient_org_code=d.recipient_org_code, recipient_label=label,
            recipient_name=_common({r[0].recipient_name for r in recs}) or label,
            plan_title=plan.title if plan else "", document_number=plan.document_number if plan else "",
            items=items, webhook_kind=kinds.get(d.address),
        ))
    return out
