"""Filings (备案): a provincial department files its domain's work-plan notice (dept_filing,
due 04-25), a city its implementation plan (city_filing, due 05-06) (吉政公组〔2020〕1号, 五 末段).

A filing submits the unit's filing task (which completes it: the milestone has no acceptor). A
late filing is taken and marked with its working days late; a second filing supersedes the
first and both are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, col, select

from rollout.actions.documents import parse_document_number
from rollout.actions.scope import current_plan, milestone_of, visible_task
from rollout.calendar import WorkingCalendar, local_day
from rollout.errors import InvalidInput, NotFound, PermissionDenied, TransitionError
from rollout.models import AuditEvent, Domain, Filing, Organization, TaskState, TrackedTask
from rollout.workflow import Action, Actor, Role, may, transition

FILING_MILESTONES: dict[str, Role] = {"dept_filing": Role.department, "city_filing": Role.city}


@dataclass(frozen=True)
class StoredFile:
    """A file already hashed and staged by the edge: SHA-256 hex, name as uploaded, MIME type
    found from the bytes, size in bytes."""

    sha256: str
    filename: str
    content_type: str
    size_bytes: int


def days_late(due_on: date, filed_on: date, calendar: WorkingCalendar) -> int:
    """Working days after ``due_on`` up to ``filed_on`` (both local days), 0 when on time.

    = the working days in (due_on, filed_on]. Example (2020 calendar): due 2020-05-06, filed
    2020-05-11 → 4 (05-07, 05-08, the make-up working Saturday 05-09, 05-11).
    """
    return max(0, calendar.working_days_between(due_on, filed_on))


def _filing_task(
    session: Session, actor: Actor, milestone_key: str, domain_key: str | None,
    org_code: str | None, plan_key: str | None,
) -> TrackedTask:
    if milestone_key not in FILING_MILESTONES:
        raise InvalidInput("备案节点须为 dept_filing 或 city_filing", field="milestone")
    want = FILING_MILESTONES[milestone_key]
    if actor.role != Role.office and actor.role != want:
        raise PermissionDenied(f"{milestone_key} 由{'中省直部门' if want == Role.department else '市（州）'}备案")
    if actor.role == Role.office:
        if not org_code:
            raise InvalidInput("省政务公开办代为备案时须指明单位 org", field="org")
        owner = org_code
    else:
        if org_code and org_code != actor.org_code:
            raise NotFound(f"机构 {org_code} 不存在或不在您的权限范围内")
        owner = actor.org_code
    if session.get(Organization, owner) is None:
        raise NotFound(f"机构 {owner} 不存在")
    plan = current_plan(session, plan_key)
    m = milestone_of(session, plan, milestone_key)
    q = select(TrackedTask).where(TrackedTask.milestone_id == m.id, TrackedTask.org_code == owner)
    tasks = list(session.exec(q.order_by(TrackedTask.key)))
    if not tasks:
        raise InvalidInput(f"{owner} 没有 {milestone_key} 备案任务", field="milestone")
    if milestone_key == "dept_filing":
        if domain_key is None:
            if len(tasks) > 1:
                keys = "、".join(t.domain_key or "" for t in tasks)
                raise InvalidInput(f"本单位负责多个领域，请指明 domain：{keys}", field="domain")
            return tasks[0]
        for t in tasks:
            if t.domain_key == domain_key:
                return t
        if session.get(Domain, domain_key) is None:
            raise InvalidInput(f"没有领域 {domain_key}", field="domain")
        raise InvalidInput(f"{owner} 不负责领域 {domain_key}", field="domain")
    if domain_key is not None:
        raise InvalidInput("city_filing 不分领域，请不要填写 domain", field="domain")
    return tasks[0]


def record_filing(
    session: Session,
    actor: Actor,
    *,
    milestone_key: str,
    document_number: str,
    title: str,
    issued_on: date,
    file: StoredFile,
    now: datetime,
    calendar: WorkingCalendar,
    domain_key: str | None = None,
    org_code: str | None = None,
    note: str | None = None,
    plan_key: str | None = None,
    request_id: str | None = None,
) -> Filing:
    """Record one filing and submit the unit's filing task.

    The task: ``milestone_key``'s task owned by the actor (the office files for ``org_code``);
    for ``dept_filing`` the ``domain_key`` one (optional when the department has one domain).
    ``issued_on``: the document's date, not after today's local day and in the 文号's year.
    Raises ``InvalidInput`` (field named), ``PermissionDenied``, ``NotFound``,
    ``RequirementsPending`` (dept_filing before the domain's work_plan is delivered),
    ``TransitionError`` (waived or cancelled task). Writes ``filing_recorded`` (and
    ``task_submitted`` on the first filing) audit events; never commits.
    """
    today = local_day(now)
    parse_document_number(document_number, issued_on)
    if issued_on > today:
        raise InvalidInput(f"成文日期 {issued_on} 晚于今天 {today}", field="issued_on")
    found = _filing_task(session, actor, milestone_key, domain_key, org_code, plan_key)
    task = visible_task(session, actor, found.id, for_update=True)  # type: ignore[arg-type]
    if not may(session, actor, task, Action.submit):
        raise PermissionDenied(f"{actor.org_code} 无权为任务 {task.key} 备案")
    late = days_late(task.due_on, today, calendar)
    previous = session.exec(
        select(Filing).where(Filing.task_id == task.id, col(Filing.superseded_by_id).is_(None))
        .order_by(col(Filing.id).desc())
    ).first()
    if task.state in (TaskState.waived, TaskState.cancelled):
        raise TransitionError(f"任务 {task.key} 已{'豁免' if task.state == TaskState.waived else '取消'}，无需备案")
    filing = Filing(
        task_id=task.id, org_code=task.org_code, document_number=document_number.strip(),
        title=title.strip(), issued_on=issued_on, note=note, sha256=file.sha256,
        filename=file.filename, content_type=file.content_type, size_bytes=file.size_bytes,
        days_late=late, filed_by=actor.name, created_at=now,
    )
    if task.state not in (TaskState.submitted, TaskState.accepted):
        transition(
            session, task.id, Action.submit, actor, now=now, calendar=calendar,  # type: ignore[arg-type]
            note=f"备案：{filing.document_number}", request_id=request_id,
            detail={"document_number": filing.document_number, "sha256": file.sha256},
        )
    session.add(filing)
    session.flush()
    if previous is not None:
        previous.superseded_by_id = filing.id
        session.add(previous)
    session.add(
        AuditEvent(
            at=now, kind="filing_recorded", task_id=task.id, plan_id=task.plan_id,
            actor=actor.name, actor_org_code=actor.org_code, request_id=request_id,
            before={"filing_id": previous.id} if previous else None,
            after={"filing_id": filing.id, "days_late": late},
            detail={"document_number": filing.document_number, "title": filing.title,
                    "sha256": file.sha256, "size_bytes": file.size_bytes,
                    "supersedes": previous.id if previous else None},
        )
    )
    session.flush()
    return filing
