"""``/api/audit``: the audit trail, for the provincial office only, of its own province
(``rollout.actions.scope.office_audit_condition``). Read-only: no endpoint updates or deletes
an event."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlmodel import col, func, select

from rollout import db
from rollout.actions.scope import office_audit_condition
from rollout.api.deps import CtxDep, require_office
from rollout.api.errors import error_responses
from rollout.api.schemas.common import NO_CONTROL, moment
from rollout.api.schemas.tasks import AuditEventPublic
from rollout.models import AuditEvent

router = APIRouter(prefix="/api/audit", tags=["审计"])


class AuditPage(BaseModel):
    """One page of audit events, oldest first."""

    total: int = Field(description="符合条件的事件总数")
    limit: int
    offset: int
    items: list[AuditEventPublic]


@router.get("", response_model=AuditPage, responses=error_responses(403))
def list_audit(
    ctx: CtxDep,
    task_id: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="任务编号")] = None,
    kind: Annotated[str | None, Query(max_length=60, pattern=NO_CONTROL, description="事件类型")] = None,
    org: Annotated[str | None, Query(max_length=60, pattern=NO_CONTROL, description="经办单位代码")] = None,
    request_id: Annotated[str | None, Query(max_length=64, pattern=NO_CONTROL, description="请求编号")] = None,
    since: Annotated[moment("起始时间（含）") | None, Query()] = None,
    until: Annotated[moment("截止时间（不含）") | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> AuditPage:
    """审计记录（仅省政务公开办，本省），按时间顺序，可按任务、类型、单位、请求编号、时间筛选。"""
    require_office(ctx)
    q = select(AuditEvent)
    if task_id is not None:
        q = q.where(AuditEvent.task_id == task_id)
    if kind:
        q = q.where(AuditEvent.kind == kind)
    if org:
        q = q.where(AuditEvent.actor_org_code == org)
    if request_id:
        q = q.where(AuditEvent.request_id == request_id)
    if since is not None:
        q = q.where(col(AuditEvent.at) >= since)
    if until is not None:
        q = q.where(col(AuditEvent.at) < until)
    with db.read_session(ctx.engine) as session:
        if (mine := office_audit_condition(session, ctx.actor.org_code)) is not None:
            q = q.where(mine)
        total = session.exec(select(func.count()).select_from(q.subquery())).one()
        rows = session.exec(q.order_by(col(AuditEvent.id)).limit(limit).offset(offset)).all()
        items = [AuditEventPublic.model_validate(e, from_attributes=True) for e in rows]
    return AuditPage(total=total, limit=limit, offset=offset, items=items)
