"""City review sign-off (复核): a city signs off one county's 26 catalogs (吉政公组〔2020〕1号,
四(三): "9月1日前，各市（州）完成对所辖县（市、区）26个领域公开事项…的复核").

Approved: the county's ``city_review`` task is submitted (it has no acceptor, so it is done) and
its submitted catalog tasks are accepted by the city; the county's upload tasks, which require
the review, become actionable. Returned: the catalog tasks of the named domains go back to the
county with the findings (反馈改正), optionally with a new due day.

Two sign-offs at once: the ``city_review`` task row is locked and its ``version`` checked, so
exactly one wins; the other gets ``StaleVersion``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, select

from rollout.actions.scope import can_see, current_plan, milestone_of
from rollout.calendar import WorkingCalendar, local_day
from rollout.errors import InvalidInput, NotFound, PermissionDenied, StaleVersion
from rollout.models import (
    AuditEvent,
    CityReview,
    Domain,
    Organization,
    OrgKind,
    ReviewDecision,
    TaskState,
    TrackedTask,
)
from rollout.workflow import Action, Actor, Role, transition

FINDING_KINDS = {"missing_item": "缺项少项", "wrong_element": "要素错误", "other": "其他"}


@dataclass(frozen=True)
class Finding:
    """One finding: the ``domain`` key, its ``kind`` (see ``FINDING_KINDS``) and the ``text``."""

    domain: str
    kind: str
    text: str


def sign_off(
    session: Session,
    actor: Actor,
    county_code: str,
    *,
    reviewer: str,
    decision: ReviewDecision,
    findings: list[Finding],
    expected_version: int,
    now: datetime,
    calendar: WorkingCalendar,
    new_due_on: date | None = None,
    plan_key: str | None = None,
    request_id: str | None = None,
) -> CityReview:
    """Record ``actor``'s sign-off of ``county_code`` and move the tasks (see module doc).

    ``expected_version``: the ``city_review`` task's version the reviewer saw. Raises
    ``NotFound`` (no such county, or its review task is outside the actor's scope),
    ``PermissionDenied`` (not the county's current city), ``StaleVersion``, ``InvalidInput``
    (returned without findings, unknown domain), ``RequirementsPending`` (approved while a
    catalog is not delivered), ``TransitionError``. Never commits.
    """
    county = session.get(Organization, county_code)
    if county is None or county.kind != OrgKind.county:
        raise NotFound(f"县（市、区）{county_code} 不存在")
    plan = current_plan(session, plan_key)
    m = milestone_of(session, plan, "city_review")
    task = session.exec(
        select(TrackedTask)
        .where(TrackedTask.milestone_id == m.id, TrackedTask.unit_code == county_code)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if task is None or not can_see(session, actor, task):
        raise NotFound(f"县（市、区）{county_code} 的复核任务不存在或不在您的权限范围内")
    if actor.role != Role.city or county.parent_code != actor.org_code:
        raise PermissionDenied(f"只有{county.name}所属的市（州）可以签署复核")
    if expected_version != task.version:
        raise StaleVersion(
            f"{county.name}的复核已被他人签署或修改（您看到的版本 {expected_version}，当前版本 "
            f"{task.version}），请刷新后重试"
        )
    if decision == ReviewDecision.returned and not findings:
        raise InvalidInput("退回须至少填写一条问题（领域、类型、说明）", field="findings")
    if new_due_on is not None and (decision != ReviewDecision.returned or new_due_on < local_day(now)):
        raise InvalidInput("新截止日只用于退回，且不早于今天", field="new_due_on")
    for f in findings:
        if session.get(Domain, f.domain) is None:
            raise InvalidInput(f"没有领域 {f.domain}", field="findings")
    catalog = milestone_of(session, plan, "catalog")
    catalogs = {
        t.domain_key: t
        for t in session.exec(
            select(TrackedTask).where(
                TrackedTask.milestone_id == catalog.id, TrackedTask.unit_code == county_code
            )
        )
    }
    common = dict(now=now, calendar=calendar, request_id=request_id)
    if decision == ReviewDecision.approved:
        transition(session, task.id, Action.submit, actor, note=f"复核通过（{reviewer}）", **common)  # type: ignore[arg-type]
        for t in catalogs.values():
            if t.state == TaskState.submitted:
                transition(session, t.id, Action.accept, actor, note=f"复核通过（{reviewer}）", **common)  # type: ignore[arg-type]
    else:
        by_domain: dict[str, list[Finding]] = {}
        for f in findings:
            by_domain.setdefault(f.domain, []).append(f)
        for key, items in by_domain.items():
            note = "；".join(f"{FINDING_KINDS.get(f.kind, f.kind)}：{f.text}" for f in items)
            transition(session, catalogs[key].id, Action.return_, actor, note=note,  # type: ignore[arg-type]
                       new_due_on=new_due_on, detail={"findings": [f.__dict__ for f in items]}, **common)
        before = task.version
        task.version += 1
        session.add(task)
        session.add(AuditEvent(
            at=now, kind="review_returned", task_id=task.id, plan_id=task.plan_id,
            actor=actor.name, actor_org_code=actor.org_code, request_id=request_id,
            before={"version": before}, after={"version": task.version},
            detail={"reviewer": reviewer, "domains": sorted(by_domain)},
        ))
    review = CityReview(
        task_id=task.id, county_code=county_code, city_code=actor.org_code, reviewer=reviewer,  # type: ignore[arg-type]
        decision=decision, findings=[f.__dict__ for f in findings], created_at=now,
    )
    session.add(review)
    session.flush()
    return review
