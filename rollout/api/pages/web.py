"""What every page shares: the templates (found by package path), the signed-in user of a
request, the CSRF check of every POST, and HTML error pages.

- ``PageRoute``: the route class of every page router. Before a POST handler runs it reads the
  form (multipart with the upload limits of ``rollout.api.uploads``) and compares its
  ``csrf_token`` field with the session's token (signed in) or the ``rollout_csrf`` cookie
  (the login form: double submit); a mismatch is a 403 page and the handler never runs.
  ``NotAuthenticated`` becomes a redirect to ``/login``; other ``RolloutError``s an HTML page with
  the API's status for that error.
- ``page_ctx``: the dependency giving a handler its ``PageCtx`` (who, when, the app state).
- ``render``: a template response with the common context (user, CSRF token, labels).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import quote

import jinja2
import sqlalchemy as sa
from fastapi import Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from rollout import db
from rollout.actions.users import SignedIn, session_user
from rollout.api.deps import AppState
from rollout.api.errors import STATUS
from rollout.api.uploads import read_form
from rollout.calendar import TZ, WorkingCalendar
from rollout.errors import NotAuthenticated, PermissionDenied, RolloutError
from rollout.models import ORG_KIND_LABELS, OUTBOX_STATUS_LABELS, TASK_STATE_LABELS
from rollout.workflow import ACTION_LABELS, ROLE_LABELS, Actor, Role

SESSION_COOKIE = "rollout_session"
CSRF_COOKIE = "rollout_csrf"
CSRF_FIELD = "csrf_token"


def _cn_day(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(TZ).date()
    return f"{value.year}年{value.month}月{value.day}日"


def _local_time(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(TZ).strftime("%Y-%m-%d %H:%M")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("rollout.api", "templates"),
        autoescape=jinja2.select_autoescape(["html", "xml", "svg"]),
        trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
    )
    env.filters["cn_day"] = _cn_day
    env.filters["local_time"] = _local_time
    env.globals.update(
        STATE_LABELS={k.value: v for k, v in TASK_STATE_LABELS.items()},
        ACTION_LABELS={k.value: v for k, v in ACTION_LABELS.items()},
        ROLE_LABELS={k.value: v for k, v in ROLE_LABELS.items()},
        ORG_KIND_LABELS={k.value: v for k, v in ORG_KIND_LABELS.items()},
        OUTBOX_LABELS={k.value: v for k, v in OUTBOX_STATUS_LABELS.items()},
    )
    return env


templates = Jinja2Templates(env=_environment())


class CsrfFailed(PermissionDenied):
    """A POST whose ``csrf_token`` field is missing or does not match (403)."""

    code = "csrf_failed"


@dataclass(frozen=True)
class PageCtx:
    """One page request: the signed-in user (``signed``), ``now`` (aware) and the app state."""

    request: Request
    signed: SignedIn
    now: datetime
    state: AppState

    @property
    def actor(self) -> Actor:
        """Who acts: the signed-in user for their organization, in its role."""
        return self.signed.actor

    @property
    def engine(self) -> sa.Engine:
        """The app's database engine."""
        return self.state.engine

    @property
    def calendar(self) -> WorkingCalendar:
        """The app's working-day calendar."""
        return self.state.calendar

    @property
    def request_id(self) -> str:
        """The request's id (``X-Request-ID``), recorded in audit events."""
        return getattr(self.request.state, "request_id", "")

    def home(self) -> str:
        """The user's start page: the dashboard (office), the city page, else the unit page."""
        return home_of(self.actor)


def home_of(actor: Actor) -> str:
    """Start page path of ``actor``'s role."""
    if actor.role == Role.office:
        return "/dashboard"
    if actor.role == Role.city:
        return f"/city/{quote(actor.org_code)}"
    return f"/unit/{quote(actor.org_code)}"


def _state(request: Request) -> AppState:
    return request.app.state.rollout


def signed_in(request: Request) -> SignedIn:
    """The request's signed-in user (looked up once per request); ``NotAuthenticated`` if none."""
    cached = getattr(request.state, "signed", None)
    if cached is not None:
        return cached
    state = _state(request)
    with db.read_session(state.engine) as session:
        signed = session_user(session, request.cookies.get(SESSION_COOKIE), now=state.clock())
    request.state.signed = signed
    return signed


def page_ctx(request: Request) -> PageCtx:
    """Dependency: the ``PageCtx`` of a signed-in request (else a redirect to the login page)."""
    state = _state(request)
    return PageCtx(request=request, signed=signed_in(request), now=state.clock(), state=state)


PageCtxDep = Annotated[PageCtx, Depends(page_ctx)]


def csrf_for_anonymous(request: Request) -> str:
    """The double-submit token of a visitor not signed in: the ``rollout_csrf`` cookie's value,
    or a new one (``set_csrf_cookie`` must then put it on the response)."""
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)


def cookie_secure(request: Request) -> bool:
    """Whether cookies get ``Secure``: the ``web_cookie_secure`` setting, else https requests."""
    configured = _state(request).settings.web_cookie_secure
    return request.url.scheme == "https" if configured is None else configured


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int | None) -> None:
    """Set a cookie ``HttpOnly``, ``SameSite=Lax``, path ``/``, ``Secure`` per ``cookie_secure``."""
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="lax",
                        secure=cookie_secure(request))


async def check_csrf(request: Request) -> None:
    """Read the POST's form and compare its ``csrf_token`` (constant time); ``CsrfFailed`` else."""
    ctype = request.headers.get("content-type", "").lower()
    if ctype.startswith("multipart/form-data"):
        form = await read_form(request, _state(request).settings)
    elif ctype.startswith("application/x-www-form-urlencoded"):
        form = await request.form()
    else:
        raise CsrfFailed("请通过页面上的表单提交")
    given = form.get(CSRF_FIELD)
    try:
        expected = (await run_in_threadpool(signed_in, request)).csrf_token
    except NotAuthenticated:
        expected = request.cookies.get(CSRF_COOKIE) or ""
    if not isinstance(given, str) or not expected or not hmac.compare_digest(given, expected):
        raise CsrfFailed("表单已失效或来源不明（防伪令牌不符），请刷新页面后重新提交")


def status_of(exc: RolloutError) -> int:
    """The HTTP status the API gives ``exc`` (``rollout.api.errors.STATUS``), default 409."""
    return next((status for cls, status in STATUS if isinstance(exc, cls)), 409)


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """An HTML page telling what went wrong (``error.html``) with ``status``."""
    return templates.TemplateResponse(
        request, "error.html", {"message": message, "status": status, **_common(request)},
        status_code=status,
    )


def _common(request: Request) -> dict[str, Any]:
    signed = getattr(request.state, "signed", None)
    return {"user": signed, "home": home_of(signed.actor) if signed else "/login",
            "csrf": signed.csrf_token if signed else ""}


def render(ctx: PageCtx, name: str, status_code: int = 200, **data: Any) -> HTMLResponse:
    """Template ``name`` with ``data``, the user, CSRF token, ``now`` and ``today``."""
    return templates.TemplateResponse(
        ctx.request, name,
        {**_common(ctx.request), "now": ctx.now, "today": ctx.now.astimezone(TZ).date(), **data},
        status_code=status_code,
    )


def _validation_message(exc: RequestValidationError) -> str:
    fields = [str(e.get("loc", ("",))[-1]) for e in exc.errors()[:5]]
    return f"表单填写有误：{'、'.join(fields)}（请检查格式后重新提交）"


class PageRoute(APIRoute):
    """Route class of the page routers: CSRF check on POST, HTML errors, login redirects."""

    def get_route_handler(self) -> Callable:
        """The route's handler wrapped: CSRF check first on POST, errors as pages."""
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                if request.method == "POST":
                    await check_csrf(request)
                return await original(request)
            except NotAuthenticated:
                if request.method != "GET":
                    return error_page(request, 401, "登录已失效，请重新登录后再提交")
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
            except RolloutError as exc:
                return error_page(request, status_of(exc), str(exc))
            except RequestValidationError as exc:
                return error_page(request, 422, _validation_message(exc))

        return handler
