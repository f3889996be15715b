"""Digests as they are sent: the content of one message per (channel, address, local day), read
with no ORM objects for a whole claimed batch at once (``load_contents``). Digests are made by
``rollout.notifications.digest_build``. Functions here take the caller's ``Session`` and never commit
(DESIGN.md, "Transactions").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from rollout.calendar import WorkingCalendar
from rollout.errors import MissingHolidayData
from rollout.models import (
    Channel,
    Contact,
    Digest,
    Domain,
    Milestone,
    Organization,
    OutboxMessage,
    OutboxStatus,
    Plan,
    TrackedTask,
    WebhookKind,
)
from rollout.notifications.digest_build import chunks, one_of


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
    dialect = session.connection().dialect.name
    digests_q = sa.select(d.id, d.message_id, d.channel, d.address, d.day, d.created_at,
                          d.attempts, d.recipient_org_code).where(one_of(d.id, "ids", dialect))
    digests: dict[int, sa.Row] = {}
    for ids in chunks(list(digest_ids)):
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
        .where(o.status == OutboxStatus.pending, one_of(o.digest_id, "ids", dialect))
    )
    by_digest: dict[int, list[sa.Row]] = defaultdict(list)
    for ids in chunks(list(digests)):
        for rec in session.execute(rows_q, {"ids": list(ids)}):
            by_digest[rec.digest_id].append(rec)
    org_codes = sorted({r.recipient_org_code for r in digests.values()})
    org = Organization.__table__.c
    names = {code: name for code, name in session.execute(
        sa.select(org.code, org.name).where(one_of(org.code, "codes", dialect)),
        {"codes": org_codes})} if org_codes else {}
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
