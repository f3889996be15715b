"""``GET /calendar/{token}.ics``: an organization's task deadlines as an iCalendar feed.

The token is a calendar-feed token (``rollout.actions.calendar_tokens``), not an API token: it
reads this one feed and nothing else, and an API token in its place finds nothing (404). No
login: calendar clients cannot sign in, the secret URL is the credential."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from rollout import db
from rollout.actions.calendar_tokens import feed_org
from rollout.actions.scope import current_plan
from rollout.errors import NotFound
from rollout.exports import ICS_MEDIA_TYPE, calendar_feed

router = APIRouter(include_in_schema=False)


@router.get("/calendar/{token}.ics")
def calendar(request: Request, token: Annotated[str, Path(max_length=100)]) -> Response:
    """本单位任务日历（text/calendar; charset=utf-8）：每项任务一个全天事件，未完成的带提醒。"""
    state = request.app.state.rollout
    try:
        with db.read_session(state.engine) as s:
            org = feed_org(s, token)
            content = calendar_feed(s, org, current_plan(s), state.calendar, state.clock())
    except NotFound as exc:
        return Response(str(exc), status_code=404, media_type="text/plain; charset=utf-8")
    return Response(content, media_type=ICS_MEDIA_TYPE,
                    headers={"Cache-Control": "private, max-age=900",
                             "Content-Disposition": 'inline; filename="rollout.ics"'})
