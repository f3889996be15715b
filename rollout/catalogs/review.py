"""Review packets (复核材料): one county's catalogs as its city sees them before signing off.

Plan §四(三): "9月1日前，各市（州）完成对所辖县（市、区）26个领域公开事项…的复核". A packet
lists, over the registry's domains in order:

- completeness: per domain its status: ``clean`` (newest version compiled with no blocking
  finding), ``findings`` (newest version compiled with blocking findings), ``not_compiled``
  (newest version not compiled yet) or ``missing`` (no catalog imported), with the catalog task's
  state;
- the open blocking findings of the county's catalogs (domain, kind, message);
- what changed since the last version, per domain with two versions or more: the newest compared
  with the one before it, items matched by (一级事项, 二级事项) names (``name_key``): added,
  removed, and changed (same names, elements differ; the elements named in Chinese).

The city's sign-off (``rollout.actions.reviews``, ``POST /api/reviews/{county}``) acts on the
county's newest packet. A county still unsigned after the city_review due day (09-01) needs
nothing here: its ``city_review`` task is escalated by the deadline sweep (``rollout.sweep``).
Domain functions: they take a ``Session`` and ``now`` and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from rollout.catalogs.checks import ELEMENT_LABELS
from rollout.catalogs.store import catalog_task, get_catalog, latest_version, version_items
from rollout.catalogs.tabular import ItemDraft
from rollout.catalogs.vocabulary import name_key
from rollout.errors import NotFound
from rollout.models import (
    BLOCKING_KINDS,
    CatalogVersion,
    CompileReport,
    Domain,
    Finding,
    FindingStatus,
    Milestone,
    Organization,
    OrgKind,
    ReviewPacket,
    TrackedTask,
)

#: Packet status of a domain → label shown to the city.
STATUS_LABELS: dict[str, str] = {
    "clean": "编目检查通过",
    "findings": "待整改",
    "not_compiled": "未检查",
    "missing": "未报送",
}
#: Elements compared for "changed" (besides the two names): English field → Chinese label.
COMPARED_ELEMENTS: dict[str, str] = {
    **{k: v for k, v in ELEMENT_LABELS.items() if k not in ("level1_name", "level2_name")},
    "service_item_link": "关联政务服务事项",
    "policy_link": "政策文件链接",
}
REVIEW_MILESTONE = "city_review"


@dataclass(frozen=True)
class VersionChanges:
    """Items of version ``to_version`` against ``from_version`` of one catalog: names
    (``一级 / 二级``) ``added`` and ``removed``, and ``changed`` as ``{"item": name,
    "elements": [Chinese labels]}``, each in item order."""

    added: list[str]
    removed: list[str]
    changed: list[dict]


def _name(item: ItemDraft) -> str:
    return f"{item.level1_name} / {item.level2_name}"


def diff_items(old: list[ItemDraft], new: list[ItemDraft]) -> VersionChanges:
    """Compare two item lists by (一级事项, 二级事项) names (``name_key``); the first item of a
    repeated name counts. Pure."""
    def keyed(items: list[ItemDraft]) -> dict[tuple[str, str], ItemDraft]:
        out: dict[tuple[str, str], ItemDraft] = {}
        for i in items:
            out.setdefault((name_key(i.level1_name), name_key(i.level2_name)), i)
        return out

    before, after = keyed(old), keyed(new)
    added = [_name(i) for k, i in after.items() if k not in before]
    removed = [_name(i) for k, i in before.items() if k not in after]
    changed = []
    for k, i in after.items():
        if k in before:
            differ = [label for f, label in COMPARED_ELEMENTS.items()
                      if getattr(i, f) != getattr(before[k], f)]
            if differ:
                changed.append({"item": _name(i), "elements": differ})
    return VersionChanges(added, removed, changed)


def _previous_version(session: Session, catalog_id: int, number: int) -> CatalogVersion | None:
    return session.exec(
        select(CatalogVersion).where(
            CatalogVersion.catalog_id == catalog_id, CatalogVersion.number == number - 1
        )
    ).first()


def review_task(session: Session, county_code: str) -> TrackedTask | None:
    """The ``city_review`` task of a county in the most recently loaded plan, or None."""
    return session.exec(
        select(TrackedTask)
        .join(Milestone, col(Milestone.id) == TrackedTask.milestone_id)
        .where(Milestone.key == REVIEW_MILESTONE, TrackedTask.unit_code == county_code)
        .order_by(col(TrackedTask.plan_id).desc())
    ).first()


def build_packet(session: Session, county_code: str, *, now: datetime) -> ReviewPacket:
    """The review packet of one county at ``now`` (added to the session, flushed; see the
    module docstring for its content). Raises ``NotFound`` for an unknown county."""
    county = session.get(Organization, county_code)
    if county is None or county.kind != OrgKind.county or county.parent_code is None:
        raise NotFound(f"县（市、区）{county_code} 不存在")
    domains, findings, changes = [], [], []
    for d in session.exec(select(Domain).order_by(Domain.position)):
        task = catalog_task(session, county_code, d.key)
        row = {"domain": d.key, "name": d.name, "status": "missing",
               "task_state": task.state.value if task else None,
               "version": None, "report_id": None, "blocking": 0}
        domains.append(row)
        catalog = get_catalog(session, county_code, d.key)
        version = latest_version(session, catalog.id) if catalog else None
        if catalog is None or version is None:
            continue
        row["version"] = version.number
        report = session.exec(
            select(CompileReport)
            .where(CompileReport.version_id == version.id, CompileReport.stage == "compile")
            .order_by(col(CompileReport.id).desc())
        ).first()
        if report is None:
            row["status"] = "not_compiled"
        else:
            row["report_id"] = report.id
            row["blocking"] = int(report.summary.get("blocking", 0))
            row["status"] = "clean" if report.clean else "findings"
        open_rows = session.exec(
            select(Finding)
            .where(Finding.catalog_id == catalog.id, Finding.status == FindingStatus.open,
                   col(Finding.kind).in_(sorted(BLOCKING_KINDS)))
            .order_by(col(Finding.id))
        ).all()
        findings += [{"domain": d.key, "kind": f.kind.value, "message": f.message} for f in open_rows]
        previous = _previous_version(session, catalog.id, version.number)
        if previous is not None:
            diff = diff_items(version_items(session, previous.id), version_items(session, version.id))
            changes.append({"domain": d.key, "from_version": previous.number,
                            "to_version": version.number, "added": diff.added,
                            "removed": diff.removed, "changed": diff.changed})
    clean = sum(1 for r in domains if r["status"] == "clean")
    task = review_task(session, county_code)
    packet = ReviewPacket(
        county_code=county_code, city_code=county.parent_code, task_id=task.id if task else None,
        created_at=now, domains_total=len(domains), domains_clean=clean,
        domains_missing=sum(1 for r in domains if r["status"] == "missing"),
        open_findings=len(findings), complete=bool(domains) and clean == len(domains),
        detail={"domains": domains, "findings": findings, "changes": changes},
    )
    session.add(packet)
    session.flush()
    return packet


def newest_packet(session: Session, county_code: str) -> ReviewPacket | None:
    """The most recent review packet of a county, or None."""
    return session.exec(
        select(ReviewPacket)
        .where(ReviewPacket.county_code == county_code)
        .order_by(col(ReviewPacket.created_at).desc(), col(ReviewPacket.id).desc())
    ).first()
