"""``rollout serve``: the HTTP API and pages under uvicorn, with the embedded scheduler; and
``--demo``, which first fills an empty database with a simulated year of the Jilin plan."""

from __future__ import annotations

import os
from datetime import date, datetime, time
from typing import Annotated

import sqlalchemy as sa
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlmodel import select

from rollout import db
from rollout.actions.users import create_user
from rollout.calendar import TZ, at_local
from rollout.cli.base import DbOption, app, engine_for, err, out, parse_day, working_calendar
from rollout.demo import DemoProgress
from rollout.errors import RolloutError
from rollout.models import Plan
from rollout.notifications.dispatch import DispatchConfig
from rollout.plans.fanout import instantiate_plan
from rollout.plans.schema import BUNDLED_PLAN
from rollout.settings import get_settings
from rollout.simulation import simulate

DEMO_DATABASE_URL = "sqlite:///rollout-demo.db"
DEMO_PASSWORD = "demo-2020"
#: (username, organization code, what the login shows)
DEMO_USERS = [
    ("demo-office", "220000.office", "省政务公开办：全省进度、验收、导出考核表"),
    ("demo-changchun", "220100", "长春市：复核签署所辖县（市、区）目录"),
    ("demo-nanguan", "220102", "南关区：本区26个领域的任务"),
    ("demo-minzheng", "220000.dept.civil_affairs", "省民政厅：社会救助、养老服务"),
]
PLAN_LOADED_AT = datetime(2020, 3, 19, 9, 0, tzinfo=TZ)  # the notice was published 2020-03-19


def prepare_demo(url: str, as_of: date) -> bool:
    """Fill an empty database at ``url`` with the demo: the Jilin plan, the demo logins, and the
    year simulated with seeded progress from 2020-03-20 to ``as_of`` (reminders and escalations in
    the outbox; no SMTP). Returns False, changing nothing, when the database already has a plan."""
    engine = engine_for(url)
    db.migrate(engine)
    with db.read_session(engine) as session:
        if session.exec(select(Plan)).first() is not None:
            return False
    calendar = working_calendar()
    with db.unit_of_work(engine) as session:
        instantiate_plan(session, BUNDLED_PLAN, now=PLAN_LOADED_AT, calendar=calendar)
        for username, org, _ in DEMO_USERS:
            create_user(session, org, username, DEMO_PASSWORD, now=PLAN_LOADED_AT,
                        display_name=username.removeprefix("demo-"))
    start = date(2020, 3, 20)
    with Progress(TextColumn("模拟 {task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as bar:
        job = bar.add_task("", total=(as_of - start).days + 1)
        simulate(engine, start, as_of, calendar=calendar, config=DispatchConfig(),
                 on_day=DemoProgress(calendar),
                 progress=lambda d: bar.update(job, advance=1, description=d.isoformat()))
    return True


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option("--host", help="监听地址")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="端口")] = 8000,
    scheduler: Annotated[bool, typer.Option("--scheduler/--no-scheduler", help="同时运行内置调度器（扫描、发送通知）")] = True,
    demo: Annotated[bool, typer.Option("--demo", help="演示：空库时载入吉林方案并模拟到 --as-of，时钟停在该日")] = False,
    as_of: Annotated[str, typer.Option("--as-of", help="演示日期 YYYY-MM-DD（仅 --demo）")] = "2020-09-15",
    database: DbOption = None,
) -> None:
    """运行接口服务和网页（uvicorn），默认同时启动内置调度器。"""
    import uvicorn

    url = database or (DEMO_DATABASE_URL if demo else get_settings().database_url)
    if demo:
        day = parse_day(as_of)
        if prepare_demo(url, day):
            out.print(f"已载入演示数据（模拟至 {day}）：{url}", markup=False, highlight=False)
        os.environ["ROLLOUT_FROZEN_NOW"] = at_local(day, time(10, 0)).isoformat()
        scheduler = False  # the demo's clock is stopped; a real-time sweep would not fit it
    elif not sa.inspect(engine_for(url)).has_table("apitoken"):
        raise RolloutError("数据库尚未初始化：先运行 rollout init", code="db_not_migrated")
    # The app is built by uvicorn from its import string (cli and api are sibling layers);
    # it reads the database URL from the environment like any other setting.
    os.environ["ROLLOUT_DATABASE_URL"] = url
    get_settings.cache_clear()
    # --- the one call site of the embedded scheduler (rollout.scheduling) ---
    running = None
    if scheduler:
        from rollout import scheduling

        running = scheduling.start_scheduler(url)
    try:
        out.print(f"网页 http://{host}:{port}/    接口文档 http://{host}:{port}/docs",
                  markup=False, highlight=False)
        if demo:
            out.print(f"演示账号（密码均为 {DEMO_PASSWORD}）：", markup=False)
            for username, _, what in DEMO_USERS:
                out.print(f"  {username:<16} {what}", markup=False, highlight=False)
        uvicorn.run("rollout.api.app:create_app", factory=True, host=host, port=port)
    finally:
        if running is not None:
            scheduling.stop_scheduler()
