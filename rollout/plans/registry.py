"""The organization registry in the database: load it from a registry file, look units up.

Domain functions: they take a ``Session`` and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from rollout.errors import NotFound
from rollout.models import Domain, Organization, OrgKind, ParentPeriod
from rollout.models.organization import department_code
from rollout.plans.schema import ProvinceRegistry, RegistrySpec

__all__ = [
    "RegistryCounts", "department_code", "find_org", "load_registry", "office_of",
    "offices_by_province", "superiors_on",
]


@dataclass(frozen=True)
class RegistryCounts:
    """How many organizations and domains a registry load wrote (inserted or updated)."""

    organizations: int
    domains: int


ORG_COLUMNS = ("code", "name", "short_name", "kind", "parent_code", "division_code", "is_zone",
               "aliases", "email", "province_code")
"""The ``Organization`` columns a registry file sets, in the order rows are compared."""
BATCH = 5_000


def _org_rows(block: ProvinceRegistry) -> list[dict[str, Any]]:
    """The organization rows of one province, parents before children (office, departments,
    cities, counties, townships), as dicts of ``ORG_COLUMNS``."""
    prov = block.province.code
    office_code = block.office.code or f"{prov}.office"

    def row(code: str, name: str, kind: OrgKind, parent: str | None, email: str | None, *,
            short_name: str | None = None, division_code: str | None = None,
            is_zone: bool = False, aliases: str = "") -> dict[str, Any]:
        return {"code": code, "name": name, "short_name": short_name, "kind": kind,
                "parent_code": parent, "division_code": division_code, "is_zone": is_zone,
                "aliases": aliases, "email": email, "province_code": prov}

    rows = [row(office_code, block.office.name, OrgKind.office, None, block.office.email,
                short_name=block.office.short_name)]
    for d in block.departments:
        rows.append(row(department_code(prov, d.key or ""), d.name, OrgKind.department, office_code,
                        d.email or f"gk-{d.key}@example.org", short_name=d.short_name))
    for c in block.cities:
        rows.append(row(c.code, c.name, OrgKind.city, office_code,
                        c.email or f"gk-{c.code.replace('.', '-')}@example.org",
                        short_name=c.short_name, division_code=None if c.zone else c.code,
                        is_zone=c.zone))
    for c in block.counties:
        rows.append(row(c.code, c.name, OrgKind.county, c.city, c.email or f"gk-{c.code}@example.org",
                        division_code=c.code, aliases=" ".join(c.aliases)))
    for t in block.townships:
        rows.append(row(t.code, t.name, OrgKind.township, t.county,
                        t.email or f"gk-{t.code}@example.org", division_code=t.code))
    return rows


def load_registry(session: Session, reg: RegistrySpec) -> RegistryCounts:
    """Insert or update every organization, former superior and domain of ``reg`` (all provinces).

    Idempotent: a second load of the same registry changes nothing. Organizations are compared
    with what is stored and written in executemany batches of ``BATCH`` (new rows inserted,
    changed rows updated by primary key, equal rows left alone), parents before children
    (office, departments, cities, counties, townships), so foreign keys hold at every statement
    and a 41,000-unit national registry loads in seconds. Every row gets its province's
    ``province_code``; a department's code is ``department_code(province, key)``.
    """
    rows = [r for block in reg.blocks for r in _org_rows(block)]
    cols = [getattr(Organization, c) for c in ORG_COLUMNS]
    stored = {r[0]: tuple(r) for r in session.execute(sa.select(*cols))}
    new = [r for r in rows if r["code"] not in stored]
    changed = [r for r in rows
               if r["code"] in stored and tuple(r[c] for c in ORG_COLUMNS) != stored[r["code"]]]
    for i in range(0, len(new), BATCH):
        session.execute(sa.insert(Organization), new[i:i + BATCH])
    for i in range(0, len(changed), BATCH):
        session.execute(sa.update(Organization), changed[i:i + BATCH])

    existing = {(p.org_code, p.until_on) for p in session.exec(select(ParentPeriod))}
    for block in reg.blocks:
        for c in block.counties:
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
        session.merge(Domain(key=d.key, name=d.name, department_key=d.department, position=i))
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
    current.update(former_superiors_on(session, day))
    return current


def former_superiors_on(session: Session, day: date) -> dict[str, str]:
    """Map org code → its superior's code on local ``day``, for the organizations a
    ``ParentPeriod`` covers that day (the earliest period whose ``until_on`` is after ``day``
    wins); every other organization's superior that day is its ``parent_code``."""
    periods = session.exec(
        select(ParentPeriod.org_code, ParentPeriod.parent_code)
        .where(ParentPeriod.until_on > day)
        .order_by(col(ParentPeriod.until_on).desc())
    )
    # latest first, so the earliest covering period is written last and wins
    return {code: parent for code, parent in periods}


def find_org(session: Session, ref: str, kind: OrgKind | None = None) -> Organization:
    """An organization by code, former code (alias), full name or short name (first match by
    code order when several share a name).

    Raises ``NotFound`` with a message naming ``ref`` (and the kind asked for).
    """
    ref = ref.strip()
    query = select(Organization).order_by(Organization.code)
    if kind is not None:
        query = query.where(Organization.kind == kind)
    named = sa.or_(Organization.code == ref, Organization.name == ref,
                   Organization.short_name == ref)
    org = session.exec(query.where(named)).first()
    if org is not None:
        return org
    if ref:
        for cand in session.exec(query.where(col(Organization.aliases).contains(ref, autoescape=True))):
            if ref in cand.aliases.split():
                return cand
    what = f"{kind.value} " if kind else ""
    raise NotFound(f"找不到机构 {what}'{ref}'（可用代码、名称或简称）")


def offices_by_province(session: Session) -> dict[str, str]:
    """Province code → its office's code, for every province of the registry (empty before
    ``rollout init``). An office row without ``province_code`` counts under its code's first
    two digits + ``0000``."""
    rows = session.exec(select(Organization.code, Organization.province_code)
                        .where(Organization.kind == OrgKind.office).order_by(Organization.code))
    return {prov or code[:2] + "0000": code for code, prov in rows}


def office_of(session: Session, province_code: str | None = None) -> Organization:
    """The provincial office: of ``province_code`` when given, else the only one.

    Raises ``NotFound`` when the registry is not loaded, when ``province_code`` has no office,
    or when ``province_code`` is None and the registry holds several provinces (the message
    lists them).
    """
    offices = offices_by_province(session)
    if not offices:
        raise NotFound("尚未载入机构名录：先运行 rollout init")
    if province_code is None:
        if len(offices) > 1:
            listed = "、".join(sorted(offices)[:10]) + ("等" if len(offices) > 10 else "")
            raise NotFound(f"机构名录有 {len(offices)} 个省（{listed}），请指明省份或单位")
        code = next(iter(offices.values()))
    elif province_code in offices:
        code = offices[province_code]
    else:
        raise NotFound(f"机构名录中没有省份 {province_code} 的政务公开办")
    org = session.get(Organization, code)
    assert org is not None
    return org
