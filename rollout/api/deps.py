"""Request dependencies: the app's state (engine, clock, calendar, settings), the current actor
from ``Authorization: Bearer <token>``, and the request id.

Handlers open their own unit of work (``rollout.db.unit_of_work``) around the domain call, so
the commit happens before the response is built and a failed commit is an error response, not
a 200 followed by a rollback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from rollout import db
from rollout.actions.tokens import authenticate, needs_touch
from rollout.api.uploads import FileStore
from rollout.calendar import WorkingCalendar
from rollout.errors import PermissionDenied
from rollout.models import ApiToken
from rollout.settings import Settings
from rollout.workflow import Actor, Role

bearer = HTTPBearer(auto_error=False, description="rollout token create 生成的访问令牌")


@dataclass(frozen=True)
class AppState:
    """What ``create_app`` puts on ``app.state.rollout``."""

    settings: Settings
    engine: sa.Engine
    calendar: WorkingCalendar
    clock: Callable[[], datetime]
    files: FileStore


@dataclass(frozen=True)
class Ctx:
    """One request's context: who acts, when (``now``, aware), its request id and the app state."""

    actor: Actor
    now: datetime
    request_id: str
    state: AppState

    @property
    def engine(self) -> sa.Engine:
        return self.state.engine

    @property
    def calendar(self) -> WorkingCalendar:
        return self.state.calendar

    @property
    def settings(self) -> Settings:
        return self.state.settings


def app_state(request: Request) -> AppState:
    """The app's ``AppState``."""
    return request.app.state.rollout


def context(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Ctx:
    """Authenticate the request (``NotAuthenticated`` → 401) and build its ``Ctx``.

    ``last_used_at`` is refreshed in its own short transaction at most every 5 minutes.
    """
    state = app_state(request)
    now = state.clock()
    token = credentials.credentials if credentials else None
    with db.read_session(state.engine) as session:
        row, actor = authenticate(session, token, now=now)
        touch = needs_touch(row, now)
    if touch:
        with db.unit_of_work(state.engine) as session:
            fresh = session.get(ApiToken, row.id)
            if fresh is not None:
                fresh.last_used_at = now
                session.add(fresh)
    return Ctx(actor=actor, now=now, request_id=request.state.request_id, state=state)


CtxDep = Annotated[Ctx, Depends(context)]


def require_office(ctx: Ctx) -> None:
    """Raise ``PermissionDenied`` unless the actor is the provincial office."""
    if ctx.actor.role != Role.office:
        raise PermissionDenied("仅省政务公开办可以访问")
