"""Provincial acceptance (验收) of uploaded catalogs, with the return-and-correct loop.

Plan §四(四) 验收目录: "12月1日前，省政府政务公开主管部门会同26个领域涉及到的中省直部门对各
基层政府上传到政务公开事项查询系统的各领域公开事项名称和要素进行验收，查找不足、指出问题、
反馈改正".

Per county × domain whose ``acceptance`` task is ``submitted``: the newest version of the
catalog is checked again with the compile checks (elements, vocabularies, time limits, the
guideline's items, service names; ``rollout.catalogs.compile``) and an ``acceptance`` report
with its findings is written (earlier open findings of the catalog are resolved). Blocking
findings → the task is returned (``反馈改正``) with the findings as the note and a new due day
``add_working_days(today, N)``, N = the plan's ``acceptance_correction_working_days``; clean →
the task is accepted and the version marked ``accepted``. The county corrects (imports a new
version) and submits the task again; the next run checks it again. Each check writes one
``catalog_acceptance_checked`` audit event on the task, after the transition's own event.
Domain functions: they take a ``Session`` and ``now`` and never commit.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session, col, select

from rollout.calendar import WorkingCalendar, local_day
from rollout.catalogs.compile import AUDIT_FINDINGS_SHOWN, catalog_problems
from rollout.catalogs.service_list import ServiceList
from rollout.catalogs.store import get_catalog, latest_version
from rollout.errors import NotFound, PlanError
from rollout.models import (
    BLOCKING_KINDS,
    AuditEvent,
    Catalog,
    CatalogVersion,
    CompileReport,
    Domain,
    Finding,
    FindingStatus,
    Milestone,
    Organization,
    OrgKind,
    Plan,
    TaskState,
    TrackedTask,
)
from rollout.plans.schema import DATA_DIR, load_plan_spec
from rollout.workflow import Action, Actor, Role, transition

ACCEPTANCE_MILESTONE = "acceptance"
STAGE = "acceptance"
#: The name the acceptance flow signs its transitions with.
ACTOR_NAME = "验收流程"


def correction_working_days(plan: Plan) -> int:
    """The plan file's ``acceptance_correction_working_days`` (default 10) for a loaded plan.

    Read from the file the plan was loaded from (``Plan.source_file``), else the bundled file of
    the same key. Raises ``PlanError`` when neither is there or the file names another plan.
    """
    path = Path(plan.source_file) if plan.source_file else None
    if path is None or not path.is_file():
        path = DATA_DIR / f"{plan.key}.yaml"
    if not path.is_file():
        raise PlanError(f"找不到计划 {plan.key} 的计划文件（{plan.source_file or '未记录'}），无法确定反馈改正期限")
    spec = load_plan_spec(path)
    if spec.key != plan.key:
        raise PlanError(f"计划文件 {path} 是计划 {spec.key}，不是 {plan.key}")
    return spec.acceptance_correction_working_days


def office_actor(session: Session) -> Actor:
    """The provincial office acting as the acceptance flow (``Role.office``, ``验收流程``).
    Raises ``NotFound`` when the registry has no office."""
    office = session.exec(select(Organization).where(Organization.kind == OrgKind.office)).first()
    if office is None:
        raise NotFound("机构名录中没有省政务公开办，先运行 rollout init")
    return Actor(office.code, Role.office, ACTOR_NAME)


def acceptance_task(session: Session, county_code: str, domain_key: str) -> TrackedTask | None:
    """The ``acceptance`` task of a county and domain in the most recently loaded plan."""
    return session.exec(
        select(TrackedTask)
        .join(Milestone, col(Milestone.id) == TrackedTask.milestone_id)
        .where(Milestone.key == ACCEPTANCE_MILESTONE, TrackedTask.unit_code == county_code,
               TrackedTask.domain_key == domain_key)
        .order_by(col(TrackedTask.plan_id).desc())
    ).first()


@dataclass(frozen=True)
class AcceptanceOutcome:
    """One check: the task, the catalog ``version`` checked (None: nothing uploaded), the
    ``report_id`` (None: nothing uploaded), ``action`` (``accepted`` or ``returned``), the
    correction due day ``new_due_on`` (ISO, returned only) and the blocking ``findings``."""

    county_code: str
    domain_key: str
    task_key: str
    version: int | None
    report_id: int | None
    action: str
    new_due_on: str | None = None
    findings: list[str] = field(default_factory=list)


def accept_catalog(
    session: Session,
    task: TrackedTask,
    *,
    now: datetime,
    calendar: WorkingCalendar,
    correction_days: int,
    actor: Actor,
    services: ServiceList | None = None,
) -> AcceptanceOutcome:
    """Check the newest version of the catalog of a ``submitted`` acceptance ``task`` and accept
    or return the task (see the module docstring). ``correction_days``: working days for the
    correction. Raises ``TransitionError`` when the task is not submitted, ``NotFound`` when the
    domain has no guideline file, ``MissingHolidayData`` when the correction day falls in a year
    without holiday data (nothing is changed then)."""
    county, domain = task.unit_code or task.org_code, task.domain_key or ""
    catalog = get_catalog(session, county, domain)
    version = latest_version(session, catalog.id) if catalog else None
    report, blocking = None, []
    if catalog is None or version is None:
        name = session.get(Domain, domain)
        blocking = [f"未上传{name.name if name else domain}领域的公开事项目录"]
    else:
        problems, guideline_status = catalog_problems(session, catalog, version.id, services)
        blocking = [p.message for p in problems if p.kind in BLOCKING_KINDS]
        counts = Counter(p.kind.value for p in problems)
        report = CompileReport(
            catalog_id=catalog.id, version_id=version.id, stage=STAGE, created_at=now,
            clean=not blocking, item_count=version.item_count, finding_count=len(problems),
            guideline_status=guideline_status,
            summary={"by_kind": dict(counts), "blocking": len(blocking),
                     "extra": len(problems) - len(blocking)},
        )
        session.add(report)
        for old in session.exec(select(Finding).where(
                Finding.catalog_id == catalog.id, Finding.status == FindingStatus.open)):
            old.status, old.resolved_at = FindingStatus.resolved, now
            session.add(old)
        session.flush()
        session.add_all(
            Finding(report_id=report.id, catalog_id=catalog.id, kind=p.kind,
                    blocking=p.kind in BLOCKING_KINDS, item_position=p.position,
                    element=p.element, message=p.message)
            for p in problems
        )
    number = version.number if version else None
    detail = {"acceptance_report_id": report.id if report else None, "catalog_version": number}
    new_due_on = None
    if blocking:
        new_due_on = calendar.add_working_days(local_day(now), correction_days)
        shown = "；".join(blocking[:AUDIT_FINDINGS_SHOWN])
        more = f"（共{len(blocking)}项）" if len(blocking) > AUDIT_FINDINGS_SHOWN else ""
        transition(session, task.id, Action.return_, actor, now=now, calendar=calendar,  # type: ignore[arg-type]
                   note=f"验收发现问题，请于{new_due_on.month}月{new_due_on.day}日前改正：{shown}{more}",
                   new_due_on=new_due_on, detail=detail)
    else:
        transition(session, task.id, Action.accept, actor, now=now, calendar=calendar,  # type: ignore[arg-type]
                   note=f"公开事项目录第{number}版名称和要素验收通过", detail=detail)
        for v in session.exec(select(CatalogVersion).where(
                CatalogVersion.catalog_id == catalog.id)):  # type: ignore[union-attr]
            v.accepted, v.accepted_at = (True, now) if v.id == version.id else (False, None)  # type: ignore[union-attr]
            session.add(v)
    action = "returned" if blocking else "accepted"
    if report is not None:
        report.summary = {**report.summary, "task_action": action}
        session.add(report)
    session.add(AuditEvent(
        at=now, kind="catalog_acceptance_checked", task_id=task.id, plan_id=task.plan_id,
        actor=actor.name, actor_org_code=actor.org_code,
        detail={**detail, "catalog_id": catalog.id if catalog else None, "clean": not blocking,
                "blocking": len(blocking), "task_action": action,
                "new_due_on": new_due_on.isoformat() if new_due_on else None,
                "findings": blocking[:AUDIT_FINDINGS_SHOWN]},
    ))
    session.flush()
    return AcceptanceOutcome(county, domain, task.key, number, report.id if report else None,
                             action, new_due_on.isoformat() if new_due_on else None, blocking)


def accept_county(
    session: Session,
    county_code: str,
    *,
    now: datetime,
    calendar: WorkingCalendar,
    correction_days: int,
    actor: Actor,
    services: ServiceList | None = None,
) -> list[AcceptanceOutcome]:
    """Check every ``submitted`` acceptance task of one county, in the registry's domain order;
    tasks in other states are left alone (not submitted yet, returned and not resubmitted,
    already accepted)."""
    tasks = session.exec(
        select(TrackedTask)
        .join(Milestone, col(Milestone.id) == TrackedTask.milestone_id)
        .join(Domain, col(Domain.key) == TrackedTask.domain_key)
        .where(Milestone.key == ACCEPTANCE_MILESTONE, TrackedTask.unit_code == county_code,
               TrackedTask.state == TaskState.submitted)
        .order_by(col(TrackedTask.plan_id), col(Domain.position))
    ).all()
    return [accept_catalog(session, t, now=now, calendar=calendar, correction_days=correction_days,
                           actor=actor, services=services) for t in tasks]


def acceptance_report(session: Session, city_code: str) -> dict:
    """The acceptance report of one city (its counties today), from the newest plan's
    acceptance tasks: ``{"city", "city_name", "tasks", "accepted", "returned", "submitted",
    "not_submitted", "findings": [{"county", "domain", "kind", "message"}]}``; ``submitted`` =
    awaiting a check, ``not_submitted`` = pending or in progress; ``findings``: the open blocking
    findings of acceptance reports, by county code then finding id. Raises ``NotFound``."""
    city = session.get(Organization, city_code)
    if city is None or city.kind != OrgKind.city:
        raise NotFound(f"市（州）{city_code} 不存在")
    counties = list(session.exec(select(Organization.code).where(
        Organization.parent_code == city_code, Organization.kind == OrgKind.county)))
    plan_id = session.exec(
        select(sa.func.max(Milestone.plan_id)).where(Milestone.key == ACCEPTANCE_MILESTONE)
    ).one()
    states = Counter(session.exec(
        select(TrackedTask.state)
        .join(Milestone, col(Milestone.id) == TrackedTask.milestone_id)
        .where(Milestone.key == ACCEPTANCE_MILESTONE, Milestone.plan_id == plan_id,
               col(TrackedTask.unit_code).in_(counties))
    ).all())
    rows = session.exec(
        select(Finding, CompileReport.catalog_id)
        .join(CompileReport, col(CompileReport.id) == Finding.report_id)
        .where(CompileReport.stage == STAGE, Finding.status == FindingStatus.open,
               col(Finding.blocking).is_(True))
        .order_by(col(Finding.id))
    ).all()
    catalogs = {c.id: c for c in session.exec(select(Catalog).where(col(Catalog.county_code).in_(counties)))}
    findings = sorted(
        ({"county": catalogs[cid].county_code, "domain": catalogs[cid].domain_key,
          "kind": f.kind.value, "message": f.message, "_id": f.id}
         for f, cid in rows if cid in catalogs),
        key=lambda r: (r["county"], r["_id"]),
    )
    for r in findings:
        del r["_id"]
    return {
        "city": city_code, "city_name": city.name, "tasks": sum(states.values()),
        "accepted": states[TaskState.accepted], "returned": states[TaskState.returned],
        "submitted": states[TaskState.submitted],
        "not_submitted": states[TaskState.pending] + states[TaskState.in_progress],
        "findings": findings,
    }
