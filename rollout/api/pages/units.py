"""A city's page (its counties, the sign-offs it owes) and a unit's page (what it owes, what is
due soon, what was returned and why, what waits for its acceptance, its reminders), and the
creation of a unit's calendar-feed URL."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Path
from fastapi.responses import HTMLResponse
from sqlmodel import Session, col, select

from rollout import db
from rollout.actions.calendar_tokens import issue_calendar_token
from rollout.actions.scope import current_plan, same_province
from rollout.api.pages.board import (
    STATUS_LABELS,
    STATUS_ORDER,
    Cell,
    cities_and_counties,
    county_columns,
    load_board,
    overdue_tasks,
    soon_limit,
    task_status,
)
from rollout.api.pages.web import PageCtx, PageCtxDep, PageRoute, render
from rollout.calendar import TZ, days_left
from rollout.errors import NotFound
from rollout.models import (
    OPEN_STATES,
    AuditEvent,
    Domain,
    Milestone,
    Organization,
    OrgKind,
    OutboxMessage,
    TaskState,
    TrackedTask,
)
from rollout.models.organization import department_code
from rollout.models.task import SUBMITTED_SQL
from rollout.workflow import Role

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Code = Annotated[str, Path(max_length=40)]


def _visible_org(session: Session, ctx: PageCtx, code: str) -> Organization:
    """Organization ``code`` if the user may look at it (office: any of its province; city:
    itself and its counties; others: itself), else ``NotFound`` (existence is not revealed)."""
    org = session.get(Organization, code)
    actor = ctx.actor
    ok = org is not None and (
        (actor.role == Role.office and same_province(session, actor.org_code, org))
        or code == actor.org_code
        or (actor.role == Role.city and org.parent_code == actor.org_code)
    )
    if not ok:
        raise NotFound(f"单位 {code} 不存在或不在您的权限范围内")
    return org  # type: ignore[return-value]


@router.get("/city/{code}", response_class=HTMLResponse)
def city_page(ctx: PageCtxDep, code: Code) -> HTMLResponse:
    """市（州）页面：所辖县（市、区）各节点状态、待签署的复核、逾期清单。"""
    with db.read_session(ctx.engine) as s:
        org = _visible_org(s, ctx, code)
        if org.kind != OrgKind.city:
            raise NotFound(f"{org.name} 不是市（州）")
        plan = current_plan(s)
        [(city, counties)] = cities_and_counties(s, city=code)
        units = {code, *(u.code for u in counties)}
        board = load_board(s, plan, ctx.now, ctx.calendar, units=units)
        late_total, late = overdue_tasks(s, plan, ctx.now, ctx.calendar, limit=50, units=units)
        reviews = s.exec(
            select(TrackedTask).join(Milestone, col(Milestone.id) == TrackedTask.milestone_id)
            .where(Milestone.key == "city_review", TrackedTask.plan_id == plan.id,
                   TrackedTask.org_code == code)
            .order_by(col(TrackedTask.unit_code))
        ).all()
    names = {u.code: u.name for u in counties}
    today = ctx.now.astimezone(TZ).date()
    soon_on = soon_limit(today, ctx.calendar)
    signoffs = []
    for t in reviews:
        catalog = board.cell(t.unit_code or "", "catalog")
        signoffs.append({
            "task": t, "county": names.get(t.unit_code or "", t.unit_code),
            "catalog": catalog, "ready": catalog.total > 0 and catalog.done + catalog.submitted == catalog.total,
            "status": task_status(t, ctx.now, soon_on),
        })
    return render(ctx, "city.html", org=org, city=city, counties=counties, board=board,
                  cols=county_columns(board), signoffs=signoffs, late=late, late_total=late_total,
                  status_order=STATUS_ORDER, status_labels=STATUS_LABELS,
                  own=[m for m in board.milestones if board.cells.get((code, m.key))])


def _to_accept(session: Session, org: Organization, plan_id: int) -> tuple[int, list]:
    """Submitted tasks waiting for ``org``'s acceptance or review (city: its counties' catalogs;
    office: every acceptance of its province; department: acceptances of its domains in its
    province), first 100 and the count."""
    q = (select(TrackedTask, Milestone).join(Milestone, col(Milestone.id) == TrackedTask.milestone_id)
         # the literal predicate of ix_trackedtask_submitted (a bound state could not prove it)
         .where(TrackedTask.plan_id == plan_id, sa.text(f"trackedtask.{SUBMITTED_SQL}")))
    if org.kind == OrgKind.city:
        kids = select(Organization.code).where(Organization.parent_code == org.code)
        q = q.where(Milestone.accepted_by == "city", col(TrackedTask.unit_code).in_(kids))
    elif org.kind in (OrgKind.office, OrgKind.department):
        in_province = select(Organization.code).where(Organization.province_code == org.province)
        q = q.where(Milestone.accepted_by == "office", col(TrackedTask.org_code).in_(in_province))
        if org.kind == OrgKind.department:
            domains = [key for key, dept in session.exec(select(Domain.key, Domain.department_key))
                       if department_code(org.province, dept) == org.code]
            q = q.where(col(TrackedTask.domain_key).in_(domains))
    else:
        return 0, []
    total = session.exec(select(sa.func.count()).select_from(q.subquery())).one()
    rows = session.exec(q.order_by(col(TrackedTask.submitted_at), col(TrackedTask.key)).limit(100)).all()
    return int(total), list(rows)


@router.get("/unit/{code}", response_class=HTMLResponse)
def unit_page(ctx: PageCtxDep, code: Code) -> HTMLResponse:
    """本单位页面：待办、即将到期、被退回的任务及退回意见、待本单位验收/复核的、本单位收到的催办。"""
    today = ctx.now.astimezone(TZ).date()
    soon_on = soon_limit(today, ctx.calendar)
    with db.read_session(ctx.engine) as s:
        org = _visible_org(s, ctx, code)
        plan = current_plan(s)
        rows = s.exec(
            select(TrackedTask, Milestone, Domain.name)
            .join(Milestone, col(Milestone.id) == TrackedTask.milestone_id)
            .outerjoin(Domain, col(Domain.key) == TrackedTask.domain_key)
            .where(TrackedTask.plan_id == plan.id, TrackedTask.org_code == code,
                   col(TrackedTask.state).in_([s_.value for s_ in (*OPEN_STATES, TaskState.submitted)]))
            .order_by(col(TrackedTask.due_on), col(Milestone.position), col(TrackedTask.key))
        ).all()
        returned_ids = [t.id for t, _, _ in rows if t.state == TaskState.returned]
        reasons: dict[int, AuditEvent] = {}
        if returned_ids:
            for e in s.exec(select(AuditEvent).where(col(AuditEvent.task_id).in_(returned_ids),
                                                     AuditEvent.kind == "task_returned")
                            .order_by(col(AuditEvent.id))):
                reasons[e.task_id] = e  # type: ignore[index]
        accept_count, to_accept = _to_accept(s, org, plan.id)  # type: ignore[arg-type]
        reminders = s.exec(
            select(OutboxMessage, TrackedTask.key).join(TrackedTask, col(TrackedTask.id) == OutboxMessage.task_id)
            .where(OutboxMessage.recipient_org_code == code)
            .order_by(col(OutboxMessage.created_at).desc(), col(OutboxMessage.id).desc()).limit(50)
        ).all()
        names = {o.code: o.short_name or o.name for o in s.exec(
            select(Organization).where(col(Organization.code).in_(
                {t.unit_code for t, _, _ in rows if t.unit_code} | {t.unit_code for t, _ in to_accept if t.unit_code})))}
    owed = []
    for t, m, domain in rows:
        owed.append({"task": t, "m": m, "domain": domain, "unit": names.get(t.unit_code or "") if t.unit_code != code else None,
                     "status": task_status(t, ctx.now, soon_on), "days_left": days_left(t.due_on, ctx.now),
                     "reason": reasons.get(t.id)})  # type: ignore[arg-type]
    return render(
        ctx, "unit.html", org=org, owed=[o for o in owed if o["task"].state != TaskState.submitted],
        waiting=[o for o in owed if o["task"].state == TaskState.submitted],
        soon=[o for o in owed if o["status"] in ("soon", "overdue")],
        returned=[o for o in owed if o["task"].state == TaskState.returned],
        to_accept=to_accept, accept_count=accept_count, names=names, reminders=reminders,
        status_labels=STATUS_LABELS, feed_url=None,
        may_feed=ctx.actor.role == Role.office or ctx.actor.org_code == code,
        empty=Cell(),
    )


@router.post("/unit/{code}/calendar", response_class=HTMLResponse)
def create_feed(ctx: PageCtxDep, code: Code) -> HTMLResponse:
    """生成本单位的日历订阅地址（只显示这一次；地址只能读取本单位任务截止日，不能调用接口）。"""
    with db.unit_of_work(ctx.engine) as s:
        org = _visible_org(s, ctx, code)
        if ctx.actor.role != Role.office and ctx.actor.org_code != code:
            raise NotFound(f"单位 {code} 不存在或不在您的权限范围内")
        _, token = issue_calendar_token(s, org.code, now=ctx.now, created_by=ctx.actor.name)
    url = str(ctx.request.base_url).rstrip("/") + f"/calendar/{token}.ics"
    return render(ctx, "feed.html", org=org, feed_url=url)
