"""Extension requests (延期申请): the owner asks, before its due day is over, for a later due
day with a reason; the unit above decides. An approved extension moves the task's due day and
its reminder schedule; ``original_due_on`` keeps the plan's day for assessment.

The unit above is the owner's superior today (county → its city; city and department → the
provincial office); the office decides its own tasks' requests.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Session, col, select

from rollout import schedules
from rollout.actions.scope import visible_task
from rollout.calendar import WorkingCalendar, end_of_day_at, is_overdue
from rollout.deadlines import DeadlinePolicy
from rollout.errors import (
    InvalidInput,
    NotFound,
    PermissionDenied,
    TransitionError,
)
from rollout.models import (
    OPEN_STATES,
    AuditEvent,
    ExtensionRequest,
    ExtensionStatus,
    Milestone,
    Organization,
    TrackedTask,
)
from rollout.workflow import Actor, Role


def decider_of(session: Session, task: TrackedTask) -> str:
    """Code of the unit that decides extensions of ``task``: the owner's superior today, or the
    owner itself when it has none (the provincial office)."""
    owner = session.get(Organization, task.org_code)
    return (owner.parent_code if owner and owner.parent_code else task.org_code)


def request_extension(
    session: Session,
    actor: Actor,
    task_id: int,
    *,
    reason: str,
    new_due_on: date,
    now: datetime,
    request_id: str | None = None,
) -> ExtensionRequest:
    """File a request to move ``task_id``'s due day to ``new_due_on`` (local day).

    Only the owner (or the office for it) may ask; the task must be open; ``now`` must not be
    past the end of the due day in force (``TransitionError`` with the due day, code
    ``extension_too_late``); ``new_due_on`` after the due day in force (``InvalidInput``); one
    pending request per task (``TransitionError``). ``NotFound`` outside the actor's scope.
    Writes an ``extension_requested`` audit event. Never commits.
    """
    task = visible_task(session, actor, task_id, for_update=True)
    if actor.org_code != task.org_code and actor.role != Role.office:
        raise PermissionDenied(f"只有责任单位可以为任务 {task.key} 申请延期")
    if task.state not in OPEN_STATES:
        raise TransitionError(f"任务 {task.key} 已{'提交' if task.state.value == 'submitted' else '结束'}，无需延期")
    if is_overdue(task.due_on, now):
        raise TransitionError(
            f"任务 {task.key} 的截止日 {task.due_on} 已过，不能再申请延期，请尽快办理",
            code="extension_too_late",
        )
    if new_due_on <= task.due_on:
        raise InvalidInput(f"申请的新截止日须晚于现行截止日 {task.due_on}", field="new_due_on")
    if not reason.strip():
        raise InvalidInput("请填写延期理由", field="reason")
    pending = session.exec(
        select(ExtensionRequest).where(
            ExtensionRequest.task_id == task.id, ExtensionRequest.status == ExtensionStatus.pending
        )
    ).first()
    if pending is not None:
        raise TransitionError(f"任务 {task.key} 已有待审批的延期申请（编号 {pending.id}）",
                              code="extension_pending")
    req = ExtensionRequest(
        task_id=task.id, org_code=task.org_code, requested_by=actor.name, reason=reason.strip(),  # type: ignore[arg-type]
        previous_due_on=task.due_on, requested_due_on=new_due_on, created_at=now,
    )
    session.add(req)
    session.flush()
    session.add(AuditEvent(
        at=now, kind="extension_requested", task_id=task.id, plan_id=task.plan_id,
        actor=actor.name, actor_org_code=actor.org_code, request_id=request_id,
        after={"extension_id": req.id, "requested_due_on": new_due_on.isoformat()},
        detail={"reason": req.reason},
    ))
    session.flush()
    return req


def visible_extension(session: Session, actor: Actor, extension_id: int, *, lock: bool = False) -> ExtensionRequest:
    """Extension ``extension_id`` if its task is in ``actor``'s scope, else ``NotFound``."""
    q = select(ExtensionRequest).where(ExtensionRequest.id == extension_id)
    if lock:
        q = q.with_for_update().execution_options(populate_existing=True)
    req = session.exec(q).first()
    if req is None:
        raise NotFound(f"延期申请 {extension_id} 不存在或不在您的权限范围内")
    try:
        visible_task(session, actor, req.task_id)
    except NotFound:
        raise NotFound(f"延期申请 {extension_id} 不存在或不在您的权限范围内") from None
    return req


def decide_extension(
    session: Session,
    actor: Actor,
    extension_id: int,
    *,
    approve: bool,
    note: str | None,
    now: datetime,
    calendar: WorkingCalendar,
    request_id: str | None = None,
) -> ExtensionRequest:
    """Approve or refuse a pending request, as the unit above the owner (``decider_of``).

    Approved: ``due_on``/``due_at`` move to the requested day, ``next_action_at`` is the first
    step of the new schedule after ``now`` (``deadlines.next_step``; a year without holiday data
    leaves a note instead), the task's version is bumped, ``original_due_on`` is untouched.
    Raises ``NotFound``, ``PermissionDenied``, ``TransitionError`` (already decided, or the
    task is no longer open). Writes ``extension_approved``/``extension_refused`` (and
    ``task_due_extended``) audit events. Never commits.
    """
    req = visible_extension(session, actor, extension_id, lock=True)
    task = visible_task(session, actor, req.task_id, for_update=True)
    if actor.org_code != decider_of(session, task):
        raise PermissionDenied("延期申请由责任单位的上级单位审批")
    if req.status != ExtensionStatus.pending:
        raise TransitionError(f"延期申请 {req.id} 已审批（{req.status.value}）", code="extension_decided")
    req.status = ExtensionStatus.approved if approve else ExtensionStatus.refused
    req.decided_by_org_code, req.decided_by = actor.org_code, actor.name
    req.decision_note, req.decided_at = note, now
    session.add(req)
    session.add(AuditEvent(
        at=now, kind=f"extension_{req.status.value}", task_id=task.id, plan_id=task.plan_id,
        actor=actor.name, actor_org_code=actor.org_code, request_id=request_id,
        before={"status": "pending"}, after={"status": req.status.value, "extension_id": req.id},
        detail={"note": note} if note else None,
    ))
    if approve:
        if task.state not in OPEN_STATES:
            raise TransitionError(f"任务 {task.key} 已不在办理中，不能延期")
        m = session.get(Milestone, task.milestone_id)
        assert m is not None
        before = {"due_on": task.due_on.isoformat(), "version": task.version,
                  "next_action_at": _iso(schedules.next_action_of(session, task.id))}
        task.due_on, task.due_at = req.requested_due_on, end_of_day_at(req.requested_due_on)
        schedule = schedules.reschedule(session, task, DeadlinePolicy.model_validate(m.policy),
                                        calendar, after=now)
        task.version += 1
        session.add(task)
        session.add(AuditEvent(
            at=now, kind="task_due_extended", task_id=task.id, plan_id=task.plan_id,
            actor=actor.name, actor_org_code=actor.org_code, request_id=request_id, before=before,
            after={"due_on": task.due_on.isoformat(), "version": task.version,
                   "original_due_on": task.original_due_on.isoformat(),
                   "next_action_at": _iso(schedule.next_action_at)},
            detail={"extension_id": req.id},
        ))
    session.flush()
    return req


def extensions_of(session: Session, task_id: int) -> list[ExtensionRequest]:
    """The extension requests of a task, newest first."""
    return list(session.exec(
        select(ExtensionRequest).where(ExtensionRequest.task_id == task_id)
        .order_by(col(ExtensionRequest.id).desc())
    ))


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None
