"""Login and logout pages, and ``/`` (the user's start page).

A successful login starts a server-side session (``rollout.actions.users.open_session``): the
cookie ``rollout_session`` (``HttpOnly``, ``SameSite=Lax``, ``Secure`` over https) holds a random
value whose hash is stored. The login form is protected by a double-submit CSRF cookie.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from rollout import db
from rollout.actions.users import attempt_login, close_session, open_session, session_user
from rollout.api.pages.web import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    PageCtxDep,
    PageRoute,
    csrf_for_anonymous,
    home_of,
    set_cookie,
    templates,
)
from rollout.errors import NotAuthenticated

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site (no scheme, no ``//host``), else None."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


def _login_page(request: Request, *, error: str = "", username: str = "", next_: str = "",
                status: int = 200) -> HTMLResponse:
    token = csrf_for_anonymous(request)
    response = templates.TemplateResponse(
        request, "login.html",
        {"error": error, "username": username, "next": next_, "csrf": token, "user": None,
         "home": "/login"},
        status_code=status,
    )
    set_cookie(request, response, CSRF_COOKIE, token, max_age=None)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> HTMLResponse:  # noqa: A002
    """登录页。已登录的用户直接转到其首页。"""
    state = request.app.state.rollout
    try:
        with db.read_session(state.engine) as session:
            signed = session_user(session, request.cookies.get(SESSION_COOKIE), now=state.clock())
        return RedirectResponse(_safe_next(next) or home_of(signed.actor), status_code=303)  # type: ignore[return-value]
    except NotAuthenticated:
        return _login_page(request, next_=_safe_next(next) or "")


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    username: Annotated[str, Form(max_length=60)],
    password: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=500)] = "",  # noqa: A002
) -> HTMLResponse:
    """核对用户名和密码：成功则建立会话并转到首页；连续失败 5 次起账号暂时锁定，时间逐次加倍。"""
    state = request.app.state.rollout
    now = state.clock()
    with db.unit_of_work(state.engine) as session:
        result = attempt_login(session, username, password, now=now)
        if result.user is not None:
            _, cookie = open_session(session, result.user, now=now, hours=state.settings.web_session_hours)
    if result.user is None:
        return _login_page(request, error=result.error or "", username=username,
                           next_=_safe_next(next) or "", status=429 if result.locked_until else 401)
    response = RedirectResponse(_safe_next(next) or "/", status_code=303)
    set_cookie(request, response, SESSION_COOKIE, cookie,
               max_age=int(state.settings.web_session_hours * 3600))
    return response  # type: ignore[return-value]


@router.post("/logout")
def logout(request: Request, ctx: PageCtxDep) -> RedirectResponse:
    """退出登录：删除会话。"""
    with db.unit_of_work(ctx.engine) as session:
        close_session(session, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
def start(ctx: PageCtxDep) -> RedirectResponse:
    """首页：省政务公开办转到总览，市（州）转到本市页面，其他单位转到本单位页面。"""
    return RedirectResponse(ctx.home(), status_code=303)
