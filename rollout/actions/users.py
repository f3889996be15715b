"""Web users (登录账号): creation, password login with lockout, and browser sessions.

Passwords are hashed with argon2id (``argon2-cffi``'s ``PasswordHasher`` defaults, RFC 9106).
Repeated failures slow an attacker down (NIST SP 800-63B §5.2.2 rate limiting; OWASP
Authentication Cheat Sheet, "account lockout"): after ``LOCK_AFTER`` consecutive failures the
account is locked for ``LOCK_BASE_SECONDS``, doubling with each further failure up to
``LOCK_MAX_SECONDS``; while locked no password is checked. A success resets the count.

A browser session is a random cookie value whose SHA-256 is kept in ``WebSession`` with the
session's CSRF token; logging out deletes the row. Domain functions: they take a ``Session`` and
``now`` and never commit.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, col, select

from rollout.calendar import TZ
from rollout.errors import InvalidInput, NotAuthenticated, NotFound
from rollout.models import AuditEvent, Organization, User, WebSession
from rollout.workflow import Actor, Role, role_for

LOCK_AFTER = 5
LOCK_BASE_SECONDS = 60
LOCK_MAX_SECONDS = 3600
MIN_PASSWORD_LENGTH = 8
BAD_LOGIN = "用户名或密码不正确"

_hasher = PasswordHasher()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash("rollout-dummy-password")


def lock_seconds(failed_logins: int) -> int:
    """Seconds an account stays locked after its ``failed_logins``-th consecutive failure.

    0 below ``LOCK_AFTER``; then 60, 120, 240, … capped at 3600 (5 → 60 s, 6 → 120 s, 7 → 240 s).
    """
    if failed_logins < LOCK_AFTER:
        return 0
    return min(LOCK_BASE_SECONDS * 2 ** (failed_logins - LOCK_AFTER), LOCK_MAX_SECONDS)


def create_user(
    session: Session, org_code: str, username: str, password: str, *, now: datetime,
    display_name: str = "",
) -> User:
    """Make a login ``username`` for organization ``org_code`` (role = the organization's kind).

    Raises ``NotFound`` (unknown organization), ``InvalidInput`` (a township, a username taken
    or not 3–60 visible characters, a password shorter than ``MIN_PASSWORD_LENGTH``). Writes a
    ``user_created`` audit event; never commits.
    """
    org = session.get(Organization, org_code)
    if org is None:
        raise NotFound(f"找不到机构 '{org_code}'")
    try:
        role = role_for(org)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="org") from None
    name = username.strip()
    if not 3 <= len(name) <= 60 or any(c.isspace() or not c.isprintable() for c in name):
        raise InvalidInput("用户名须为 3–60 个字符，不含空格", field="username")
    if session.exec(select(User.id).where(User.username == name)).first() is not None:
        raise InvalidInput(f"用户名 {name} 已被使用", field="username")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"密码至少 {MIN_PASSWORD_LENGTH} 位", field="password")
    user = User(org_code=org.code, username=name, display_name=display_name.strip(),
                password_hash=_hasher.hash(password), role=role.value, created_at=now)
    session.add(user)
    session.flush()
    session.add(AuditEvent(at=now, kind="user_created", actor="cli", actor_org_code=org.code,
                           after={"user_id": user.id, "username": name, "role": role.value}))
    return user


@dataclass(frozen=True)
class LoginResult:
    """The outcome of one login attempt: the ``user`` on success, else a Chinese ``error``;
    ``locked_until`` (aware) when the account is locked."""

    user: User | None
    error: str | None = None
    locked_until: datetime | None = None


def _locked_message(until: datetime) -> str:
    return f"登录失败次数过多，账号已暂时锁定，请于 {until.astimezone(TZ):%H:%M:%S} 后再试"


def attempt_login(session: Session, username: str, password: str, *, now: datetime) -> LoginResult:
    """Check ``username``/``password`` at ``now`` and record the outcome on the user row.

    Locked account: refused without checking the password (and without counting). Wrong password:
    ``failed_logins`` + 1 and, from the ``LOCK_AFTER``-th, ``locked_until = now + lock_seconds``.
    Success: the count is reset, ``last_login_at`` set, the hash upgraded if its parameters are
    outdated. Unknown or inactive users get the same message as a wrong password (a dummy hash
    is verified so the time taken does not tell them apart). Writes a ``login_failed`` /
    ``login_locked`` audit event on failures; the caller commits in every case.
    """
    user = session.exec(
        select(User).where(User.username == username.strip()).with_for_update()
    ).first()
    if user is None or not user.active:
        try:
            _hasher.verify(_dummy_hash(), password or "x")
        except VerificationError:
            pass
        return LoginResult(None, BAD_LOGIN)
    if user.locked_until is not None and user.locked_until > now:
        return LoginResult(None, _locked_message(user.locked_until), user.locked_until)
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        user.failed_logins += 1
        wait = lock_seconds(user.failed_logins)
        user.locked_until = now + timedelta(seconds=wait) if wait else None
        session.add(user)
        session.add(AuditEvent(
            at=now, kind="login_locked" if wait else "login_failed", actor=user.username,
            actor_org_code=user.org_code,
            after={"failed_logins": user.failed_logins,
                   "locked_until": user.locked_until.isoformat() if user.locked_until else None},
        ))
        if wait:
            return LoginResult(None, _locked_message(user.locked_until), user.locked_until)  # type: ignore[arg-type]
        return LoginResult(None, BAD_LOGIN)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    session.add(user)
    return LoginResult(user)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def open_session(session: Session, user: User, *, now: datetime, hours: float) -> tuple[WebSession, str]:
    """Start a browser session for ``user`` lasting ``hours``; returns the row and the cookie
    value (shown to the browser only). Deletes the user's expired sessions. Never commits."""
    session.exec(sa.delete(WebSession).where(  # type: ignore[call-overload]
        col(WebSession.user_id) == user.id, col(WebSession.expires_at) <= now))
    value = secrets.token_urlsafe(32)
    row = WebSession(user_id=user.id, token_hash=_digest(value), csrf_token=secrets.token_urlsafe(32),  # type: ignore[arg-type]
                     created_at=now, expires_at=now + timedelta(hours=hours))
    session.add(row)
    session.flush()
    return row, value


@dataclass(frozen=True)
class SignedIn:
    """A valid browser session: its ``csrf_token``, the ``user`` and the ``actor`` acting."""

    session_id: int
    csrf_token: str
    user: User
    org: Organization
    actor: Actor


def session_user(session: Session, cookie: str | None, *, now: datetime) -> SignedIn:
    """The signed-in user of a session cookie value at ``now``.

    Raises ``NotAuthenticated`` when the cookie is missing, unknown or expired, the user is
    inactive, or the organization's kind no longer matches the user's role. Reads only.
    """
    if not cookie:
        raise NotAuthenticated("请先登录")
    row = session.exec(
        select(WebSession, User, Organization)
        .join(User, col(User.id) == WebSession.user_id)
        .join(Organization, col(Organization.code) == User.org_code)
        .where(WebSession.token_hash == _digest(cookie))
    ).first()
    if row is None:
        raise NotAuthenticated("登录已失效，请重新登录")
    web, user, org = row
    if web.expires_at <= now:
        raise NotAuthenticated("登录已过期，请重新登录")
    if not user.active or org.kind.value != user.role:
        raise NotAuthenticated("账号已停用或所属机构已变更")
    actor = Actor(org_code=user.org_code, role=Role(user.role), name=user.username)
    return SignedIn(web.id, web.csrf_token, user, org, actor)  # type: ignore[arg-type]


def close_session(session: Session, cookie: str | None) -> None:
    """Delete the session of a cookie value (logout); nothing happens for an unknown one."""
    if cookie:
        session.exec(sa.delete(WebSession).where(col(WebSession.token_hash) == _digest(cookie)))  # type: ignore[call-overload]
