"""``rollout init``, ``status`` and ``orgs``: load a plan, see its progress, list the registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlmodel import select

from rollout import db
from rollout.cli.base import (
    DbOption,
    Format,
    app,
    engine_for,
    err,
    find_plan,
    now_local,
    out,
    parse_at,
    working_calendar,
)
from rollout.cli.deadlines import holiday_data_warning
from rollout.models import ORG_KIND_LABELS, Organization, OrgKind
from rollout.plans.fanout import instantiate_plan
from rollout.plans.registry import find_org
from rollout.plans.schema import BUNDLED_PLAN
from rollout.progress import city_units, plan_progress


@app.command()
def init(
    plan: Annotated[Path, typer.Option("--plan", help="计划文件（YAML）")] = BUNDLED_PLAN,
    database: DbOption = None,
) -> None:
    """载入实施方案：建立机构名录、进度节点，并为每个责任单位生成任务（可重复运行）。"""
    engine = engine_for(database)
    db.migrate(engine)
    with Progress(
        TextColumn("生成任务"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, transient=True,
    ) as bar:
        job = bar.add_task("tasks", total=None)
        with db.unit_of_work(engine) as session:
            report = instantiate_plan(
                session, plan, now=now_local(), calendar=working_calendar(),
                progress=lambda n: bar.advance(job, n),
            )
    table = Table()
    table.add_column("进度节点")
    table.add_column("任务数", justify="right")
    for key, n in report.tasks.items():
        table.add_row(key, str(n))
    table.add_row("合计", str(report.total))
    out.print(table)
    out.print(
        f"计划 {report.plan_key}：任务共 {report.total}，新建 {report.created}，"
        f"调整截止日 {report.moved}",
        soft_wrap=True,
    )


@app.command()
def status(
    as_of: Annotated[str | None, typer.Option("--as-of", help="统计时点，ISO 时间，默认现在")] = None,
    city: Annotated[str | None, typer.Option("--city", help="只看某市（州）：名称或代码")] = None,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
    plan_key: Annotated[str | None, typer.Option("--plan", help="计划 key，默认最近载入的")] = None,
    database: DbOption = None,
) -> None:
    """各进度节点的任务数：总数、已完成、已提交待验收、未完成、逾期。"""
    when = parse_at(as_of) if as_of else now_local()
    with db.read_session(engine_for(database)) as session:
        plan = find_plan(session, plan_key)
        units = None
        if city:
            units = city_units(session, find_org(session, city, OrgKind.city))
        rows = plan_progress(session, plan, when, units)
    warning = holiday_data_warning(when, working_calendar())
    if warning:
        err.print(warning, style="yellow", markup=False, highlight=False)
    if fmt == Format.json:
        out.print_json(
            json.dumps(
                {"as_of": when.isoformat(), "plan": plan.key, "city": city,
                 "holiday_data_warning": warning,
                 "milestones": [r.as_json() for r in rows]},
                ensure_ascii=False,
            )
        )
        return
    table = Table(title=f"{plan.title}（截至 {when:%Y-%m-%d %H:%M %Z}）")
    for head in ("key", "进度节点", "截止", "总数", "已完成", "已提交", "未完成", "逾期", "待节假日数据"):
        table.add_column(head, justify="left" if head in ("key", "进度节点", "截止") else "right")
    for r in rows:
        table.add_row(r.key, r.title[:16], r.due.isoformat(), *map(str, (r.total, r.done, r.submitted, r.open, r.overdue, r.waiting_for_holiday_data)))
    out.print(table)


@app.command()
def orgs(
    kind: Annotated[OrgKind | None, typer.Option("--kind", help="机构层级")] = None,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
    database: DbOption = None,
) -> None:
    """列出机构名录：代码、名称、层级、上级代码。"""
    with db.read_session(engine_for(database)) as session:
        q = select(Organization).order_by(Organization.kind, Organization.code)
        if kind:
            q = q.where(Organization.kind == kind)
        rows = session.exec(q).all()
    if fmt == Format.json:
        data = [
            {"code": o.code, "name": o.name, "kind": o.kind.value, "parent_code": o.parent_code}
            for o in rows
        ]
        out.print_json(json.dumps(data, ensure_ascii=False))
        return
    table = Table(title=f"机构名录（{len(rows)}）")
    for head in ("代码", "名称", "层级", "上级代码"):
        table.add_column(head)
    for o in rows:
        table.add_row(o.code, o.name, ORG_KIND_LABELS[o.kind], o.parent_code or "")
    out.print(table)


