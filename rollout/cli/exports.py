"""``rollout export assessment|ics``: the assessment table (XLSX/CSV) and a unit's calendar feed.

Files are written to a temporary name next to the target and renamed into place, so a failed
export leaves no half-written file.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rollout import db
from rollout.actions.scope import owned_among, province_units
from rollout.calendar import end_of_day_at
from rollout.cli.base import (
    DbOption,
    app,
    engine_for,
    err,
    find_plan,
    now_local,
    out,
    parse_at,
    parse_day,
    working_calendar,
)
from rollout.exports import ExportFormat, assessment_export, calendar_feed, task_count
from rollout.plans.registry import find_org, office_of

export_app = typer.Typer(help="导出绩效考核表、任务日历", no_args_is_help=True)
app.add_typer(export_app, name="export")

PlanOption = Annotated[str | None, typer.Option("--plan", help="计划 key，默认最近载入的")]
OutOption = Annotated[Path | None, typer.Option("--out", help="输出文件，默认当前目录下自动命名")]


def _as_of(text: str | None) -> datetime:
    """``--as-of``: a bare date means the end of that local day; a time is taken as given."""
    if text is None:
        return now_local()
    if len(text) == 10:
        return end_of_day_at(parse_day(text))
    return parse_at(text)


def _write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@export_app.command("assessment")
def export_assessment(
    fmt: Annotated[ExportFormat, typer.Option("--format", help="xlsx 或 csv")] = ExportFormat.xlsx,
    out_path: OutOption = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="统计时点：日期（当日结束时）或 ISO 时间，默认现在"),
    ] = None,
    detail: Annotated[bool, typer.Option("--detail", help="CSV 输出逐项明细而非汇总")] = False,
    province: Annotated[
        str | None,
        typer.Option("--province", help="只统计这个省的单位（省级代码，如 220000），默认全部"),
    ] = None,
    plan_key: PlanOption = None,
    database: DbOption = None,
) -> None:
    """导出绩效考核表（方案 五(四)）：各市（州）、县（市、区）、中省直部门的按时、逾期、退回与得分。"""
    when = _as_of(as_of)
    with db.read_session(engine_for(database)) as session:
        plan = find_plan(session, plan_key)
        where = None if province is None else owned_among(
            province_units(session, office_of(session, province).code))
        total = task_count(session, plan, where)
        with Progress(
            TextColumn("导出绩效考核表"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=err, transient=True,
        ) as bar:
            steps = total * (2 if fmt == ExportFormat.xlsx else 1)
            job = bar.add_task("export", total=steps)
            result = assessment_export(
                session, plan, when, working_calendar(), fmt, detail=detail,
                progress=lambda n: bar.advance(job, n), where=where,
            )
    target = out_path or Path(result.filename)
    _write(target, result.content)
    out.print(f"已导出：{target}（{len(result.content):,} 字节，统计时点 {when:%Y-%m-%d %H:%M}）",
              soft_wrap=True, highlight=False)


@export_app.command("ics")
def export_ics(
    org: Annotated[str, typer.Option("--org", help="单位代码或名称")],
    out_path: OutOption = None,
    plan_key: PlanOption = None,
    database: DbOption = None,
) -> None:
    """导出某单位的任务日历（iCalendar，可导入 Outlook 或手机日历）。"""
    with db.read_session(engine_for(database)) as session:
        plan = find_plan(session, plan_key)
        unit = find_org(session, org)
        content = calendar_feed(session, unit.code, plan, working_calendar(), now_local())
    target = out_path or Path(f"{unit.code}.ics")
    _write(target, content)
    events = content.count(b"BEGIN:VEVENT")
    out.print(f"已导出：{target}（{unit.name}，{events} 项任务）", soft_wrap=True, highlight=False)
    if not events:
        err.print("提示：该单位在此计划中没有任务", style="yellow")
