"""Shared pieces of the command line: the typer apps, consoles, options and parsers.

Every command that writes opens one unit of work; a ``RolloutError`` is printed as a message a
clerk can act on and exits non-zero, with nothing half-written.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from sqlmodel import Session, col, select

from rollout import db
from rollout.calendar import TZ, WorkingCalendar
from rollout.errors import RolloutError
from rollout.models import (
    Plan,
)
from rollout.settings import get_settings

app = typer.Typer(help="rollout：政务公开实施方案进度跟踪", no_args_is_help=True, add_completion=False)
#: ``rollout flow ...``: run a Prefect flow once from the shell (each flow module adds its command).
flow_app = typer.Typer(help="运行 Prefect 流程（编目检查等）", no_args_is_help=True)
app.add_typer(flow_app, name="flow")

out = Console()
err = Console(stderr=True)

DbOption = Annotated[
    str | None, typer.Option("--db", help="数据库 URL（默认 ROLLOUT_DATABASE_URL，或 sqlite:///rollout.db）")
]


class Format(StrEnum):
    table = "table"
    json = "json"


def engine_for(url: str | None):
    """The engine of ``--db`` or of the ``ROLLOUT_DATABASE_URL`` setting."""
    return db.get_engine(url or get_settings().database_url)


def working_calendar() -> WorkingCalendar:
    """The working-day calendar with the configured holiday override folders."""
    return WorkingCalendar(get_settings().holiday_dirs)


def parse_at(text: str) -> datetime:
    """An aware datetime from ISO text; a value without offset is Asia/Shanghai local time, a bare
    date is its local midnight. Raises ``typer.BadParameter`` with an example."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"'{text}' 不是时间，例：2020-07-02T00:00+08:00") from exc
    return value if value.tzinfo else value.replace(tzinfo=TZ)


def parse_day(text: str) -> date:
    """A date from ``YYYY-MM-DD``; raises ``typer.BadParameter`` naming the value."""
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"'{text}' 不是日期，格式 YYYY-MM-DD") from exc


def now_local() -> datetime:
    """The current time, aware, in Asia/Shanghai."""
    return datetime.now(TZ)


def find_plan(session: Session, key: str | None) -> Plan:
    """The plan with ``key``, else the most recently loaded one; ``RolloutError`` if none."""
    q = select(Plan)
    if key:
        q = q.where(Plan.key == key)
    plan = session.exec(q.order_by(col(Plan.id).desc())).first()
    if plan is None:
        raise RolloutError(f"没有计划 {key or ''}：先运行 rollout init", code="no_plan")
    return plan


