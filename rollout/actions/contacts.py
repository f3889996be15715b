"""Contacts (联络人) of organizations, managed by the organization itself and the provincial
office. Notices resolve their recipients when they are sent, so a change here applies to the
next notice, whatever task it is about.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from rollout.actions.scope import same_province
from rollout.errors import InvalidInput, NotFound, PermissionDenied
from rollout.models import AuditEvent, Contact, Domain, Organization, WebhookKind
from rollout.workflow import Actor, Role

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
FIELDS = ("domain_key", "name", "role", "email", "webhook_url", "webhook_kind", "active")


def _org_for(session: Session, actor: Actor, org_code: str, *, write: bool) -> Organization:
    org = session.get(Organization, org_code)
    if org is None:
        raise NotFound(f"机构 {org_code} 不存在")
    office = actor.role == Role.office and same_province(session, actor.org_code, org)
    if write and not office and actor.org_code != org_code:
        raise PermissionDenied("联络人只能由本单位或本省政务公开办维护")
    if not write and not office and actor.org_code != org_code:
        raise PermissionDenied("只能查看本单位的联络人")
    return org


def _check(session: Session, c: Contact) -> None:
    if c.domain_key is not None and session.get(Domain, c.domain_key) is None:
        raise InvalidInput(f"没有领域 {c.domain_key}", field="domain_key")
    if c.email is not None and not _EMAIL.match(c.email):
        raise InvalidInput(f"邮箱 {c.email} 格式不正确", field="email")
    if c.webhook_url is not None and not c.webhook_url.startswith(("http://", "https://")):
        raise InvalidInput("Webhook 地址须以 http:// 或 https:// 开头", field="webhook_url")
    if c.webhook_url and c.webhook_kind is None:
        c.webhook_kind = WebhookKind.generic
    if not c.email and not c.webhook_url:
        raise InvalidInput("邮箱和 Webhook 地址至少填写一项", field="email")


def _audit(session: Session, actor: Actor, now: datetime, kind: str, before: Any, after: Any,
           request_id: str | None) -> None:
    session.add(AuditEvent(at=now, kind=kind, actor=actor.name, actor_org_code=actor.org_code,
                           before=before, after=after, request_id=request_id))


def _dump(c: Contact) -> dict[str, Any]:
    return c.model_dump(mode="json", exclude={"updated_at"})


def list_contacts(session: Session, actor: Actor, org_code: str) -> list[Contact]:
    """The contacts of ``org_code`` (the organization itself or the office may read them)."""
    _org_for(session, actor, org_code, write=False)
    return list(session.exec(select(Contact).where(Contact.org_code == org_code).order_by(col(Contact.id))))


def add_contact(session: Session, actor: Actor, org_code: str, values: dict[str, Any], *,
                now: datetime, request_id: str | None = None) -> Contact:
    """Add a contact to ``org_code`` (``values``: keys of ``FIELDS``). Raises ``NotFound``,
    ``PermissionDenied``, ``InvalidInput``. Writes ``contact_created``."""
    _org_for(session, actor, org_code, write=True)
    c = Contact(org_code=org_code, updated_at=now, **{k: v for k, v in values.items() if k in FIELDS})
    _check(session, c)
    session.add(c)
    session.flush()
    _audit(session, actor, now, "contact_created", None, _dump(c), request_id)
    return c


def _contact(session: Session, org_code: str, contact_id: int) -> Contact:
    c = session.get(Contact, contact_id)
    if c is None or c.org_code != org_code:
        raise NotFound(f"机构 {org_code} 没有联络人 {contact_id}")
    return c


def update_contact(session: Session, actor: Actor, org_code: str, contact_id: int,
                   values: dict[str, Any], *, now: datetime, request_id: str | None = None) -> Contact:
    """Change the given fields of a contact. Raises as ``add_contact``. Writes ``contact_updated``."""
    _org_for(session, actor, org_code, write=True)
    c = _contact(session, org_code, contact_id)
    before = _dump(c)
    for k, v in values.items():
        if k in FIELDS:
            setattr(c, k, v)
    _check(session, c)
    c.updated_at = now
    session.add(c)
    session.flush()
    _audit(session, actor, now, "contact_updated", before, _dump(c), request_id)
    return c


def delete_contact(session: Session, actor: Actor, org_code: str, contact_id: int, *,
                   now: datetime, request_id: str | None = None) -> None:
    """Delete a contact (its last values stay in the ``contact_deleted`` audit event)."""
    _org_for(session, actor, org_code, write=True)
    c = _contact(session, org_code, contact_id)
    _audit(session, actor, now, "contact_deleted", _dump(c), None, request_id)
    session.delete(c)
    session.flush()
