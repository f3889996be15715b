"""Instantiate a plan: registry, plan and milestone rows, and one tracked task per unit.

``instantiate_plan`` is idempotent: running it again creates nothing new; with an edited plan it
moves the due days of tasks that are not done (recording a ``task_due_moved`` audit event each)
and leaves done ones alone. Tasks are written with bulk inserts, not one ORM object per row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from rollout import schedules
from rollout.calendar import WorkingCalendar, end_of_day_at
from rollout.deadlines import DeadlinePolicy
from rollout.models import (
    DONE_STATES,
    AuditEvent,
    Domain,
    Milestone,
    Organization,
    OrgKind,
    Plan,
    TaskSchedule,
    TaskState,
    TrackedTask,
)
from rollout.models.organization import department_code
from rollout.models.types import AwareDateTime
from rollout.plans.bulk import begin_bulk_load, insert_rows
from rollout.plans.registry import load_registry, offices_by_province, superiors_on
from rollout.plans.schema import (
    PlanSpec,
    effective_policy,
    load_plan_spec,
    load_registry_spec,
    registry_path,
)

BATCH = 5_000
Progress = Callable[[int], None]


@dataclass
class InitReport:
    """What ``instantiate_plan`` did: tasks per milestone key (all, after the run), how many it
    created and how many due days it moved."""

    plan_key: str
    tasks: dict[str, int] = field(default_factory=dict)
    created: int = 0
    moved: int = 0

    @property
    def total(self) -> int:
        return sum(self.tasks.values())


@dataclass(frozen=True, slots=True)
class TaskSeed:
    """One task a milestone fans out to, before it is stored."""

    key: str
    org_code: str
    unit_code: str | None
    domain_key: str | None


def fan_out(session: Session, milestone: Milestone) -> Iterator[TaskSeed]:
    """The tasks a milestone's fan-out rule gives over the registry in ``session``.

    ``over`` dimensions: at most one org kind (each organization of that kind, of every
    province, in code order) and/or ``domain`` (each domain, in position order). ``owner``: the
    unit itself, ``parent`` (its superior on the due day), ``department`` (the domain's
    department of the unit's province: ``department_code(province, domain.department_key)``) or
    ``office`` (the office of the unit's province).

    Keys: ``<milestone>:<unit>:<domain>`` (the parts that apply). A milestone over no org kind
    (``[]`` or ``[domain]``) gives one task per province (× domain); with one province the key
    has no province part (``work_plan:social_assistance``, ``training``), with several it has
    (``work_plan:220000:social_assistance``, ``training:220000``) and ``unit_code`` is None.

    Reads the registry with a few queries per milestone, never one per task: 1.2 million seeds
    are yielded in seconds.
    """
    dims = milestone.over_dims
    kinds = [d for d in dims if d != "domain"]
    owner = milestone.owner
    offices = offices_by_province(session)
    domains: list[tuple[str, str] | None] = [None]
    if "domain" in dims:
        domains = [
            (key, dept) for key, dept in session.exec(
                select(Domain.key, Domain.department_key).order_by(Domain.position)
            )
        ]
    ms = milestone.key
    if not kinds:
        per_province = len(offices) > 1
        for prov, office in sorted(offices.items()):
            head = f"{ms}:{prov}" if per_province else ms
            for dom in domains:
                org = department_code(prov, dom[1]) if owner == "department" and dom else office
                yield TaskSeed(f"{head}:{dom[0]}" if dom else head, org, None,
                               dom[0] if dom else None)
        return
    units = session.exec(
        select(Organization.code, Organization.province_code)
        .where(Organization.kind == OrgKind(kinds[0]))
        .order_by(Organization.code)
    ).all()
    superiors = superiors_on(session, milestone.due_on) if owner == "parent" else {}
    for unit, prov in units:
        prov = prov or unit[:2] + "0000"
        for dom in domains:
            if owner == "office":
                org = offices[prov]
            elif owner == "department":
                org = department_code(prov, dom[1])  # type: ignore[index]
            elif owner == "parent":
                org = superiors[unit]
            else:
                org = unit
            if dom is None:
                yield TaskSeed(f"{ms}:{unit}", org, unit, None)
            else:
                yield TaskSeed(f"{ms}:{unit}:{dom[0]}", org, unit, dom[0])


def _upsert_plan(session: Session, spec: PlanSpec, path: Path, digest: str) -> Plan:
    plan = session.exec(select(Plan).where(Plan.key == spec.key)).first() or Plan(
        key=spec.key, title=spec.title
    )
    plan.title = spec.title
    plan.document_number = spec.document_number
    plan.issued_on = spec.issued_on
    plan.timezone = spec.timezone
    plan.source_file = str(path)
    plan.content_sha256 = digest
    plan.policy = spec.policy.model_dump(mode="json")
    plan.scoring = dict(spec.scoring)
    session.add(plan)
    session.flush()
    return plan


def _upsert_milestones(session: Session, spec: PlanSpec, plan: Plan) -> list[Milestone]:
    existing = {m.key: m for m in session.exec(select(Milestone).where(Milestone.plan_id == plan.id))}
    out = []
    for i, ms in enumerate(spec.milestones):
        m = existing.get(ms.key) or Milestone(plan_id=plan.id, key=ms.key, title=ms.title,
                                             due_on=ms.due, owner=ms.fan_out.owner)
        m.title = ms.title
        m.section = ms.section
        m.starts_on = ms.starts
        m.due_on = ms.due
        m.over = " ".join(ms.fan_out.over)
        m.owner = ms.fan_out.owner
        m.accepted_by = ms.accepted_by
        m.requires = " ".join(ms.requires)
        m.follows = " ".join(ms.follows)
        m.position = i
        m.policy = effective_policy(spec, ms).model_dump(mode="json")
        session.add(m)
        out.append(m)
    session.flush()
    return out


def instantiate_plan(
    session: Session,
    plan_path: Path,
    *,
    now: datetime,
    calendar: WorkingCalendar,
    progress: Progress | None = None,
) -> InitReport:
    """Load ``plan_path`` (and its registry) into the database and fan its milestones out.

    Validates both files completely before writing anything (``PlanError`` naming file and
    field); the caller's unit of work makes the whole load atomic. ``now`` stamps ``opened_at``
    and audit events. ``progress`` is called with the number of tasks handled per batch.
    """
    spec = load_plan_spec(plan_path)
    reg_spec = load_registry_spec(registry_path(plan_path, spec))
    digest = hashlib.sha256(plan_path.read_bytes()).hexdigest()

    load_registry(session, reg_spec)
    plan = _upsert_plan(session, spec, plan_path, digest)
    milestones = _upsert_milestones(session, spec, plan)
    report = InitReport(plan_key=spec.key)

    existing: dict[str, tuple[int, TaskState, date, date]] = {
        key: (tid, state, due, orig)
        for tid, key, state, due, orig in session.exec(
            select(
                TrackedTask.id, TrackedTask.key, TrackedTask.state,
                TrackedTask.due_on, TrackedTask.original_due_on,
            ).where(TrackedTask.plan_id == plan.id)
        )
    }
    firsts: dict[int, datetime | None] = {}  # milestone id -> a new task's first action
    for m in milestones:
        policy = DeadlinePolicy.model_validate(m.policy)
        first_at, note, _ = schedules.next_action(m.due_on, policy, calendar,
                                                  after=schedules.EPOCH)
        due_at = end_of_day_at(m.due_on)
        batch: list[dict[str, Any]] = []
        count = 0
        firsts[m.id] = first_at
        for seed in fan_out(session, m):
            count += 1
            old = existing.get(seed.key)
            if old is None:
                batch.append(
                    dict(
                        plan_id=plan.id, milestone_id=m.id, key=seed.key, org_code=seed.org_code,
                        unit_code=seed.unit_code, domain_key=seed.domain_key,
                        state=TaskState.pending, due_on=m.due_on, original_due_on=m.due_on,
                        due_at=due_at, opened_at=now, schedule_note=note, times_returned=0, version=1,
                    )
                )
                if len(batch) >= BATCH:
                    report.created += _insert(session, batch, progress)
            elif old[3] != m.due_on and old[1] not in DONE_STATES | {TaskState.cancelled}:
                _move_due(session, old[0], old[2], old[3], m, policy, calendar, now)
                report.moved += 1
        report.created += _insert(session, batch, progress)
        report.tasks[m.key] = count
    if report.created:
        _add_schedules(session, plan.id, firsts)
    session.add(
        AuditEvent(
            at=now, kind="plan_loaded", plan_id=plan.id,
            detail={"file": str(plan_path), "sha256": digest, "created": report.created,
                    "moved": report.moved, "tasks": report.tasks},
        )
    )
    session.flush()
    return report


def _insert(session: Session, batch: list[dict[str, Any]], progress: Progress | None) -> int:
    """Store ``batch`` (task column dicts) with a bulk insert and empty it; returns its size.

    A first load into an empty task table on PostgreSQL drops the table's indexes and foreign
    keys for the load and makes them again before the commit (``rollout.plans.bulk``).
    """
    if batch:
        begin_bulk_load(session, TrackedTask.__table__)  # type: ignore[arg-type]
    n = insert_rows(session, TrackedTask.__table__, batch)  # type: ignore[arg-type]
    if n:
        batch.clear()
        if progress:
            progress(n)
    return n


def _add_schedules(session: Session, plan_id: int, firsts: dict[int, datetime | None]) -> None:
    """Give each task of plan ``plan_id`` that has no ``TaskSchedule`` yet (the tasks just
    inserted) its row, with the first action of its milestone (``firsts``: milestone id -> aware
    time or None). One INSERT … SELECT (the bulk insert returns no ids); on a first load into an
    empty table, PostgreSQL loads it without its index and foreign key, made again at commit
    (``rollout.plans.bulk``)."""
    table = TaskSchedule.__table__
    begin_bulk_load(session, table)  # type: ignore[arg-type]
    t = TrackedTask.__table__
    first = sa.case(*[(t.c.milestone_id == mid, sa.literal(at, AwareDateTime()))
                      for mid, at in sorted(firsts.items()) if at is not None],
                    else_=sa.null())
    have = sa.select(table.c.task_id).where(table.c.task_id == t.c.id)  # type: ignore[attr-defined]
    session.execute(sa.insert(table).from_select(  # type: ignore[arg-type]
        ["task_id", "next_action_at"],
        sa.select(t.c.id, first).where(t.c.plan_id == plan_id, ~sa.exists(have)),
    ))


def _move_due(
    session: Session,
    task_id: int,
    due_on: date,
    original_due_on: date,
    m: Milestone,
    policy: DeadlinePolicy,
    calendar: WorkingCalendar,
    now: datetime,
) -> None:
    """Move one open task to the plan's new due day; an approved extension (a due day already
    different from the original) keeps its own day, only the original moves."""
    task = session.get(TrackedTask, task_id)
    assert task is not None
    before = {"due_on": due_on.isoformat(), "original_due_on": original_due_on.isoformat()}
    task.original_due_on = m.due_on
    if due_on == original_due_on:
        task.due_on = m.due_on
        task.due_at = end_of_day_at(m.due_on)
        schedules.reschedule(session, task, policy, calendar, after=schedules.EPOCH,
                             restart=True)
    task.version += 1
    session.add(task)
    session.add(
        AuditEvent(
            at=now, kind="task_due_moved", task_id=task.id, plan_id=task.plan_id,
            before=before,
            after={"due_on": task.due_on.isoformat(),
                   "original_due_on": task.original_due_on.isoformat()},
            detail={"reason": "计划文件修改", "milestone": m.key},
        )
    )
