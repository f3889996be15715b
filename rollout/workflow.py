"""The task state machine: states, allowed transitions, who may make them, and their audit trail.

``pending → in_progress → submitted → accepted``, with the correction loop
``submitted → returned → submitted`` (反馈改正, plan §四(四)), and ``waived`` / ``cancelled``
by the provincial office. A milestone without an acceptor (``accepted_by`` null in the plan
file) is completed by submitting it: ``submit`` then goes straight to ``accepted``.

Every transition checks the actor's role and organization, stamps times, bumps ``version`` and
writes one append-only ``AuditEvent`` in the caller's transaction. An illegal transition raises
and changes nothing. Domain functions: they take a ``Session`` and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlmodel import Session, col, select

from rollout import schedules
from rollout.calendar import WorkingCalendar, end_of_day_at
from rollout.deadlines import DeadlinePolicy
from rollout.errors import (
    NotFound,
    PermissionDenied,
    RequirementsPending,
    StaleVersion,
    TransitionError,
)
from rollout.models import (
    DELIVERED_STATES,
    TASK_STATE_LABELS,
    AuditEvent,
    Domain,
    Milestone,
    Organization,
    OrgKind,
    TaskState,
    TrackedTask,
)
from rollout.models.organization import department_code


class Role(StrEnum):
    """What an actor acts as; matches the kind of the organization acted for."""

    office = "office"
    department = "department"
    city = "city"
    county = "county"


ROLE_LABELS: dict[Role, str] = {
    Role.office: "省政务公开办",
    Role.department: "中省直部门",
    Role.city: "市（州）",
    Role.county: "县（市、区）",
}


class Action(StrEnum):
    """A transition's name, as used by the CLI and the API."""

    start = "start"
    submit = "submit"
    return_ = "return"
    accept = "accept"
    waive = "waive"
    cancel = "cancel"


ACTION_LABELS: dict[Action, str] = {
    Action.start: "开始办理",
    Action.submit: "提交",
    Action.return_: "退回改正",
    Action.accept: "验收通过",
    Action.waive: "豁免",
    Action.cancel: "取消",
}

_OPEN_FOR_WORK = frozenset({TaskState.pending, TaskState.in_progress, TaskState.returned})
_NOT_ENDED = _OPEN_FOR_WORK | {TaskState.submitted}

#: action → (states it may start from, the audit kind)
TRANSITIONS: dict[Action, tuple[frozenset[TaskState], str]] = {
    Action.start: (frozenset({TaskState.pending}), "task_started"),
    Action.submit: (_OPEN_FOR_WORK, "task_submitted"),
    Action.return_: (frozenset({TaskState.submitted}), "task_returned"),
    Action.accept: (frozenset({TaskState.submitted}), "task_accepted"),
    Action.waive: (_NOT_ENDED, "task_waived"),
    Action.cancel: (_NOT_ENDED, "task_cancelled"),
}


@dataclass(frozen=True)
class Actor:
    """Who acts: a person (``name``) for an organization (``org_code``) in a ``role``."""

    org_code: str
    role: Role
    name: str = "system"


def _is_acceptor(session: Session, actor: Actor, task: TrackedTask, m: Milestone) -> bool:
    """Whether ``actor`` may accept or return ``task`` (the milestone's ``accepted_by``).

    ``office``: the provincial office, or the domain's department ("会同…中省直部门", §四(四)).
    ``city``: the current superior city of the task's unit (复核, §四(三)).
    ``department``: the domain's responsible department.
    The domain's department is that of the province of the task's unit (or owner):
    ``department_code(province_code, domain.department_key)``.
    """
    if m.accepted_by is None:
        return False
    dept = None
    if task.domain_key:
        dom = session.get(Domain, task.domain_key)
        unit = session.get(Organization, task.unit_code or task.org_code)
        if dom is not None and unit is not None:
            dept = department_code(unit.province, dom.department_key)
    if m.accepted_by == "office":
        return (office_of_task(session, actor, task)
                or (actor.role == Role.department and actor.org_code == dept))
    if m.accepted_by == "department":
        return actor.role == Role.department and actor.org_code == dept
    if m.accepted_by == "city":
        unit = session.get(Organization, task.unit_code or task.org_code)
        return actor.role == Role.city and unit is not None and unit.parent_code == actor.org_code
    return False


def may(session: Session, actor: Actor, task: TrackedTask, action: Action) -> bool:
    """Whether ``actor`` may make ``action`` on ``task`` (role and organization; not state).

    The owner starts and submits; the acceptor accepts and returns; only the provincial office
    waives and cancels. The provincial office may also act for any unit of its province
    (recorded as such; ``office_of_task``).
    """
    m = session.get(Milestone, task.milestone_id)
    assert m is not None
    if action in (Action.start, Action.submit):
        return office_of_task(session, actor, task) or actor.org_code == task.org_code
    if action in (Action.accept, Action.return_):
        return _is_acceptor(session, actor, task, m)
    return office_of_task(session, actor, task)


def office_of_task(session: Session, actor: Actor, task: TrackedTask) -> bool:
    """Whether ``actor`` is the provincial office of ``task``'s province: role office, and its
    organization's ``province`` is that of the task's unit (``unit_code``, else the owner). In a
    registry of several provinces an office has no powers over another province's tasks
    (issue 6); with one province every task is its own."""
    if actor.role != Role.office:
        return False
    office = session.get(Organization, actor.org_code)
    unit = session.get(Organization, task.unit_code or task.org_code)
    return office is not None and unit is not None and office.province == unit.province


def allowed_actions(session: Session, actor: Actor, task: TrackedTask) -> list[Action]:
    """The actions open to ``actor`` on ``task`` now (state and permission both allow)."""
    m = session.get(Milestone, task.milestone_id)
    assert m is not None
    out = []
    for action, (sources, _) in TRANSITIONS.items():
        if task.state not in sources:
            continue
        if action in (Action.accept, Action.return_) and m.accepted_by is None:
            continue
        if may(session, actor, task, action):
            out.append(action)
    return out


def waiting_for(session: Session, task: TrackedTask) -> list[TrackedTask]:
    """The required tasks not yet delivered (plan ``requires``), matched on shared dimensions.

    A city_review of county X waits for X's catalog tasks; dept_filing of domain D waits for
    work_plan of D (of the same province: tasks that share no org dimension match on the
    province of their owners). Delivered = submitted, accepted or waived. Empty list: nothing to wait for.
    """
    m = session.get(Milestone, task.milestone_id)
    assert m is not None
    if not m.requires_keys:
        return []
    required = session.exec(
        select(Milestone).where(
            Milestone.plan_id == m.plan_id, col(Milestone.key).in_(m.requires_keys)
        )
    ).all()
    pending: list[TrackedTask] = []
    for r in required:
        shared = set(m.over_dims) & set(r.over_dims)
        q = select(TrackedTask).where(
            TrackedTask.milestone_id == r.id,
            col(TrackedTask.state).not_in(list(DELIVERED_STATES)),
        )
        if "domain" in shared:
            q = q.where(TrackedTask.domain_key == task.domain_key)
        if shared - {"domain"}:
            q = q.where(TrackedTask.unit_code == task.unit_code)
        else:  # province-level tasks (several provinces): only those of the task's province
            owner = session.get(Organization, task.org_code)
            prov = owner.province if owner else task.org_code[:2] + "0000"
            in_province = select(Organization.code).where(Organization.province_code == prov)
            q = q.where(col(TrackedTask.org_code).in_(in_province))
        pending.extend(session.exec(q.order_by(TrackedTask.key)).all())
    return pending


def _snapshot(task: TrackedTask) -> dict[str, Any]:
    return {
        "state": task.state.value,
        "due_on": task.due_on.isoformat(),
        "version": task.version,
    }


def transition(
    session: Session,
    task_id: int,
    action: Action,
    actor: Actor,
    *,
    now: datetime,
    calendar: WorkingCalendar,
    expected_version: int | None = None,
    note: str | None = None,
    new_due_on: date | None = None,
    detail: dict[str, Any] | None = None,
    request_id: str | None = None,
) -> TrackedTask:
    """Make one transition on one task and record it.

    ``note``: the evidence link (submit), the findings (return, required) or the reason (waive,
    cancel, required). ``new_due_on``: the correction deadline of a return (local day, not
    before today's local day); the original due day is kept for assessment.
    ``expected_version``: the version the caller saw; a different stored one raises
    ``StaleVersion``. Raises ``NotFound``, ``PermissionDenied``, ``TransitionError`` (state),
    ``RequirementsPending`` (submit before its ``requires`` are delivered), ``ValueError`` on a
    missing note. Nothing is changed when it raises.
    """
    task = session.get(TrackedTask, task_id)
    if task is None:
        raise NotFound(f"任务 {task_id} 不存在")
    if expected_version is not None and expected_version != task.version:
        raise StaleVersion(
            f"任务 {task.key} 已被他人修改（您看到的版本 {expected_version}，当前版本 {task.version}），"
            "请刷新后重试"
        )
    m = session.get(Milestone, task.milestone_id)
    assert m is not None
    sources, kind = TRANSITIONS[action]
    if action in (Action.accept, Action.return_) and m.accepted_by is None:
        raise TransitionError(f"进度节点「{m.title}」提交即完成，无需{ACTION_LABELS[action]}")
    if task.state not in sources:
        raise TransitionError(
            f"任务 {task.key} 当前状态为「{TASK_STATE_LABELS[task.state]}」，不能{ACTION_LABELS[action]}"
        )
    if not may(session, actor, task, action):
        raise PermissionDenied(f"{actor.org_code} 无权对任务 {task.key} 执行「{ACTION_LABELS[action]}」")
    if action in (Action.return_, Action.waive, Action.cancel) and not (note and note.strip()):
        what = "退回意见" if action == Action.return_ else "理由"
        raise ValueError(f"{ACTION_LABELS[action]}须填写{what}")
    if action == Action.submit:
        missing = waiting_for(session, task)
        if missing:
            keys = [t.key for t in missing]
            shown = "、".join(keys[:5]) + (f" 等{len(keys)}项" if len(keys) > 5 else "")
            raise RequirementsPending(f"任务 {task.key} 须等待前置任务完成：{shown}", keys)

    before = _snapshot(task)
    if action == Action.start:
        task.state, task.started_at = TaskState.in_progress, now
    elif action == Action.submit:
        task.submitted_at = now
        task.state = TaskState.submitted if m.accepted_by else TaskState.accepted
        if task.state == TaskState.accepted:
            task.completed_at = now
        schedules.clear(session, task)
    elif action == Action.return_:
        task.state = TaskState.returned
        task.times_returned += 1
        if new_due_on is not None:
            task.due_on, task.due_at = new_due_on, end_of_day_at(new_due_on)
        schedules.reschedule(session, task, DeadlinePolicy.model_validate(m.policy), calendar,
                             after=now)
    elif action == Action.accept:
        task.state, task.completed_at = TaskState.accepted, now
    else:
        task.state = TaskState.waived if action == Action.waive else TaskState.cancelled
        task.completed_at = now
        schedules.clear(session, task)
    task.version += 1
    session.add(task)
    session.add(
        AuditEvent(
            at=now, kind=kind, task_id=task.id, plan_id=task.plan_id, actor=actor.name,
            actor_org_code=actor.org_code, before=before, after=_snapshot(task),
            detail={"note": note, **(detail or {})} if note or detail else None,
            request_id=request_id,
        )
    )
    session.flush()
    return task


def role_for(org: Organization) -> Role:
    """The role an organization's users act in. Raises ``ValueError`` for townships."""
    if org.kind == OrgKind.township:
        raise ValueError("乡镇（街道）暂无操作角色")
    return Role(org.kind.value)
