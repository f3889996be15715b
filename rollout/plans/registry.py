"""The organization registry in the database: load it from a registry file, look units up.

Domain functions: they take a ``Session`` and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, col, select

from rollout.errors import NotFound
from rollout.models import Domain, Organization, OrgKind, ParentPeriod
from rollout.plans.schema import RegistrySpec


def department_code(province_code: str, key: str) -> str:
    """The stable code of a provincial department, e.g. ``220000.dept.education``."""
    return f"{province_code}.dept.{key}"


@dataclass(frozen=True)
class RegistryCounts:
    """How many organizations and domains a registry load wrote (inserted or updated)."""

    organizations: int
    domains: int


def load_registry(session: Session, reg: RegistrySpec) -> RegistryCounts:
    """Insert or update every organization, former superior and domain of ``reg``.

    Idempotent: a second load of the same registry changes nothing. Parents are written before
    children (office, departments, cities, counties) so foreign keys hold at every flush.
    """
    prov = reg.province.code
    office_code = reg.office.code or f"{prov}.office"
    rows: list[Organization] = [
        Organization(
            code=office_code,
            name=reg.office.name,
            short_name=reg.office.short_name,
            kind=OrgKind.office,
            email=reg.office.email,
        )
    ]
    for d in reg.departments:
        rows.append(
            Organization(
                code=d.code or department_code(prov, d.key or ""),
                name=d.name,
                short_name=d.short_name,
                kind=OrgKind.department,
                parent_code=office_code,
                email=d.email or f"gk-{d.key}@example.org",
            )
        )
    for c in reg.cities:
        rows.append(
            Organization(
                code=c.code,
                name=c.name,
                short_name=c.short_name,
                kind=OrgKind.city,
                parent_code=office_code,
                division_code=None if c.zone else c.code,
                is_zone=c.zone,
                email=c.email or f"gk-{c.code.replace('.', '-')}@example.org",
            )
        )
    for c in reg.counties:
        rows.append(
            Organization(
                code=c.code,
                name=c.name,
                kind=OrgKind.county,
                parent_code=c.city,
                division_code=c.code,
                aliases=" ".join(c.aliases),
                email=c.email or f"gk-{c.code}@example.org",
            )
        )
    for row in rows:
        session.merge(row)
    session.flush()

    existing = {(p.org_code, p.until_on): p for p in session.exec(select(ParentPeriod))}
    for c in reg.counties:
        for h in c.history:
            if (c.code, h.until) not in existing:
                session.add(
                    ParentPeriod(
                        org_code=c.code,
                        parent_code=h.city,
                        division_code=h.code,
                        until_on=h.until,
                        basis=h.basis,
                    )
                )
    for i, d in enumerate(reg.domains):
        session.merge(
            Domain(
                key=d.key,
                name=d.name,
                department_code=department_code(prov, d.department),
                position=i,
            )
        )
    session.flush()
    return RegistryCounts(organizations=len(rows), domains=len(reg.domains))


def superiors_on(session: Session, day: date) -> dict[str, str]:
    """Map org code → its superior's code in force on local ``day``.

    The superior today unless a ``ParentPeriod`` covers the day (the earliest period whose
    ``until_on`` is after ``day`` wins).
    """
    current = {
        code: parent
        for code, parent in session.exec(select(Organization.code, Organization.parent_code))
        if parent
    }
    periods = session.exec(
        select(ParentPeriod).where(ParentPeriod.until_on > day).order_by(
            col(ParentPeriod.until_on).desc()
        )
    )
    for p in periods:  # latest first, so the earliest covering period is written last and wins
        current[p.org_code] = p.parent_code
    return current


def find_org(session: Session, ref: str, kind: OrgKind | None = None) -> Organization:
    """An organization by code, former code (alias), full name or short name.

    Raises ``NotFound`` with a message naming ``ref`` (and the kind asked for).
    """
    ref = ref.strip()
    query = select(Organization)
    if kind is not None:
        query = query.where(Organization.kind == kind)
    candidates = list(session.exec(query))
    for org in candidates:
        if ref in (org.code, org.name, org.short_name) or ref in org.aliases.split():
            return org
    what = f"{kind.value} " if kind else ""
    raise NotFound(f"找不到机构 {what}'{ref}'（可用代码、名称或简称）")


def office_of(session: Session) -> Organization:
    """The provincial office. Raises ``NotFound`` when the registry is not loaded."""
    org = session.exec(select(Organization).where(Organization.kind == OrgKind.office)).first()
    if org is None:
        raise NotFound("尚未载入机构名录：先运行 rollout init")
    return org
