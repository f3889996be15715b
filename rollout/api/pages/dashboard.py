"""The provincial dashboard (省政务公开办): timeline, matrix, charts, overdue list, the county
drill-down (county × 26 domains) and the assessment download.

Each covers the office's own province (``rollout.actions.scope``): in a registry of several
provinces, 吉林's office sees and scores 吉林's cities, counties and departments only."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import HTMLResponse
from sqlmodel import col, select

from rollout import db
from rollout.actions.scope import current_plan, owned_among, province_units, scope_condition
from rollout.api.pages.board import (
    STATUS_LABELS,
    STATUS_ORDER,
    Cell,
    cities_and_counties,
    city_columns,
    county_columns,
    load_board,
    overdue_tasks,
    soon_limit,
    task_status,
)
from rollout.api.pages.charts import (
    CityShare,
    cities_svg,
    completion_svg,
    delivered_by_day,
    timeline_svg,
)
from rollout.api.pages.web import PageCtx, PageCtxDep, PageRoute, render
from rollout.calendar import TZ
from rollout.errors import NotFound, PermissionDenied
from rollout.exports import ExportFormat, assessment_export
from rollout.models import Domain, Milestone, Organization, OrgKind, TrackedTask
from rollout.workflow import Role

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _office_only(ctx: PageCtx) -> None:
    if ctx.actor.role != Role.office:
        raise PermissionDenied("总览仅供省政务公开办使用")


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(ctx: PageCtxDep) -> HTMLResponse:
    """全省总览：进度节点时间线、市（州）→县（市、区）× 进度节点矩阵、完成情况图表、逾期清单（本省）。"""
    _office_only(ctx)
    today = ctx.now.astimezone(TZ).date()
    with db.read_session(ctx.engine) as s:
        plan = current_plan(s)
        units = province_units(s, ctx.actor.org_code)
        board = load_board(s, plan, ctx.now, ctx.calendar, units=units)
        cities = cities_and_counties(s, units=units)
        late_total, late = overdue_tasks(s, plan, ctx.now, ctx.calendar, units=units)
        daily = delivered_by_day(s, plan, owned_among(units))
    shares = []
    for city, counties in cities:
        c = Cell()
        for m in board.milestones:
            c.add(board.city_cell(city.code, m.key, [u.code for u in counties]))
        shares.append(CityShare(city.code, city.name, c.done, c.submitted, c.overdue, c.total))
    start = plan.issued_on or min(m.due_on for m in board.milestones) - timedelta(days=30)
    charts = [completion_svg(m, board.by_milestone.get(m.key, Cell()).total, daily.get(m.key, []),
                             today, start) for m in board.milestones]
    return render(
        ctx, "dashboard.html", plan=plan, board=board, cities=cities,
        county_cols=county_columns(board), city_cols=city_columns(board),
        timeline=timeline_svg(board.milestones, board.by_milestone, today),
        completion=charts, cities_chart=cities_svg(shares), late_total=late_total, late=late,
        status_order=STATUS_ORDER, status_labels=STATUS_LABELS, totals=board.by_milestone,
        soon_on=soon_limit(today, ctx.calendar),
    )


@router.get("/dashboard/county/{code}", response_class=HTMLResponse)
def county(ctx: PageCtxDep, code: Annotated[str, Path(max_length=40)]) -> HTMLResponse:
    """县（市、区）× 26 个领域：每个领域各节点任务的状态（可点开任务）。"""
    today = ctx.now.astimezone(TZ).date()
    with db.read_session(ctx.engine) as s:
        org = s.get(Organization, code)
        if org is None or org.kind != OrgKind.county:
            raise NotFound(f"县（市、区）{code} 不存在")
        plan = current_plan(s)
        q = (select(TrackedTask, Milestone).join(Milestone, col(Milestone.id) == TrackedTask.milestone_id)
             .where(TrackedTask.plan_id == plan.id, TrackedTask.unit_code == code))
        cond = scope_condition(s, ctx.actor)
        if cond is not None:
            q = q.where(cond)
        rows = s.exec(q).all()
        if not rows:
            raise NotFound(f"县（市、区）{code} 不存在或不在您的权限范围内")
        domains = list(s.exec(select(Domain).order_by(col(Domain.position))))
        milestones = list(s.exec(select(Milestone).where(Milestone.plan_id == plan.id)
                                 .order_by(col(Milestone.position))))
        city = s.get(Organization, org.parent_code) if org.parent_code else None
    soon_on = soon_limit(today, ctx.calendar)
    grid = {(t.domain_key, m.key): (t, task_status(t, ctx.now, soon_on)) for t, m in rows}
    cols = [m for m in milestones if {"county", "domain"} <= set(m.over_dims)]
    single = [(m, grid.get((None, m.key))) for m in milestones
              if "county" in m.over_dims and "domain" not in m.over_dims]
    return render(ctx, "county.html", org=org, city=city, domains=domains, cols=cols, grid=grid,
                  single=single, status_labels=STATUS_LABELS, status_order=STATUS_ORDER)


@router.get("/dashboard/assessment")
def assessment(
    ctx: PageCtxDep,
    format: Annotated[ExportFormat, Query(description="xlsx 或 csv")] = ExportFormat.xlsx,  # noqa: A002
) -> Response:
    """下载绩效考核表（截至当前时间，本省）：XLSX（汇总、明细、评分说明）或 CSV（汇总，UTF-8 BOM）。"""
    _office_only(ctx)
    with db.read_session(ctx.engine) as s:
        plan = current_plan(s)
        file = assessment_export(s, plan, ctx.now, ctx.calendar, format,
                                 where=scope_condition(s, ctx.actor))
    ascii_name = f"assessment_{plan.key}.{format.value}"
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(file.filename)}"
    return Response(file.content, media_type=file.media_type,
                    headers={"Content-Disposition": disposition, "Cache-Control": "no-store"})
