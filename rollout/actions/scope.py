"""Which tasks an actor sees and acts on (every read and write is scoped).

- county: its own tasks (owner or fan-out unit is the county);
- city: its own and its counties' (counties whose superior is the city today);
- department: the tasks of its domains owned by units of its province, and its own;
- office: the tasks owned by units of its province (with one province in the registry: all).

A task outside the scope is reported as not found (404), never as forbidden, so its existence
does not leak.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, col, select

from rollout.errors import NotFound
from rollout.models import AuditEvent, Domain, Milestone, Organization, Plan, TrackedTask
from rollout.models.organization import department_code
from rollout.workflow import Actor, Role


def scope_condition(session: Session, actor: Actor) -> sa.ColumnElement[bool] | None:
    """A SQL condition on ``TrackedTask`` selecting what ``actor`` sees; None = everything."""
    if actor.role == Role.office:
        return _province_condition(session, actor.org_code)
    if actor.role == Role.county:
        codes = [actor.org_code]
    elif actor.role == Role.city:
        kids = session.exec(
            select(Organization.code).where(Organization.parent_code == actor.org_code)
        )
        codes = [actor.org_code, *kids]
    else:
        org = session.get(Organization, actor.org_code)
        prov = org.province if org is not None else ""
        domains = [
            key for key, dept in session.exec(select(Domain.key, Domain.department_key))
            if department_code(prov, dept) == actor.org_code
        ]
        in_province = select(Organization.code).where(Organization.province_code == prov)
        return sa.or_(
            sa.and_(col(TrackedTask.domain_key).in_(domains),
                    col(TrackedTask.org_code).in_(in_province)),
            col(TrackedTask.org_code) == actor.org_code,
        )
    return sa.or_(col(TrackedTask.org_code).in_(codes), col(TrackedTask.unit_code).in_(codes))


def province_units(session: Session, office_code: str) -> sa.Select | None:
    """The codes of the organizations in the province of the office ``office_code``
    (``Organization.province_code``; a code without one: its first two digits), as a select of
    one column for ``IN``; None when every organization is in that province (one province: no
    filter to pay for). Raises ``NotFound`` if the registry has no ``office_code``."""
    office = session.get(Organization, office_code)
    if office is None:
        raise NotFound(f"机构名录中没有 {office_code}")
    province = office.province
    org = Organization.__table__
    in_province = sa.or_(
        org.c.province_code == province,
        sa.and_(org.c.province_code.is_(None), sa.func.substr(org.c.code, 1, 2) == province[:2]),
    )
    if session.execute(sa.select(org.c.code).where(sa.not_(in_province)).limit(1)).first() is None:
        return None
    return sa.select(org.c.code).where(in_province)


def same_province(session: Session, office_code: str, org: Organization) -> bool:
    """Whether ``org`` is in the province of the office ``office_code``
    (``Organization.province``); False if the registry has no ``office_code``."""
    office = session.get(Organization, office_code)
    return office is not None and org.province == office.province


def owned_among(units: sa.Select | None) -> sa.ColumnElement[bool] | None:
    """A condition on ``TrackedTask``: owned by one of ``units`` (from ``province_units``);
    None for None (every unit)."""
    return None if units is None else col(TrackedTask.org_code).in_(units)


def office_audit_condition(session: Session, office_code: str) -> sa.ColumnElement[bool] | None:
    """A condition on ``AuditEvent``: what the office ``office_code`` may read of the audit
    trail. Events about a task: the task is owned in its province; events about no task
    (contacts, accounts, logins, tokens, calendar feeds): made for an organization of its
    province, or by the system for the whole deployment (no organization: ``plan_loaded``).
    None when every organization is in its province (``province_units``)."""
    units = province_units(session, office_code)
    if units is None:
        return None
    tasks = sa.select(TrackedTask.id).where(owned_among(units))
    return sa.or_(
        col(AuditEvent.task_id).in_(tasks),
        sa.and_(col(AuditEvent.task_id).is_(None), sa.or_(
            col(AuditEvent.actor_org_code).is_(None), col(AuditEvent.actor_org_code).in_(units))),
    )


def _province_condition(session: Session, office_code: str) -> sa.ColumnElement[bool] | None:
    """Tasks owned by units of the province of ``office_code`` (``province_units``); None when
    every organization is in that province."""
    return owned_among(province_units(session, office_code))


def can_see(session: Session, actor: Actor, task: TrackedTask) -> bool:
    """Whether ``task`` is in ``actor``'s scope (same rule as ``scope_condition``)."""
    cond = scope_condition(session, actor)
    if cond is None:
        return True
    q = select(TrackedTask.id).where(TrackedTask.id == task.id, cond)
    return session.exec(q).first() is not None


def visible_task(
    session: Session, actor: Actor, task_id: int, *, for_update: bool = False
) -> TrackedTask:
    """Task ``task_id`` if ``actor`` may see it, else ``NotFound`` (also for another unit's).

    ``for_update``: lock the row until the transaction ends (``SELECT … FOR UPDATE`` on
    PostgreSQL; SQLite already holds the write lock) and re-read it, so a version check made
    after this sees the last committed version.
    """
    q = select(TrackedTask).where(TrackedTask.id == task_id)
    if for_update:
        q = q.with_for_update().execution_options(populate_existing=True)
    task = session.exec(q).first()
    if task is None or not can_see(session, actor, task):
        raise NotFound(f"任务 {task_id} 不存在或不在您的权限范围内")
    return task


def current_plan(session: Session, key: str | None = None) -> Plan:
    """The plan with ``key``, else the most recently loaded one; ``NotFound`` if none."""
    q = select(Plan)
    if key:
        q = q.where(Plan.key == key)
    plan = session.exec(q.order_by(col(Plan.id).desc())).first()
    if plan is None:
        raise NotFound(f"没有计划 {key or ''}：先运行 rollout init")
    return plan


def milestone_of(session: Session, plan: Plan, key: str) -> Milestone:
    """Milestone ``key`` of ``plan``; ``NotFound`` if the plan has none such."""
    m = session.exec(select(Milestone).where(Milestone.plan_id == plan.id, Milestone.key == key)).first()
    if m is None:
        raise NotFound(f"计划 {plan.key} 没有进度节点 {key}")
    return m
