"""``/api/reviews/{county_code}``: a city signs off one of its counties' catalogs (复核)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from rollout import db
from rollout.actions.reviews import Finding, sign_off
from rollout.api.deps import CtxDep
from rollout.api.errors import error_responses
from rollout.api.schemas.common import NO_CONTROL
from rollout.api.schemas.reviews import CityReviewPublic, ReviewCreate
from rollout.models import TrackedTask

router = APIRouter(prefix="/api/reviews", tags=["复核"])


@router.post("/{county_code}", response_model=CityReviewPublic,
             responses=error_responses(403, 404, 409))
def review_county(
    county_code: Annotated[str, Path(max_length=40, pattern=NO_CONTROL, description="县（市、区）代码")],
    body: ReviewCreate,
    ctx: CtxDep,
) -> CityReviewPublic:
    """复核签署：通过则该县复核任务完成、26个领域目录验收通过、录入任务可以办理；退回则所列领域目录退回县里改正。
    只有该县现属的市（州）可以签署；同时两次签署只有一次成功，另一次 409。"""
    with db.unit_of_work(ctx.engine) as session:
        review = sign_off(
            session, ctx.actor, county_code, reviewer=body.reviewer, decision=body.decision,
            findings=[Finding(f.domain, f.kind, f.text) for f in body.findings],
            expected_version=body.version, new_due_on=body.new_due_on, now=ctx.now,
            calendar=ctx.calendar, request_id=ctx.request_id,
        )
        task = session.get(TrackedTask, review.task_id)
        assert task is not None
        return CityReviewPublic(
            **review.model_dump(), task_state=task.state.value, task_version=task.version
        )
