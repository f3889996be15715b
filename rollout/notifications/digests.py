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

import sqlalchemy as sa
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

#: Ids per ``IN (...)`` list (well under SQLite's and PostgreSQL's bound-parameter limits).
CHUNK = 1000

_NEW = "<new-"
_NEW_TOKEN_HEX = 32


def _chunks(values: Sequence, size: int = CHUNK) -> Iterable[Sequence]:
    for i in range(0, len(values), size):
        yield values[i:i + size]


def message_id_placeholder(day: date, domain: str) -> str:
    """The Message-ID a digest is inserted with before its id is known:
    ``<new-{32 random hex}{YYYYMMDD}.{8 random hex}@{domain}>`` (unique by its random part);
    ``final_message_id`` turns it into ``<digest-{id}-{YYYYMMDD}.{8 hex}@{domain}>``."""
    return f"{_NEW}{secrets.token_hex(_NEW_TOKEN_HEX // 2)}{day:%Y%m%d}.{secrets.token_hex(4)}@{domain}>"


def final_message_id() -> sa.ColumnElement[str]:
    """SQL for a digest's final Message-ID from its placeholder and id (RFC 5322 msg-id):
    ``'<digest-' || id || '-' || {YYYYMMDD}.{token}@{domain}>``, the same on SQLite and
    PostgreSQL."""
    tail = sa.func.substr(Digest.__table__.c.message_id, len(_NEW) + _NEW_TOKEN_HEX + 1)
    return sa.literal("<digest-") + sa.cast(Digest.__table__.c.id, sa.String) + "-" + tail


def build_digests(
    session: Session,
    *,
    now: datetime,
    channels: Iterable[Channel] = (Channel.email, Channel.webhook),
    settle_seconds: float = 0.0,
    message_id_domain: str = "rollout.invalid",
) -> tuple[list[int], int]:
    """Group pending, undigested outbox rows into digests; returns (ids of the new digests,
    rows skipped).

    ``now``: aware datetime (``ValueError`` if naive). ``channels``: only rows of these channels
    are grouped (email is left out when no SMTP server is configured, so those rows stay pending
    without a digest). Rows with an empty address are left alone (nothing to send them to).
    Set-based (issue 6): one read of the candidate rows, one multi-row INSERT of the new digests
    and one UPDATE giving them their final Message-IDs, then the rows' ``digest_id`` in one
    statement per chunk (``_set_digest_ids``); nothing is loaded as ORM objects.
    """
    today = local_day(now)
    channels = list(channels)
    if not channels:
        return [], 0
    o, t = OutboxMessage.__table__.c, TrackedTask.__table__.c
    rows_q = (
        sa.select(o.id, o.channel, o.address, o.scheduled_on, o.recipient_org_code, o.kind,
                  t.state)
        .join_from(OutboxMessage.__table__, TrackedTask.__table__, t.id == o.task_id)
        .where(
            o.status == OutboxStatus.pending,
            o.digest_id.is_(None),
            o.channel.in_(channels),
            o.address != "",
            o.scheduled_on <= today,
            o.created_at <= now - timedelta(seconds=settle_seconds),
        )
        .order_by(o.channel, o.address, o.scheduled_on, o.id)
        .with_for_update(skip_locked=True, of=OutboxMessage.__table__)
    )
    groups: dict[tuple[Channel, str, date], list[int]] = defaultdict(list)
    org_of: dict[tuple[Channel, str, date], str] = {}
    skipped: list[int] = []
    for row_id, channel, address, day, org_code, kind, state in session.execute(rows_q):
        if kind in DEADLINE_KINDS and state not in OPEN_STATES:
            skipped.append(row_id)
            continue
        key = (channel, address, day)
        groups[key].append(row_id)
        org_of.setdefault(key, org_code)
    conn = session.connection()
    for ids in _chunks(skipped):
        conn.execute(sa.update(OutboxMessage.__table__).where(o.id.in_(ids))
                     .values(status=OutboxStatus.skipped))
    if not groups:
        return [], len(skipped)

    digest_of = _joinable(session, groups.keys(), channels)
    new_keys = [key for key in groups if key not in digest_of]
    created: list[int] = []
    if new_keys:
        d = Digest.__table__.c
        created = list(conn.execute(
            sa.insert(Digest.__table__).returning(d.id, sort_by_parameter_order=True),
            [{"channel": ch, "address": addr, "day": day, "recipient_org_code": org_of[key],
              "message_id": message_id_placeholder(day, message_id_domain),
              "status": DigestStatus.pending, "attempts": 0, "created_at": now,
              "next_attempt_at": now} for key in new_keys for ch, addr, day in [key]],
        ).scalars())
        conn.execute(
            sa.update(Digest.__table__)
            .where(d.id.between(min(created), max(created)), d.message_id.startswith(_NEW))
            .values(message_id=final_message_id())
        )
        digest_of.update(zip(new_keys, created, strict=True))
    _set_digest_ids(conn, [(r, digest_of[key]) for key, ids in groups.items() for r in ids])
    return created, len(skipped)


_SET_DIGEST_IDS_PG = sa.text(
    f"UPDATE {OutboxMessage.__tablename__} AS o SET digest_id = v.digest_id "
    "FROM unnest(CAST(:row_ids AS integer[]), CAST(:digest_ids AS integer[])) AS v(id, digest_id) "
    "WHERE o.id = v.id"
)


def _set_digest_ids(conn: sa.Connection, pairs: list[tuple[int, int]]) -> None:
    """Set ``digest_id`` of outbox rows, ``pairs`` of (row id, digest id). PostgreSQL: one
    UPDATE … FROM unnest(arrays) per chunk (an executemany of one UPDATE per row took 2.2 s of
    3.6 for the 74,100 rows of a national reminder day, bench/run.py); SQLite: executemany,
    which runs in-process."""
    if conn.dialect.name == "postgresql":
        for chunk in _chunks(pairs, 50_000):
            conn.execute(_SET_DIGEST_IDS_PG, {"row_ids": [r for r, _ in chunk],
                                              "digest_ids": [d for _, d in chunk]})
        return
    o = OutboxMessage.__table__.c
    conn.execute(
        sa.update(OutboxMessage.__table__).where(o.id == sa.bindparam("row_id"))
        .values(digest_id=sa.bindparam("to_digest")),
        [{"row_id": r, "to_digest": d} for r, d in pairs],
    )


def _joinable(
    session: Session, keys: Iterable[tuple[Channel, str, date]], channels: list[Channel]
) -> dict[tuple[Channel, str, date], int]:
    """Digests that rows of ``keys`` may join (never claimed: ``pending``, ``attempts`` 0, no
    ``claimed_by``), the oldest per key, locked ``FOR UPDATE SKIP LOCKED`` on PostgreSQL."""
    d = Digest.__table__.c
    keys = set(keys)
    days = sorted({day for _, _, day in keys})
    found: dict[tuple[Channel, str, date], int] = {}
    for addresses in _chunks(sorted({addr for _, addr, _ in keys})):
        q = (
            sa.select(d.id, d.channel, d.address, d.day)
            .where(d.status == DigestStatus.pending, d.attempts == 0, d.claimed_by.is_(None),
                   d.channel.in_(channels), d.day.in_(days), d.address.in_(addresses))
            .order_by(d.id)
            .with_for_update(skip_locked=True)
        )
        for digest_id, channel, address, day in session.execute(q):
            if (channel, address, day) in keys:
                found.setdefault((channel, address, day), digest_id)
    return found


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
    session: Session, digest_ids: Sequence[int], calendar: WorkingCalendar
) -> list[DigestContent]:
    """The renderable content of the digests ``digest_ids`` (same order; unknown ids are left
    out), from their ``pending`` rows.

    Items are ordered by due day, then notice number. Working days late come from ``calendar``
    (None for a year it lacks, instead of failing the whole send). Three queries for the whole
    batch (digests, their rows with task, milestone, owner, domain and plan, recipient names),
    columns only, no ORM objects.
    """
    if not digest_ids:
        return []
    d, o = Digest.__table__.c, OutboxMessage.__table__.c
    t, m, dom, plan = (TrackedTask.__table__.c, Milestone.__table__.c, Domain.__table__.c,
                       Plan.__table__.c)
    owner = Organization.__table__.alias("owner")
    ids_param = sa.bindparam("ids", expanding=True)  # one cached statement, any list length
    digests_q = sa.select(d.id, d.message_id, d.channel, d.address, d.day, d.created_at,
                          d.attempts, d.recipient_org_code).where(d.id.in_(ids_param))
    digests: dict[int, sa.Row] = {}
    for ids in _chunks(list(digest_ids)):
        digests.update((r.id, r) for r in session.execute(digests_q, {"ids": list(ids)}))
    rows_q = (
        sa.select(o.digest_id, o.id, o.notice_number, o.kind, o.step_key, o.levels_up, o.due_on,
                  o.recipient_name, t.key, m.title, owner.c.name, dom.name.label("domain_name"),
                  plan.title.label("plan_title"), plan.document_number)
        .select_from(OutboxMessage.__table__)
        .join(TrackedTask.__table__, t.id == o.task_id)
        .join(Milestone.__table__, m.id == t.milestone_id)
        .join(owner, owner.c.code == t.org_code)
        .join(Plan.__table__, plan.id == o.plan_id)
        .outerjoin(Domain.__table__, dom.key == t.domain_key)
        .where(o.status == OutboxStatus.pending, o.digest_id.in_(ids_param))
    )
    by_digest: dict[int, list[sa.Row]] = defaultdict(list)
    for ids in _chunks(list(digests)):
        for rec in session.execute(rows_q, {"ids": list(ids)}):
            by_digest[rec.digest_id].append(rec)
    org_codes = sorted({r.recipient_org_code for r in digests.values()})
    names = {code: name for code, name in session.execute(
        sa.select(Organization.__table__.c.code, Organization.__table__.c.name)
        .where(Organization.__table__.c.code.in_(org_codes)))} if org_codes else {}
    urls = sorted({r.address for r in digests.values() if r.channel == Channel.webhook})
    kinds = {url: kind for url, kind in session.execute(
        select(Contact.webhook_url, Contact.webhook_kind)
        .where(col(Contact.webhook_url).in_(urls)))} if urls else {}
    late: dict[tuple[date, date], int | None] = {}
    out = []
    for digest_id in digest_ids:
        dg = digests.get(digest_id)
        if dg is None:
            continue
        recs = by_digest.get(digest_id, [])
        items = []
        for r in recs:
            if (r.due_on, dg.day) not in late:
                late[(r.due_on, dg.day)] = _late(calendar, r.due_on, dg.day)
            items.append(DigestItem(
                notice_number=r.notice_number or f"#{r.id}", kind=r.kind, step_key=r.step_key,
                levels_up=r.levels_up, task_key=r.key, milestone_title=r.title,
                domain_name=r.domain_name, owner_name=r.name, due_on=r.due_on,
                days_left=(r.due_on - dg.day).days, working_days_late=late[(r.due_on, dg.day)],
            ))
        items.sort(key=lambda i: (i.due_on, i.notice_number))
        label = names.get(dg.recipient_org_code, dg.recipient_org_code)
        first = recs[0] if recs else None
        out.append(DigestContent(
            digest_id=dg.id, message_id=dg.message_id, channel=dg.channel, address=dg.address,
            day=dg.day, created_at=dg.created_at, attempts=dg.attempts,
            recipient_org_code=dg.recipient_org_code, recipient_label=label,
            recipient_name=_common({r.recipient_name for r in recs}) or label,
            plan_title=first.plan_title if first else "",
            document_number=first.document_number if first else "",
            items=items, webhook_kind=kinds.get(dg.address),
        ))
    return out
