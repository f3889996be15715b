"""``rollout serve``: the HTTP API under uvicorn, with the embedded scheduler."""

from __future__ import annotations

import os
from typing import Annotated

import sqlalchemy as sa
import typer

from rollout.cli.base import DbOption, app, engine_for, out
from rollout.errors import RolloutError
from rollout.settings import get_settings


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option("--host", help="监听地址")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="端口")] = 8000,
    scheduler: Annotated[bool, typer.Option("--scheduler/--no-scheduler", help="同时运行内置调度器（扫描、发送通知）")] = True,
    database: DbOption = None,
) -> None:
    """运行接口服务（uvicorn），默认同时启动内置调度器。"""
    import uvicorn

    url = database or get_settings().database_url
    if not sa.inspect(engine_for(url)).has_table("apitoken"):
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
        out.print(f"接口服务 http://{host}:{port}/docs", markup=False, highlight=False)
        uvicorn.run("rollout.api.app:create_app", factory=True, host=host, port=port)
    finally:
        if running is not None:
            scheduling.stop_scheduler()
