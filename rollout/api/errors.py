"""Errors as JSON a clerk can act on: ``{"code": ..., "message": <简体中文>, "field": ...}``.

``RolloutError`` subclasses map to 401/403/404/409/413/415/422; FastAPI's request validation
errors become 422 naming the field in Chinese; Starlette's own HTTP errors (unknown path, wrong
method, malformed body) get a Chinese message too. An unexpected exception is a 500 with a
generic message and the request id (bad input never reaches it).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from rollout.errors import (
    InvalidInput,
    MissingHolidayData,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    PlanError,
    RequirementsPending,
    RolloutError,
    StaleVersion,
    TooLarge,
    TransitionError,
    UnsupportedDocument,
)

log = logging.getLogger("rollout.api")

#: exception type → HTTP status; the first matching entry wins (subclasses first).
STATUS: list[tuple[type[RolloutError], int]] = [
    (NotAuthenticated, 401),
    (PermissionDenied, 403),
    (NotFound, 404),
    (StaleVersion, 409),
    (RequirementsPending, 409),
    (TransitionError, 409),
    (MissingHolidayData, 409),
    (TooLarge, 413),
    (UnsupportedDocument, 415),
    (InvalidInput, 422),
    (PlanError, 422),
]


class ErrorBody(BaseModel):
    """The body of every error response."""

    code: str = Field(description="机器可读的错误代码，如 not_found、stale_version、invalid_input")
    message: str = Field(description="简体中文说明，告诉办理人如何处理")
    field: str | None = Field(default=None, description="出错的字段名（表单或请求体中的名称）")
    waiting_for: list[str] | None = Field(
        default=None, description="需先完成的前置任务 key（code 为 requirements_pending 时）"
    )
    request_id: str | None = Field(default=None, description="请求编号（X-Request-ID），便于查询审计记录")


def _status_of(exc: RolloutError) -> int:
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 409


def error_response(request: Request, status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    """A JSON error response with the request id in the body and the ``X-Request-ID`` header."""
    rid = getattr(request.state, "request_id", None)
    body = ErrorBody(code=code, message=message, request_id=rid, **extra)
    headers = {"X-Request-ID": rid} if rid else None
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers)


_PYDANTIC_ZH: dict[str, str] = {
    "missing": "必须填写",
    "int_parsing": "须为整数",
    "int_type": "须为整数",
    "int_from_float": "须为整数",
    "bool_parsing": "须为 true 或 false",
    "bool_type": "须为 true 或 false",
    "string_type": "须为文本",
    "date_parsing": "须为日期，格式 YYYY-MM-DD",
    "date_from_datetime_parsing": "须为日期，格式 YYYY-MM-DD",
    "date_from_datetime_inexact": "须为日期，格式 YYYY-MM-DD",
    "date_type": "须为日期，格式 YYYY-MM-DD",
    "datetime_parsing": "须为带时区的时间，如 2020-07-01T09:00:00+08:00",
    "datetime_from_date_parsing": "须为带时区的时间，如 2020-07-01T09:00:00+08:00",
    "datetime_type": "须为带时区的时间，如 2020-07-01T09:00:00+08:00",
    "timezone_aware": "须带时区，如 +08:00",
    "json_invalid": "不是有效的 JSON",
    "model_attributes_type": "须为 JSON 对象",
    "dict_type": "须为 JSON 对象",
    "list_type": "须为列表",
    "extra_forbidden": "是未知字段",
    "url_parsing": "须为 http(s) 链接",
    "url_scheme": "须为 http(s) 链接",
}


def _zh(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    if kind in _PYDANTIC_ZH:
        return _PYDANTIC_ZH[kind]
    if kind == "enum" or kind == "literal_error":
        return f"须为以下之一：{ctx.get('expected', '')}"
    if kind in ("greater_than_equal", "greater_than"):
        return f"须不小于 {ctx.get('ge', ctx.get('gt'))}"
    if kind in ("less_than_equal", "less_than"):
        return f"须不大于 {ctx.get('le', ctx.get('lt'))}"
    if kind == "string_too_long":
        return f"不得超过 {ctx.get('max_length')} 个字符"
    if kind == "string_too_short":
        return f"至少 {ctx.get('min_length')} 个字符"
    if kind == "too_long":
        return f"最多 {ctx.get('max_length')} 项"
    if kind == "too_short":
        return f"至少 {ctx.get('min_length')} 项"
    if kind == "string_pattern_mismatch":
        return "格式不正确（不能含控制字符）"
    if kind == "value_error":
        return str(ctx.get("error") or err.get("msg", "")).removeprefix("Value error, ")
    return f"格式不正确（{err.get('msg', kind)}）"


def _field_name(loc: tuple | list) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form")]
    return ".".join(parts) or "body"


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": ("body",), "type": "missing"}
    field = _field_name(first.get("loc", ()))
    messages = [f"字段 {_field_name(e.get('loc', ()))} {_zh(e)}" for e in errors[:5]]
    return error_response(request, 422, "invalid_input", "；".join(messages) or "请求格式不正确",
                          field=field)


async def _rollout(request: Request, exc: RolloutError) -> JSONResponse:
    extra: dict[str, Any] = {}
    if isinstance(exc, InvalidInput) and exc.field:
        extra["field"] = exc.field
    if isinstance(exc, RequirementsPending):
        extra["waiting_for"] = exc.waiting_for
    return error_response(request, _status_of(exc), exc.code, str(exc), **extra)


_HTTP_ZH = {
    400: ("bad_request", "请求格式不正确"),
    401: ("not_authenticated", "需要访问令牌"),
    403: ("permission_denied", "无权访问"),
    404: ("not_found", "没有这个地址"),
    405: ("method_not_allowed", "该地址不支持此请求方法"),
    406: ("not_acceptable", "无法提供所请求的格式"),
    413: ("too_large", "请求体过大"),
    415: ("unsupported_media_type", "不支持的请求内容类型"),
}


async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code, message = _HTTP_ZH.get(exc.status_code, ("http_error", "请求无法处理"))
    status = exc.status_code
    if status == 400:  # Starlette's form parser and body errors: the request body is malformed
        status, code, message = 422, "invalid_input", "请求体无法解析（表单或 JSON 格式错误）"
    return error_response(request, status, code, message)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return error_response(request, 500, "internal_error", "服务器内部错误，请把请求编号告知管理员")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers above on ``app``."""
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(RolloutError, _rollout)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)


#: ``responses=`` for routes: the documented error statuses, all with ``ErrorBody``.
def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI response entries for ``statuses`` (plus 401 and 422, which every route can give)."""
    wanted = sorted({401, 422, *statuses})
    return {s: {"model": ErrorBody, "description": "错误（见 message）"} for s in wanted}
