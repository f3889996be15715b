"""The FastAPI application: ``create_app(settings | database_url)``.

Every response carries ``X-Request-ID`` (the client's, when it sent a sane one, else a new
UUID); the audit events of a request record it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime

from fastapi import FastAPI, Request

from rollout import db
from rollout.api.deps import AppState
from rollout.api.errors import install_error_handlers
from rollout.api.pages import install_pages
from rollout.api.routers import audit, contacts, extensions, filings, reviews, tasks
from rollout.api.uploads import FileStore
from rollout.calendar import TZ, WorkingCalendar
from rollout.settings import Settings

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

DESCRIPTION = """\
政务公开实施方案进度跟踪接口：各单位备案、市（州）复核签署、任务办理、延期申请、联络人、审计记录。

- 认证：`Authorization: Bearer <令牌>`（`rollout token create --org 代码 --role 角色` 生成）。
- 日期字段（`*_on`）为 Asia/Shanghai 本地日期 `YYYY-MM-DD`；`*_at` 为带时区的 ISO 8601 时间。
- 错误：JSON `{"code": ..., "message": 简体中文说明}`；别的单位的任务一律 404。
"""


def _system_clock() -> datetime:
    return datetime.now(TZ)


def _frozen_clock(at: datetime) -> Callable[[], datetime]:
    """A clock stopped at ``at`` (the demo's "today"); a naive value is Asia/Shanghai time."""
    fixed = at if at.tzinfo else at.replace(tzinfo=TZ)
    return lambda: fixed


def create_app(
    settings: Settings | str | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
    calendar: WorkingCalendar | None = None,
) -> FastAPI:
    """The API app over ``settings`` (or a database URL; None: settings from the environment).

    ``clock``: returns the current aware time (tests pass a fixed or movable one); default the
    system clock in Asia/Shanghai, or stopped at ``settings.frozen_now`` (``rollout serve --demo``).
    ``calendar``: default one over the configured holiday folders.
    The app does not migrate the database and starts no scheduler.
    """
    if settings is None:
        settings = Settings()
    elif isinstance(settings, str):
        settings = Settings(database_url=settings)
    app = FastAPI(
        title="rollout 接口",
        version="1",
        description=DESCRIPTION,
        openapi_tags=[
            {"name": "任务", "description": "查看与办理任务"},
            {"name": "备案", "description": "中省直部门、市（州）备案"},
            {"name": "复核", "description": "市（州）复核签署县（市、区）目录"},
            {"name": "延期", "description": "延期申请与审批"},
            {"name": "联络人", "description": "各单位联络人"},
            {"name": "审计", "description": "办理留痕（仅省政务公开办）"},
        ],
    )
    app.state.rollout = AppState(
        settings=settings,
        engine=db.get_engine(settings.database_url),
        calendar=calendar or WorkingCalendar(settings.holiday_dirs),
        clock=clock or (_frozen_clock(settings.frozen_now) if settings.frozen_now else _system_clock),
        files=FileStore(settings.file_store_dir),
    )

    @app.middleware("http")
    async def request_id(request: Request, call_next):
        given = request.headers.get("x-request-id", "")
        rid = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        request.state.request_id = rid
        response = await call_next(request)
        response.headers["X-Request-ID"] = rid
        return response

    install_error_handlers(app)
    for module in (tasks, filings, reviews, extensions, contacts, audit):
        app.include_router(module.router)
    install_pages(app)
    return app
