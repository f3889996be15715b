"""Calendar-feed tokens: the secret in an organization's subscription URL
(``/calendar/<token>.ics``). They read that organization's deadlines and grant nothing else
(a table apart from API tokens). Only the SHA-256 of a token is stored; the text is shown once.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlmodel import Session, col, select

from rollout.errors import NotFound
from rollout.models import AuditEvent, CalendarToken, Organization

PREFIX = "cal_"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def issue_calendar_token(
    session: Session, org_code: str, *, now: datetime, created_by: str = ""
) -> tuple[CalendarToken, str]:
    """A new feed token of ``org_code``; returns the row and the token text (``cal_`` + 43
    URL-safe characters). Raises ``NotFound`` for an unknown organization. Writes a
    ``calendar_token_created`` audit event; never commits."""
    if session.get(Organization, org_code) is None:
        raise NotFound(f"找不到机构 '{org_code}'")
    text = PREFIX + secrets.token_urlsafe(32)
    row = CalendarToken(org_code=org_code, token_hash=_digest(text), created_by=created_by,
                        created_at=now)
    session.add(row)
    session.flush()
    session.add(AuditEvent(at=now, kind="calendar_token_created", actor=created_by or "system",
                           actor_org_code=org_code, after={"calendar_token_id": row.id}))
    return row, text


def feed_org(session: Session, text: str) -> str:
    """The organization code of a valid (unrevoked) feed token; ``NotFound`` otherwise."""
    row = session.exec(
        select(CalendarToken).where(CalendarToken.token_hash == _digest(text),
                                    col(CalendarToken.revoked_at).is_(None))
    ).first()
    if row is None:
        raise NotFound("日历订阅地址无效或已停用")
    return row.org_code


def revoke_calendar_tokens(session: Session, org_code: str, *, now: datetime) -> int:
    """Revoke every feed token of ``org_code``; returns how many were live. Never commits."""
    rows = session.exec(
        select(CalendarToken).where(CalendarToken.org_code == org_code,
                                    col(CalendarToken.revoked_at).is_(None))
    ).all()
    for row in rows:
        row.revoked_at = now
        session.add(row)
    return len(rows)
