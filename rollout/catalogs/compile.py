"""Compile (编目检查) a county's catalogs: check every item, compare with the guideline, write a
report with findings, and submit the catalog task when clean (plan §三(一), §四(一), §四(三)).

A report is clean when it has no blocking finding (``extra_item`` never blocks). Clean → the
``catalog`` task is submitted through ``rollout.workflow.transition`` as the county; not clean →
the task is left as it is, with the findings attached to the report and listed in the
``catalog_compiled`` audit event on the task. Each compile resolves the catalog's earlier open
findings (they are superseded by the new report's). Domain functions: they take a ``Session``
and never commit.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from rollout.calendar import WorkingCalendar
from rollout.catalogs.checks import Problem, check_item, item_label
from rollout.catalogs.guidelines import compare, load_guideline
from rollout.catalogs.service_list import ServiceList, check_service_links
from rollout.catalogs.store import find_county, latest_version, version_items
from rollout.errors import NotFound, RequirementsPending
from rollout.models import (
    BLOCKING_KINDS,
    OPEN_STATES,
    AuditEvent,
    Catalog,
    CompileReport,
    Domain,
    Finding,
    FindingKind,
    FindingStatus,
    Organization,
    OrgKind,
    TrackedTask,
)
from rollout.plans.registry import find_org
from rollout.workflow import Action, Actor, Role, transition

#: Most finding messages copied into the audit event's detail.
AUDIT_FINDINGS_SHOWN = 20


@dataclass(frozen=True)
class CompileOutcome:
    """One catalog's compile: the report (``report_id`` None when skipped), whether it is
    ``clean``, the number of blocking findings and of extra items, and ``task_action``:
    ``submitted``, ``left_open``, ``already_delivered`` (task not open), ``no_task``,
    ``waiting`` (the task's requirements are not delivered) or ``unchanged`` (this version was
    already compiled and ``force`` was not given)."""

    catalog_id: int
    county_code: str
    domain_key: str
    version: int
    report_id: int | None
    clean: bool
    blocking: int
    extra: int
    task_action: str


def catalog_problems(session: Session, catalog: Catalog, version_id: int,
                     services: ServiceList | None) -> tuple[list[Problem], str]:
    """Every problem of one catalog version: element checks per item, service-name checks
    (with a service list), and items of the domain's guideline missing from it (缺项, plan
    §四(三)); with the guideline's status (完整/部分/待补充). Used by compile and acceptance."""
    items = version_items(session, version_id)
    problems = [p for n, item in enumerate(items, start=1) for p in check_item(item, n)]
    if services is not None:
        problems += check_service_links(items, services)
    guideline = load_guideline(catalog.domain_key)
    comparison = compare(guideline, items)
    problems += [
        Problem(FindingKind.missing_item, None,
                f"缺项：{guideline.name}领域标准指引中的「{g.label}」未列入目录（{guideline.source}）")
        for g in comparison.missing
    ]
    problems += [
        Problem(FindingKind.extra_item, None, f"增列事项：{item_label(item, n)}不在标准指引中（允许保留）", n)
        for n, item in comparison.extra
    ]
    return problems, guideline.status


def compile_catalog(
    session: Session,
    catalog: Catalog,
    *,
    now: datetime,
    calendar: WorkingCalendar,
    services: ServiceList | None = None,
    force: bool = False,
    actor_name: str = "system",
) -> CompileOutcome:
    """Check the newest version of ``catalog`` and act on its task (see the module docstring).

    ``services``: the service platform's list (None: links are not checked). ``force``: compile
    again a version that already has a compile report. Raises ``NotFound`` when the catalog has
    no version or the domain has no guideline file.
    """
    version = latest_version(session, catalog.id)
    if version is None:
        raise NotFound(f"目录 {catalog.id} 还没有任何版本")
    base = dict(catalog_id=catalog.id, county_code=catalog.county_code,
                domain_key=catalog.domain_key, version=version.number)
    done = session.exec(
        select(CompileReport).where(
            CompileReport.version_id == version.id, CompileReport.stage == "compile"
        ).order_by(col(CompileReport.id).desc())
    ).first()
    if done is not None and not force:
        return CompileOutcome(**base, report_id=done.id, clean=done.clean,
                              blocking=done.summary.get("blocking", 0),
                              extra=done.summary.get("extra", 0), task_action="unchanged")

    problems, guideline_status = catalog_problems(session, catalog, version.id, services)
    blocking = [p for p in problems if p.kind in BLOCKING_KINDS]
    counts = Counter(p.kind.value for p in problems)
    report = CompileReport(
        catalog_id=catalog.id, version_id=version.id, stage="compile", created_at=now,
        clean=not blocking, item_count=version.item_count, finding_count=len(problems),
        guideline_status=guideline_status,
        summary={"by_kind": dict(counts), "blocking": len(blocking),
                 "extra": counts.get(FindingKind.extra_item.value, 0)},
    )
    session.add(report)
    for old in session.exec(
        select(Finding).where(Finding.catalog_id == catalog.id, Finding.status == FindingStatus.open)
    ):
        old.status, old.resolved_at = FindingStatus.resolved, now
        session.add(old)
    session.flush()
    session.add_all(
        Finding(report_id=report.id, catalog_id=catalog.id, kind=p.kind,
                blocking=p.kind in BLOCKING_KINDS, item_position=p.position,
                element=p.element, message=p.message)
        for p in problems
    )

    task = session.get(TrackedTask, catalog.task_id) if catalog.task_id else None
    action = _act_on_task(session, task, report, version.number, now=now, calendar=calendar,
                          actor_name=actor_name)
    report.summary = {**report.summary, "task_action": action}
    session.add(report)
    session.add(
        AuditEvent(
            at=now, kind="catalog_compiled", task_id=task.id if task else None,
            plan_id=task.plan_id if task else None, actor=actor_name,
            actor_org_code=catalog.county_code,
            detail={"catalog_id": catalog.id, "version": version.number, "report_id": report.id,
                    "clean": report.clean, "blocking": len(blocking), "task_action": action,
                    "findings": [p.message for p in blocking[:AUDIT_FINDINGS_SHOWN]]},
        )
    )
    session.flush()
    return CompileOutcome(**base, report_id=report.id, clean=report.clean,
                          blocking=len(blocking), extra=report.summary["extra"], task_action=action)


def _act_on_task(session: Session, task: TrackedTask | None, report: CompileReport, number: int,
                 *, now: datetime, calendar: WorkingCalendar, actor_name: str) -> str:
    if task is None:
        return "no_task"
    if task.state not in OPEN_STATES:
        return "already_delivered"
    if not report.clean:
        return "left_open"
    actor = Actor(org_code=task.org_code, role=Role.county, name=actor_name)
    try:
        transition(session, task.id, Action.submit, actor, now=now, calendar=calendar,
                   note=f"公开事项目录第{number}版编目检查通过",
                   detail={"compile_report_id": report.id, "catalog_version": number})
    except RequirementsPending:
        return "waiting"
    return "submitted"


def compile_county(
    session: Session,
    county_code: str,
    *,
    now: datetime,
    calendar: WorkingCalendar,
    services: ServiceList | None = None,
    force: bool = False,
) -> list[CompileOutcome]:
    """Compile every catalog of one county, in the registry's domain order."""
    catalogs = session.exec(
        select(Catalog)
        .join(Domain, col(Domain.key) == Catalog.domain_key)
        .where(Catalog.county_code == county_code)
        .order_by(Domain.position)
    ).all()
    return [
        compile_catalog(session, c, now=now, calendar=calendar, services=services, force=force)
        for c in catalogs
    ]


def counties_in_scope(
    session: Session, county: str | None = None, city: str | None = None, all_counties: bool = False
) -> list[str]:
    """The county codes a compile run covers: one county (code or name), the counties now under
    one city (code or name), or all. Exactly one of the three must be given; ``ValueError``
    otherwise, ``NotFound`` for an unknown county or city."""
    if sum(bool(x) for x in (county, city, all_counties)) != 1:
        raise ValueError("请指定 --county、--city 或 --all 之一")
    if county:
        return [find_county(session, county).code]
    q = select(Organization.code).where(Organization.kind == OrgKind.county)
    if city:
        q = q.where(Organization.parent_code == find_org(session, city, kind=OrgKind.city).code)
    return list(session.exec(q.order_by(Organization.code)))
