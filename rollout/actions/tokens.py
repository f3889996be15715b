"""API tokens: each organization's credentials for the HTTP API.

A token is ``rlt_`` followed by 32 random bytes in URL-safe base64, shown once when made; only its
SHA-256 is stored. A token acts for one organization in the role of that organization's kind.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from rollout.errors import InvalidInput, NotAuthenticated, NotFound
from rollout.models import ApiToken, AuditEvent, Organization
from rollout.workflow import ROLE_LABELS, Actor, Role, role_for

PREFIX = "rlt_"
#: ``last_used_at`` is refreshed at most this often (seconds), so reads stay reads.
LAST_USED_EVERY_SECONDS = 300


def hash_token(token: str) -> str:
    """SHA-256 hex digest of the whole token text."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(
    session: Session,
    org_code: str,
    role: Role,
    *,
    now: datetime,
    name: str = "",
    days: int | None = None,
) -> tuple[ApiToken, str]:
    """Make a token for ``org_code`` acting as ``role``; returns the row and the token text.

    ``days``: validity in days from ``now`` (None: no expiry; must be >= 1). Raises ``NotFound``
    for an unknown organization, ``InvalidInput`` when ``role`` is not the organization's kind
    (e.g. a county token for a city) or ``days`` < 1. Writes a ``token_created`` audit event.
    """
    org = session.get(Organization, org_code)
    if org is None:
        raise NotFound(f"找不到机构 '{org_code}'")
    try:
        kind_role = role_for(org)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="org") from None
    if kind_role != role:
        raise InvalidInput(
            f"{org.name} 是{ROLE_LABELS[kind_role]}，只能使用角色 {kind_role.value}，不能用 {role.value}",
            field="role",
        )
    if days is not None and days < 1:
        raise InvalidInput("有效天数须为正整数", field="days")
    text = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        org_code=org.code, role=role.value, name=name, token_hash=hash_token(text),
        created_at=now, expires_at=now + timedelta(days=days) if days else None,
    )
    session.add(row)
    session.flush()
    session.add(
        AuditEvent(
            at=now, kind="token_created", actor=name or "cli", actor_org_code=org.code,
            after={"token_id": row.id, "role": role.value,
                   "expires_at": row.expires_at.isoformat() if row.expires_at else None},
        )
    )
    return row, text


def revoke_token(session: Session, token_id: int, *, now: datetime) -> ApiToken:
    """Revoke token ``token_id`` from ``now`` on (idempotent: an already revoked one keeps its
    time). Raises ``NotFound``. Writes a ``token_revoked`` audit event."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"找不到令牌 {token_id}")
    if row.revoked_at is None:
        row.revoked_at = now
        session.add(row)
        session.add(
            AuditEvent(at=now, kind="token_revoked", actor="cli", actor_org_code=row.org_code,
                       before={"token_id": row.id}, after={"revoked_at": now.isoformat()})
        )
        session.flush()
    return row


def list_tokens(session: Session) -> list[ApiToken]:
    """All tokens, newest first (hashes only; the token texts are not kept)."""
    return list(session.exec(select(ApiToken).order_by(col(ApiToken.id).desc())))


def authenticate(session: Session, token: str | None, *, now: datetime) -> tuple[ApiToken, Actor]:
    """The token row and the actor for a presented token.

    Raises ``NotAuthenticated`` (Chinese message) when it is missing, unknown, expired or revoked,
    or its organization no longer has that role. Does not write.
    """
    if not token:
        raise NotAuthenticated("缺少访问令牌：请在请求头加 Authorization: Bearer <令牌>")
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()
    if row is None:
        raise NotAuthenticated("访问令牌无效")
    if row.revoked_at is not None:  # revocation acts at once, whatever the clock says
        raise NotAuthenticated("访问令牌已吊销")
    if row.expires_at is not None and row.expires_at <= now:
        raise NotAuthenticated(f"访问令牌已于 {row.expires_at.isoformat()} 过期")
    org = session.get(Organization, row.org_code)
    if org is None or org.kind.value != row.role:
        raise NotAuthenticated("访问令牌所属机构或角色已变更，请重新申请")
    return row, Actor(org_code=row.org_code, role=Role(row.role), name=row.name or f"令牌{row.id}")


def needs_touch(row: ApiToken, now: datetime) -> bool:
    """Whether ``last_used_at`` is older than ``LAST_USED_EVERY_SECONDS`` (or unset)."""
    return row.last_used_at is None or (now - row.last_used_at).total_seconds() >= LAST_USED_EVERY_SECONDS
