"""``rollout workdays ...``: the working-day calendar from the shell."""

from __future__ import annotations

from typing import Annotated

import typer

from rollout.cli.base import app, out, parse_day, working_calendar

workdays_app = typer.Typer(help="工作日计算（含法定节假日与调休）", no_args_is_help=True)
app.add_typer(workdays_app, name="workdays")


@workdays_app.command("add", context_settings={"ignore_unknown_options": True})
def workdays_add(
    day: Annotated[str, typer.Argument(help="起始日 YYYY-MM-DD")],
    n: Annotated[int, typer.Argument(help="工作日数，可为负")],
) -> None:
    """DAY 之后（n<0 为之前）第 N 个工作日。"""
    out.print(working_calendar().add_working_days(parse_day(day), n).isoformat())


@workdays_app.command("is")
def workdays_is(day: Annotated[str, typer.Argument(help="日期 YYYY-MM-DD")]) -> None:
    """DAY 是否为工作日（yes/no）及节假日名称。"""
    cal = working_calendar()
    d = parse_day(day)
    name = cal.holiday_name(d)
    answer = "yes" if cal.is_working_day(d) else "no"
    out.print(f"{answer} {name}" if name else answer)


