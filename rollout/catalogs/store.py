"""Catalogs in the database: find or create a county × domain catalog, import a file as a new
version, read a version's items back, export it.

Domain functions: they take a ``Session`` and never commit; the edge's unit of work makes an
import land whole or not at all (the file is read and checked for readability before anything
is written).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel import Session, col, func, select

from rollout.catalogs.tabular import ItemDraft, ReadTable, read_catalog_table, write_catalog_table
from rollout.errors import CatalogImportError, NotFound
from rollout.models import (
    AuditEvent,
    Catalog,
    CatalogItem,
    CatalogVersion,
    Domain,
    Milestone,
    Organization,
    OrgKind,
    TrackedTask,
)
from rollout.plans.registry import find_org

#: The plan milestone whose tasks a catalog belongs to (jilin-2020.yaml, §四(一)).
CATALOG_MILESTONE = "catalog"
_DRAFT_FIELDS = tuple(ItemDraft.__dataclass_fields__)


def find_domain(session: Session, ref: str) -> Domain:
    """A domain by key (``social_assistance``) or Chinese name (``社会救助``).

    Raises ``NotFound`` naming ``ref``."""
    ref = ref.strip()
    for d in session.exec(select(Domain)):
        if ref in (d.key, d.name):
            return d
    raise NotFound(f"找不到领域 '{ref}'（可用英文代码如 social_assistance，或中文名如 社会救助）")


def find_county(session: Session, ref: str) -> Organization:
    """A county by code, former code or name. Raises ``NotFound``."""
    return find_org(session, ref, kind=OrgKind.county)


def catalog_task(session: Session, county_code: str, domain_key: str) -> TrackedTask | None:
    """The ``catalog`` task of a county and domain in the most recently loaded plan, or None."""
    return session.exec(
        select(TrackedTask)
        .join(Milestone, col(Milestone.id) == TrackedTask.milestone_id)
        .where(
            Milestone.key == CATALOG_MILESTONE,
            TrackedTask.unit_code == county_code,
            TrackedTask.domain_key == domain_key,
        )
        .order_by(col(TrackedTask.plan_id).desc())
    ).first()


def get_catalog(session: Session, county_code: str, domain_key: str) -> Catalog | None:
    """The catalog of a county and domain, or None when nothing was imported yet."""
    return session.exec(
        select(Catalog).where(Catalog.county_code == county_code, Catalog.domain_key == domain_key)
    ).first()


def latest_version(session: Session, catalog_id: int) -> CatalogVersion | None:
    """The newest version of a catalog (highest ``number``), or None."""
    return session.exec(
        select(CatalogVersion)
        .where(CatalogVersion.catalog_id == catalog_id)
        .order_by(col(CatalogVersion.number).desc())
    ).first()


def version_items(session: Session, version_id: int) -> list[ItemDraft]:
    """The items of a version, in position order, as ``ItemDraft``."""
    rows = session.exec(
        select(CatalogItem).where(CatalogItem.version_id == version_id).order_by(CatalogItem.position)
    ).all()
    return [ItemDraft(**{f: getattr(r, f) for f in _DRAFT_FIELDS}) for r in rows]


@dataclass(frozen=True)
class ImportResult:
    """What ``import_catalog`` stored: the catalog, the new version and the table read."""

    catalog: Catalog
    version: CatalogVersion
    table: ReadTable


def import_catalog(
    session: Session,
    county_ref: str,
    domain_ref: str,
    filename: str,
    data: bytes,
    *,
    now: datetime,
    actor: str = "system",
) -> ImportResult:
    """Store a catalog file (XLSX or CSV in the guideline shape) as the next version of the
    county's catalog for the domain, creating the catalog (linked to its plan task) if needed.

    Writes the version, its items and one ``catalog_imported`` audit event (on the task, when
    there is one). Raises ``NotFound`` (county, domain) or ``CatalogImportError`` (unreadable
    file, no items) before writing anything.
    """
    county = find_county(session, county_ref)
    domain = find_domain(session, domain_ref)
    table = read_catalog_table(filename, data)
    if not table.items:
        raise CatalogImportError(f"{filename}（工作表「{table.sheet}」）中没有读到任何公开事项")
    catalog = get_catalog(session, county.code, domain.key)
    task = catalog_task(session, county.code, domain.key)
    if catalog is None:
        catalog = Catalog(county_code=county.code, domain_key=domain.key, created_at=now)
    if catalog.task_id is None and task is not None:
        catalog.task_id = task.id
    session.add(catalog)
    session.flush()
    number = (
        session.exec(
            select(func.max(CatalogVersion.number)).where(CatalogVersion.catalog_id == catalog.id)
        ).one()
        or 0
    ) + 1
    version = CatalogVersion(
        catalog_id=catalog.id, number=number, created_at=now, created_by=actor,
        source_filename=Path(filename).name, sha256=hashlib.sha256(data).hexdigest(),
        item_count=len(table.items),
    )
    session.add(version)
    session.flush()
    session.add_all(
        CatalogItem(version_id=version.id, position=n, **{f: getattr(d, f) for f in _DRAFT_FIELDS})
        for n, d in enumerate(table.items, start=1)
    )
    session.add(
        AuditEvent(
            at=now, kind="catalog_imported", task_id=catalog.task_id,
            plan_id=task.plan_id if task else None, actor=actor, actor_org_code=county.code,
            detail={"catalog_id": catalog.id, "version": number, "file": version.source_filename,
                    "sha256": version.sha256, "items": len(table.items), "sheet": table.sheet},
        )
    )
    session.flush()
    return ImportResult(catalog=catalog, version=version, table=table)


def export_catalog(
    session: Session, county_ref: str, domain_ref: str, fmt: str = "xlsx", number: int | None = None
) -> tuple[str, bytes]:
    """The file name and bytes of a catalog version (the newest unless ``number``) in the
    guideline shape (``fmt`` ``xlsx`` or ``csv``). Raises ``NotFound`` when the county, domain,
    catalog or version does not exist; ``ValueError`` for another format."""
    county = find_county(session, county_ref)
    domain = find_domain(session, domain_ref)
    catalog = get_catalog(session, county.code, domain.key)
    if catalog is None:
        raise NotFound(f"{county.name}尚未导入{domain.name}领域的公开事项目录")
    q = select(CatalogVersion).where(CatalogVersion.catalog_id == catalog.id)
    version = (
        session.exec(q.where(CatalogVersion.number == number)).first()
        if number is not None
        else latest_version(session, catalog.id)
    )
    if version is None:
        raise NotFound(f"{county.name}{domain.name}领域目录没有第 {number} 版")
    title = f"{county.name}{domain.name}领域基层政务公开标准目录"
    data = write_catalog_table(version_items(session, version.id), fmt, title=title[:31])
    return f"{county.code}-{domain.key}-v{version.number}.{fmt}", data
