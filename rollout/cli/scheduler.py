"""``rollout scheduler``: the embedded scheduler in the foreground (issue 3, item 6)."""

from __future__ import annotations

import logging
import signal
import threading

import sqlalchemy as sa

from rollout.cli.base import DbOption, app, engine_for, out
from rollout.errors import RolloutError
from rollout.settings import get_settings


@app.command("scheduler")
def scheduler_command(database: DbOption = None) -> None:
    """在前台运行内置调度器（每日 09:00 扫描到期任务，每分钟发送通知），Ctrl-C 停止。

    多个进程同时运行时，同一作业同一时刻只由一个进程执行（数据库租约）。
    """
    from rollout import scheduling

    url = database or get_settings().database_url
    engine = engine_for(url)
    if not sa.inspect(engine).has_table("joblease"):
        raise RolloutError("数据库尚未初始化：先运行 rollout init", code="db_not_migrated")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    scheduler = scheduling.start_scheduler(url)
    try:
        for job in scheduler.get_jobs():
            when = job.next_run_time.isoformat(timespec="seconds") if job.next_run_time else "—"
            out.print(f"作业 {job.name}：下次运行 {when}", markup=False, highlight=False)
        out.print("调度器已启动，按 Ctrl-C 停止", markup=False)
        while not stop.wait(1):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        scheduling.stop_scheduler()
    out.print("调度器已停止", markup=False)
