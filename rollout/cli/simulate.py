"""``rollout simulate``: replay the plan day by day (sweep and dispatch at 09:00 each working day)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rollout.cli.base import (
    DbOption,
    Format,
    app,
    engine_for,
    err,
    out,
    parse_day,
    working_calendar,
)
from rollout.notifications.dispatch import DispatchConfig
from rollout.settings import get_settings
from rollout.simulation import simulate


@app.command("simulate")
def simulate_command(
    start: Annotated[str, typer.Option("--from", help="开始日 YYYY-MM-DD")],
    end: Annotated[str, typer.Option("--to", help="结束日 YYYY-MM-DD（含）")],
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
    database: DbOption = None,
) -> None:
    """按日回放：每个工作日 09:00 运行催办扫描并发送发件箱（无人办理任务）。"""
    first, last = parse_day(start), parse_day(end)
    if last < first:
        raise typer.BadParameter(f"结束日 {last} 早于开始日 {first}", param_hint="--to")
    days = (last - first).days + 1
    with Progress(
        TextColumn("模拟 {task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=err, transient=True,
    ) as bar:
        job = bar.add_task("", total=days)
        report = simulate(
            engine_for(database), first, last, calendar=working_calendar(),
            config=DispatchConfig.from_settings(get_settings()),
            progress=lambda d: bar.update(job, advance=1, description=d.isoformat()),
        )
    rows = [
        {"day": d.day.isoformat(), "created": d.created, "skipped": d.skipped, "sent": d.sent,
         "waiting_without_smtp": d.waiting_without_smtp}
        for d in report.days
    ]
    if fmt == Format.json:
        out.print_json(json.dumps({"from": start, "to": end, "days": rows}, ensure_ascii=False))
        return
    out.print(
        f"{first}～{last}：{len(rows)} 个工作日，新建通知 {report.created} 条，发出邮件 {report.sent} 封",
        soft_wrap=True,
    )
