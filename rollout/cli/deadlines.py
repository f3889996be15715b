"""``rollout sweep`` and ``rollout calendar reload``: the deadline sweep and re-projection from
the shell, and the year-end holiday-data warning ``rollout status`` shows."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer

from rollout import db
from rollout.calendar import WorkingCalendar, local_day
from rollout.cli.base import (
    DbOption,
    Format,
    app,
    engine_for,
    err,
    now_local,
    out,
    parse_at,
    working_calendar,
)
from rollout.sweep import DEFAULT_BATCH_SIZE, reproject, sweep_all

calendar_app = typer.Typer(help="节假日数据：变更后重新推算提醒时间", no_args_is_help=True)
app.add_typer(calendar_app, name="calendar")

WARN_FROM_MONTH = 11
"""From November on, ``rollout status`` warns when next year's holiday data is missing (the State
Council usually publishes the next year's arrangement in late October to December)."""


def holiday_data_warning(now: datetime, calendar: WorkingCalendar) -> str | None:
    """The warning ``rollout status`` prints, or None.

    From November of the local year of aware ``now`` on, when ``calendar`` has no data for the
    next year: a message naming the year and the override file to add. Example: at 2026-11-29
    with chinesecalendar covering up to 2026 it warns about 2027; at 2026-10-31 it says nothing.
    Source: issue 3, item 1.
    """
    today = local_day(now)
    nxt = today.year + 1
    if today.month < WARN_FROM_MONTH or calendar.has_year(nxt):
        return None
    return (
        f"警告：尚无{nxt}年节假日数据。请在国务院办公厅公布{nxt}年节假日安排后添加 "
        f"rollout/calendar/holidays/{nxt}.yaml（或 ROLLOUT_HOLIDAY_DIRS 中的 {nxt}.yaml），"
        f"再运行 rollout calendar reload；此前跨入{nxt}年的提醒将等待节假日数据。"
    )


@app.command("sweep")
def sweep_command(
    as_of: Annotated[str | None, typer.Option("--as-of", help="扫描时点，ISO 时间，默认现在")] = None,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="每批任务数")] = DEFAULT_BATCH_SIZE,
    database: DbOption = None,
) -> None:
    """扫描到期任务：写入催办、督办通知（每批一个事务，可重复运行）。"""
    now = parse_at(as_of) if as_of else now_local()
    engine = engine_for(database)
    calendar = working_calendar()
    total = sweep_all(lambda: db.unit_of_work(engine), now, calendar, batch_size=batch_size)
    data = {"as_of": now.isoformat(), **total.as_json()}
    if fmt == Format.json:
        out.print_json(json.dumps(data, ensure_ascii=False))
        return
    out.print(
        f"扫描 {now:%Y-%m-%d %H:%M %Z}：新通知 {total.created} 条，跳过 {total.skipped} 条，"
        f"涉及任务 {total.tasks} 项，{total.batches} 批"
    )
    if total.changed_concurrently:
        out.print(f"{total.changed_concurrently} 项任务在扫描期间已被他人更新，本次未发通知")
    if total.waiting_for_holiday_data:
        keys = sorted(total.waiting_for_holiday_data)
        shown = "、".join(keys[:5]) + (f" 等{len(keys)}项" if len(keys) > 5 else "")
        err.print(f"等待节假日数据的任务：{shown}", style="yellow", markup=False)


@calendar_app.command("reload")
def calendar_reload(database: DbOption = None) -> None:
    """节假日数据变更后，重新推算所有未完成任务的下次提醒时间，并记录变动。"""
    with db.unit_of_work(engine_for(database)) as session:
        report = reproject(session, working_calendar(), now_local())
    out.print(f"已重新推算 {report.examined} 项未完成任务，提醒时间变动 {report.moved} 项")
    if report.waiting_for_holiday_data:
        n = len(report.waiting_for_holiday_data)
        err.print(f"{n} 项任务等待节假日数据", style="yellow", markup=False)
