"""``/api/tasks``: list and show tasks in the caller's scope, make transitions, attach evidence."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session, col, func, select

from rollout import db, schedules
from rollout.actions.documents import ATTACHMENT_TYPES
from rollout.actions.scope import scope_condition, visible_task
from rollout.api.deps import Ctx, CtxDep
from rollout.api.errors import error_responses
from rollout.api.schemas.common import NO_CONTROL
from rollout.api.schemas.tasks import (
    AttachmentPublic,
    AuditEventPublic,
    TaskPage,
    TrackedTaskDetail,
    TrackedTaskPublic,
    TransitionCreate,
)
from rollout.api.uploads import form_file, read_form
from rollout.calendar import local_day
from rollout.errors import InvalidInput, PermissionDenied
from rollout.models import (
    OPEN_STATES,
    TASK_STATE_LABELS,
    Attachment,
    AuditEvent,
    Milestone,
    Plan,
    TaskSchedule,
    TaskState,
    TrackedTask,
)
from rollout.workflow import ACTION_LABELS, Action, allowed_actions, may, transition, waiting_for

router = APIRouter(prefix="/api/tasks", tags=["任务"])

TaskId = Annotated[int, Path(ge=1, le=2**31 - 1, description="任务编号")]
Code = Annotated[str | None, Query(max_length=60, pattern=NO_CONTROL)]


def task_public(
    task: TrackedTask, m: Milestone, ctx: Ctx, next_action_at: datetime | None
) -> TrackedTaskPublic:
    """The public shape of ``task`` (``overdue`` as of the request's time; ``next_action_at``:
    its schedule's, aware, or None)."""
    return TrackedTaskPublic(
        id=task.id, key=task.key, milestone=m.key, milestone_title=m.title,  # type: ignore[arg-type]
        org_code=task.org_code, unit_code=task.unit_code, domain=task.domain_key,
        state=task.state, state_label=TASK_STATE_LABELS[task.state], due_on=task.due_on,
        original_due_on=task.original_due_on, due_at=task.due_at,
        overdue=task.state in OPEN_STATES and ctx.now > task.due_at,
        opened_at=task.opened_at, started_at=task.started_at, submitted_at=task.submitted_at,
        completed_at=task.completed_at, next_action_at=next_action_at,
        times_returned=task.times_returned, version=task.version,
    )


def task_detail(session: Session, task: TrackedTask, ctx: Ctx) -> TrackedTaskDetail:
    """``task`` with its waiting-for keys, the caller's allowed actions and its history."""
    m = session.get(Milestone, task.milestone_id)
    assert m is not None
    events = session.exec(
        select(AuditEvent).where(AuditEvent.task_id == task.id).order_by(col(AuditEvent.id))
    ).all()
    return TrackedTaskDetail(
        **task_public(task, m, ctx, schedules.next_action_of(session, task.id)).model_dump(),
        waiting_for=[t.key for t in waiting_for(session, task)],
        allowed_actions=allowed_actions(session, ctx.actor, task),
        history=[AuditEventPublic.model_validate(e, from_attributes=True) for e in events],
    )


@router.get("", response_model=TaskPage, responses=error_responses())
def list_tasks(
    ctx: CtxDep,
    org: Annotated[Code, Query(description="单位代码：责任单位或涉及单位")] = None,
    milestone: Annotated[Code, Query(description="进度节点 key，如 catalog")] = None,
    domain: Annotated[Code, Query(description="领域 key")] = None,
    state: Annotated[TaskState | None, Query(description="状态")] = None,
    overdue: Annotated[bool | None, Query(description="true：只看逾期未完成的；false：只看未逾期的")] = None,
    due_before: Annotated[date | None, Query(description="现行截止日早于该日（本地日期 YYYY-MM-DD）")] = None,
    due_after: Annotated[date | None, Query(description="现行截止日晚于该日（本地日期 YYYY-MM-DD）")] = None,
    plan: Annotated[Code, Query(description="计划 key，默认全部")] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="每页条数")] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="跳过条数")] = 0,
) -> TaskPage:
    """任务列表（仅限您的权限范围），可按单位、节点、领域、状态、逾期、截止日筛选，分页。"""
    with db.read_session(ctx.engine) as session:
        q = select(TrackedTask, Milestone).join(Milestone, Milestone.id == TrackedTask.milestone_id)
        cond = scope_condition(session, ctx.actor)
        if cond is not None:
            q = q.where(cond)
        if org:
            q = q.where((TrackedTask.org_code == org) | (TrackedTask.unit_code == org))
        if milestone:
            q = q.where(Milestone.key == milestone)
        if domain:
            q = q.where(TrackedTask.domain_key == domain)
        if state:
            q = q.where(TrackedTask.state == state)
        if plan:
            q = q.join(Plan, Plan.id == TrackedTask.plan_id).where(Plan.key == plan)
        if overdue is not None:
            late = col(TrackedTask.state).in_([s.value for s in OPEN_STATES]) & (
                col(TrackedTask.due_at) < ctx.now
            )
            q = q.where(late if overdue else ~late)
        if due_before:
            q = q.where(col(TrackedTask.due_on) < due_before)
        if due_after:
            q = q.where(col(TrackedTask.due_on) > due_after)
        total = session.exec(select(func.count()).select_from(q.subquery())).one()
        rows = session.exec(
            q.add_columns(TaskSchedule.next_action_at)
            .outerjoin(TaskSchedule, col(TaskSchedule.task_id) == TrackedTask.id)
            .order_by(col(TrackedTask.id)).limit(limit).offset(offset)
        ).all()
        items = [task_public(t, m, ctx, at) for t, m, at in rows]
    return TaskPage(total=total, limit=limit, offset=offset, items=items)


@router.get("/{task_id}", response_model=TrackedTaskDetail, responses=error_responses(404))
def show_task(task_id: TaskId, ctx: CtxDep) -> TrackedTaskDetail:
    """一项任务：状态、截止日、等待的前置任务、您可执行的动作、办理记录。"""
    with db.read_session(ctx.engine) as session:
        task = visible_task(session, ctx.actor, task_id)
        return task_detail(session, task, ctx)


@router.post(
    "/{task_id}/transitions", response_model=TrackedTaskDetail,
    responses=error_responses(403, 404, 409),
)
def make_transition(task_id: TaskId, body: TransitionCreate, ctx: CtxDep) -> TrackedTaskDetail:
    """按状态机办理任务：start / submit（可附佐证链接或附件）/ return（须填退回意见，可给新截止日）/
    accept / waive（须填理由）/ cancel。版本号不一致返回 409。"""
    today = local_day(ctx.now)
    if body.new_due_on is not None:
        if body.action != Action.return_:
            raise InvalidInput("只有退回改正（return）可以指定新截止日", field="new_due_on")
        if body.new_due_on < today:
            raise InvalidInput(f"新截止日 {body.new_due_on} 早于今天 {today}", field="new_due_on")
    if body.evidence_url and not body.evidence_url.startswith(("http://", "https://")):
        raise InvalidInput("佐证链接须以 http:// 或 https:// 开头", field="evidence_url")
    with db.unit_of_work(ctx.engine) as session:
        task = visible_task(session, ctx.actor, task_id, for_update=True)
        if not may(session, ctx.actor, task, body.action):
            raise PermissionDenied(
                f"{ctx.actor.org_code} 无权对任务 {task.key} 执行「{ACTION_LABELS[body.action]}」"
            )
        detail: dict = {}
        if body.evidence_url:
            detail["evidence_url"] = body.evidence_url
        if body.attachment_id is not None:
            att = session.get(Attachment, body.attachment_id)
            if att is None or att.task_id != task.id:
                raise InvalidInput(f"附件 {body.attachment_id} 不属于任务 {task.id}", field="attachment_id")
            detail["attachment_id"] = att.id
            detail["attachment_sha256"] = att.sha256
        try:
            task = transition(
                session, task_id, body.action, ctx.actor, now=ctx.now, calendar=ctx.calendar,
                expected_version=body.version, note=body.note, new_due_on=body.new_due_on,
                detail=detail or None, request_id=ctx.request_id,
            )
        except ValueError as exc:
            raise InvalidInput(str(exc), field="note") from None
        return task_detail(session, task, ctx)


@router.post(
    "/{task_id}/attachments", response_model=AttachmentPublic, status_code=201,
    responses=error_responses(403, 404, 413, 415),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary",
                                        "description": "佐证文件：PDF、OFD、DOC、DOCX、XLS、XLSX（按内容识别），不超过上传上限（默认 20 MB）"}},
            }}},
        }
    },
)
async def upload_attachment(task_id: TaskId, request: Request, ctx: CtxDep) -> AttachmentPublic:
    """上传任务佐证附件（如目录表 XLSX），提交时以 attachment_id 引用。仅责任单位和省政务公开办。"""
    form = await read_form(request, ctx.settings)
    upload = form_file(form)
    return await run_in_threadpool(_store_attachment, ctx, task_id, upload)


def _store_attachment(ctx: Ctx, task_id: int, upload) -> AttachmentPublic:
    files = ctx.state.files
    with files.stage(upload, max_bytes=ctx.settings.max_upload_bytes, allowed=ATTACHMENT_TYPES) as st:
        with db.unit_of_work(ctx.engine) as session:
            task = visible_task(session, ctx.actor, task_id)
            if not may(session, ctx.actor, task, Action.submit):
                raise PermissionDenied(f"只有责任单位可以为任务 {task.key} 上传佐证")
            att = Attachment(
                task_id=task_id, org_code=task.org_code, sha256=st.sha256, filename=st.filename,
                content_type=st.type.mime, size_bytes=st.size_bytes, uploaded_by=ctx.actor.name,
                created_at=ctx.now,
            )
            session.add(att)
            session.flush()
            session.add(AuditEvent(
                at=ctx.now, kind="attachment_uploaded", task_id=task_id, plan_id=task.plan_id,
                actor=ctx.actor.name, actor_org_code=ctx.actor.org_code, request_id=ctx.request_id,
                after={"attachment_id": att.id},
                detail={"sha256": st.sha256, "filename": st.filename, "size_bytes": st.size_bytes},
            ))
            out = AttachmentPublic.model_validate(att, from_attributes=True)
        st.keep()
    return out
