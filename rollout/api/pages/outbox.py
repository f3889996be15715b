"""The outbox page (发件箱): what was sent to whom and when, what is pending, what failed.

The provincial office sees every row; another unit sees the rows addressed to it. Counts by
status come from one GROUP BY; the rows shown are one page of one status (newest first)."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from sqlmodel import col, select

from rollout import db
from rollout.actions.scope import province_units
from rollout.api.pages.web import PageCtxDep, PageRoute, render
from rollout.models import Digest, Organization, OutboxMessage, OutboxStatus, TrackedTask
from rollout.workflow import Role

router = APIRouter(route_class=PageRoute, include_in_schema=False)
PAGE_SIZE = 100


@router.get("/outbox", response_class=HTMLResponse)
def outbox(
    ctx: PageCtxDep,
    status: Annotated[OutboxStatus | None, Query()] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    """发件箱：各状态的条数，和所选状态（默认全部）的通知：文号、收件单位与地址、任务、计划日、发送时间、
    失败原因。"""
    with db.read_session(ctx.engine) as s:
        if ctx.actor.role == Role.office:  # the notices to units of its province
            units = province_units(s, ctx.actor.org_code)
            cond = sa.true() if units is None else col(OutboxMessage.recipient_org_code).in_(units)
        else:
            cond = col(OutboxMessage.recipient_org_code) == ctx.actor.org_code
        counts = {st.value: int(n) for st, n in s.exec(
            select(OutboxMessage.status, sa.func.count()).where(cond).group_by(OutboxMessage.status))}
        q = (select(OutboxMessage, Organization.name, TrackedTask.key, Digest.attempts,
                    Digest.last_error, Digest.next_attempt_at)
             .join(Organization, col(Organization.code) == OutboxMessage.recipient_org_code)
             .join(TrackedTask, col(TrackedTask.id) == OutboxMessage.task_id)
             .outerjoin(Digest, col(Digest.id) == OutboxMessage.digest_id)
             .where(cond))
        if status is not None:
            q = q.where(OutboxMessage.status == status)
        rows = s.exec(q.order_by(col(OutboxMessage.created_at).desc(), col(OutboxMessage.id).desc())
                      .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    shown_total = counts.get(status.value, 0) if status else sum(counts.values())
    return render(ctx, "outbox.html", counts=counts, rows=rows, status=status.value if status else "",
                  page=page, pages=max(1, -(-shown_total // PAGE_SIZE)), statuses=list(OutboxStatus),
                  total=sum(counts.values()))
