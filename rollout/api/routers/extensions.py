"""Extension requests (延期申请): the owner asks, the unit above decides."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from rollout import db
from rollout.actions.extensions import decide_extension, extensions_of, request_extension
from rollout.actions.scope import visible_task
from rollout.api.deps import CtxDep
from rollout.api.errors import error_responses
from rollout.api.schemas.extensions import ExtensionCreate, ExtensionDecision, ExtensionPublic

router = APIRouter(prefix="/api", tags=["延期"])

Id = Annotated[int, Path(ge=1, le=2**31 - 1, description="编号")]


@router.post("/tasks/{task_id}/extensions", response_model=ExtensionPublic, status_code=201,
             responses=error_responses(403, 404, 409))
def ask(task_id: Id, body: ExtensionCreate, ctx: CtxDep) -> ExtensionPublic:
    """申请延期：责任单位在截止日当天结束前提出，写明理由和新截止日；截止日已过返回 409。"""
    with db.unit_of_work(ctx.engine) as session:
        req = request_extension(session, ctx.actor, task_id, reason=body.reason,
                                new_due_on=body.new_due_on, now=ctx.now, request_id=ctx.request_id)
        return ExtensionPublic.model_validate(req, from_attributes=True)


@router.get("/tasks/{task_id}/extensions", response_model=list[ExtensionPublic],
            responses=error_responses(404))
def list_for_task(task_id: Id, ctx: CtxDep) -> list[ExtensionPublic]:
    """一项任务的延期申请（最新在前）。"""
    with db.read_session(ctx.engine) as session:
        visible_task(session, ctx.actor, task_id)
        return [ExtensionPublic.model_validate(r, from_attributes=True)
                for r in extensions_of(session, task_id)]


@router.post("/extensions/{extension_id}/decision", response_model=ExtensionPublic,
             responses=error_responses(403, 404, 409))
def decide(extension_id: Id, body: ExtensionDecision, ctx: CtxDep) -> ExtensionPublic:
    """审批延期：由责任单位的上级（县→市州，市州和中省直部门→省政务公开办）批准或不批准；
    批准后任务截止日和催办时间随之调整，计划原定截止日保留用于考核。"""
    with db.unit_of_work(ctx.engine) as session:
        req = decide_extension(session, ctx.actor, extension_id, approve=body.decision == "approve",
                               note=body.note, now=ctx.now, calendar=ctx.calendar,
                               request_id=ctx.request_id)
        return ExtensionPublic.model_validate(req, from_attributes=True)
