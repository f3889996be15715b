"""The task page (``/tasks/{id}``): facts, what it waits for, its history, and the forms of the
actions open to the signed-in user. Each form posts to a handler that calls the same domain
function as the JSON API: ``workflow.transition`` (start, submit with an evidence link, return
with findings and a new due day, accept, waive, cancel), ``actions.reviews.sign_off`` (a city's
sign-off, as ``POST /api/reviews/{county}``) and ``actions.filings.record_filing`` (multipart, as
``POST /api/filings``). After a success the browser is sent back to the task page (303)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Query, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import Session, col, select

from rollout import db, schedules
from rollout.actions.documents import FILING_TYPES
from rollout.actions.filings import FILING_MILESTONES, StoredFile, record_filing
from rollout.actions.reviews import FINDING_KINDS, Finding, sign_off
from rollout.actions.scope import visible_task
from rollout.api.pages.web import PageCtx, PageCtxDep, PageRoute, render
from rollout.calendar import local_day
from rollout.errors import InvalidInput, PermissionDenied
from rollout.models import (
    OPEN_STATES,
    AuditEvent,
    Domain,
    Filing,
    Milestone,
    Organization,
    ReviewDecision,
    TaskState,
    TrackedTask,
)
from rollout.workflow import (
    ACTION_LABELS,
    Action,
    Role,
    allowed_actions,
    may,
    transition,
    waiting_for,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)
TaskId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Note = Annotated[str, Form(max_length=4000)]

EVENT_LABELS = {
    "task_created": "任务生成", "task_started": "开始办理", "task_submitted": "提交",
    "task_returned": "退回改正", "task_accepted": "验收通过", "task_waived": "豁免",
    "task_cancelled": "取消", "filing_recorded": "备案", "attachment_uploaded": "上传佐证",
    "review_returned": "复核退回", "task_due_moved": "截止日调整", "task_due_extended": "延期批准",
    "extension_requested": "申请延期", "task_schedule_moved": "提醒时间重排",
}
DONE_MESSAGES = {**{a.value: f"已{ACTION_LABELS[a]}" for a in Action}, "sign_off": "复核签署已记录",
                 "filing": "备案已提交"}


def _may_sign_off(session: Session, ctx: PageCtx, task: TrackedTask, m: Milestone) -> bool:
    if m.key != "city_review" or ctx.actor.role != Role.city or task.state not in OPEN_STATES:
        return False
    county = session.get(Organization, task.unit_code) if task.unit_code else None
    return county is not None and county.parent_code == ctx.actor.org_code


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
def task_page(
    ctx: PageCtxDep, task_id: TaskId,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    """一项任务：基本情况、前置任务、办理记录，以及您可以办理的动作（表单）。"""
    with db.read_session(ctx.engine) as s:
        task = visible_task(s, ctx.actor, task_id)
        m = s.get(Milestone, task.milestone_id)
        assert m is not None
        codes = {c for c in (task.org_code, task.unit_code) if c}
        orgs = {o.code: o for o in s.exec(select(Organization).where(col(Organization.code).in_(codes)))}
        domains = list(s.exec(select(Domain).order_by(col(Domain.position))))
        history = s.exec(select(AuditEvent).where(AuditEvent.task_id == task.id)
                         .order_by(col(AuditEvent.id))).all()
        waits = waiting_for(s, task)
        next_at = schedules.next_action_of(s, task.id)
        actions = [a.value for a in allowed_actions(s, ctx.actor, task)]
        filings = s.exec(select(Filing).where(Filing.task_id == task.id)
                         .order_by(col(Filing.id).desc())).all() if m.key in FILING_MILESTONES else []
        can_sign = _may_sign_off(s, ctx, task, m)
        can_file = (m.key in FILING_MILESTONES and may(s, ctx.actor, task, Action.submit)
                    and task.state not in (TaskState.waived, TaskState.cancelled))
    if can_file and "submit" in actions:
        actions.remove("submit")  # a filing task is submitted by filing (the filing form)
    return render(
        ctx, "task.html", task=task, next_at=next_at, m=m, orgs=orgs, domains=domains,
        domain_names={d.key: d.name for d in domains}, history=history, waits=waits,
        actions=actions, filings=filings, can_sign=can_sign, can_file=can_file,
        finding_kinds=FINDING_KINDS, event_labels=EVENT_LABELS,
        flash=DONE_MESSAGES.get(done or ""), today=local_day(ctx.now),
    )


def _back(task_id: int, done: str) -> RedirectResponse:
    return RedirectResponse(f"/tasks/{task_id}?done={done}", status_code=303)


@router.post("/tasks/{task_id}/act")
def act(
    ctx: PageCtxDep, task_id: TaskId,
    action: Annotated[Action, Form()],
    version: Annotated[int, Form(ge=1)],
    note: Note = "",
    evidence_url: Annotated[str, Form(max_length=2000)] = "",
    new_due_on: Annotated[date | None, Form()] = None,
) -> RedirectResponse:
    """办理任务（状态机）：与接口 ``POST /api/tasks/{id}/transitions`` 相同的规则。"""
    if new_due_on is not None and action != Action.return_:
        raise InvalidInput("只有退回改正可以指定新截止日", field="new_due_on")
    if new_due_on is not None and new_due_on < local_day(ctx.now):
        raise InvalidInput(f"新截止日 {new_due_on} 早于今天 {local_day(ctx.now)}", field="new_due_on")
    url = evidence_url.strip()
    if url and not url.startswith(("http://", "https://")):
        raise InvalidInput("佐证链接须以 http:// 或 https:// 开头", field="evidence_url")
    with db.unit_of_work(ctx.engine) as s:
        task = visible_task(s, ctx.actor, task_id, for_update=True)
        if not may(s, ctx.actor, task, action):
            raise PermissionDenied(f"您无权对任务 {task.key} 执行「{ACTION_LABELS[action]}」")
        try:
            transition(s, task_id, action, ctx.actor, now=ctx.now, calendar=ctx.calendar,
                       expected_version=version, note=note.strip() or None, new_due_on=new_due_on,
                       detail={"evidence_url": url} if url else None,
                       request_id=ctx.request_id)
        except ValueError as exc:
            raise InvalidInput(str(exc), field="note") from None
    return _back(task_id, action.value)


@router.post("/tasks/{task_id}/sign-off")
def sign_off_form(
    ctx: PageCtxDep, task_id: TaskId,
    version: Annotated[int, Form(ge=1)],
    reviewer: Annotated[str, Form(min_length=1, max_length=80)],
    decision: Annotated[ReviewDecision, Form()],
    finding_domain: Annotated[list[str], Form(max_length=26)] = [],  # noqa: B006 - FastAPI form default
    finding_kind: Annotated[list[str], Form(max_length=26)] = [],  # noqa: B006
    finding_text: Annotated[list[str], Form(max_length=26)] = [],  # noqa: B006
    new_due_on: Annotated[date | None, Form()] = None,
) -> RedirectResponse:
    """市（州）复核签署（与 ``POST /api/reviews/{county}`` 同一业务函数）：通过或退回（列明问题）。"""
    findings = [Finding(d, k or "other", t.strip())
                for d, k, t in zip(finding_domain, finding_kind, finding_text, strict=False)
                if d and t.strip()]
    if any(f.kind not in FINDING_KINDS for f in findings):
        raise InvalidInput("问题类型不正确", field="finding_kind")
    with db.unit_of_work(ctx.engine) as s:
        task = visible_task(s, ctx.actor, task_id)
        m = s.get(Milestone, task.milestone_id)
        if m is None or m.key != "city_review" or not task.unit_code:
            raise InvalidInput("这不是复核任务", field="task")
        sign_off(s, ctx.actor, task.unit_code, reviewer=reviewer.strip(), decision=decision,
                 findings=findings, expected_version=version, new_due_on=new_due_on,
                 now=ctx.now, calendar=ctx.calendar, request_id=ctx.request_id)
    return _back(task_id, "sign_off")


@router.post("/tasks/{task_id}/filing")
def filing_form(
    ctx: PageCtxDep, task_id: TaskId,
    document_number: Annotated[str, Form(min_length=1, max_length=60)],
    title: Annotated[str, Form(min_length=1, max_length=200)],
    issued_on: Annotated[date, Form()],
    file: Annotated[UploadFile, File()],
    note: Note = "",
) -> RedirectResponse:
    """备案（multipart，与 ``POST /api/filings`` 同一业务函数）：上传文件并提交本任务。"""
    files = ctx.state.files
    settings = ctx.state.settings
    with files.stage(file, max_bytes=settings.max_upload_bytes, allowed=FILING_TYPES) as st:
        with db.unit_of_work(ctx.engine) as s:
            task = visible_task(s, ctx.actor, task_id)
            m = s.get(Milestone, task.milestone_id)
            if m is None or m.key not in FILING_MILESTONES:
                raise InvalidInput("这项任务不需要备案", field="task")
            record_filing(
                s, ctx.actor, milestone_key=m.key, document_number=document_number,
                title=title, issued_on=issued_on, domain_key=task.domain_key,
                org_code=task.org_code if ctx.actor.role == Role.office else None,
                note=note.strip() or None,
                file=StoredFile(st.sha256, st.filename, st.type.mime, st.size_bytes),
                now=ctx.now, calendar=ctx.calendar, request_id=ctx.request_id,
            )
        st.keep()
    return _back(task_id, "filing")
