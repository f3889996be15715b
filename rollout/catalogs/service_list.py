"""The service platform's item list (政务服务事项清单) and the check of items linked to it.

Plan §三(一): an item that is also a service item (政务服务事项) must carry the same name as on the
service platform. A catalog item names its service item in ``service_item_link`` (the platform
item's code, name or URL). The list file is CSV (UTF-8 or GBK; columns 事项编码/code,
事项名称/name, optional 链接/url) or YAML (a list of ``{code, name, url}``, or ``{items: [...]}``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from rollout.catalogs.checks import Problem, item_label
from rollout.catalogs.tabular import ItemDraft
from rollout.catalogs.vocabulary import name_key, normalize_text
from rollout.catalogs.workbook import decode_csv
from rollout.errors import CatalogImportError
from rollout.models import FindingKind


@dataclass(frozen=True)
class ServiceItem:
    """One service-platform item: ``code`` (may be empty), ``name``, ``url`` (may be empty)."""

    code: str
    name: str
    url: str = ""


class ServiceList:
    """The service platform's items, looked up by code, name (``name_key``) or URL."""

    def __init__(self, items: Sequence[ServiceItem], source: str = "") -> None:
        self.items = list(items)
        self.source = source
        self._index: dict[str, ServiceItem] = {}
        for it in self.items:
            for key in (it.code, name_key(it.name), it.url):
                if key:
                    self._index.setdefault(key, it)

    def find(self, ref: str) -> ServiceItem | None:
        """The item whose code, name or URL is ``ref``, or None."""
        ref = normalize_text(ref)
        return self._index.get(ref) or self._index.get(name_key(ref))


def _column(header: list[str], *names: str) -> int | None:
    for i, h in enumerate(header):
        if any(n in h for n in names):
            return i
    return None


def load_service_list(path: str | Path) -> ServiceList:
    """Read a service-list file (CSV or YAML, by suffix).

    Raises ``CatalogImportError`` naming the file when it is missing, unreadable or has no name
    column.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CatalogImportError(f"无法读取政务服务事项清单 {path}：{exc}") from exc
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            raw = yaml.safe_load(data.decode("utf-8")) or []
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise CatalogImportError(f"政务服务事项清单 {path.name} 不是有效的 YAML：{exc}") from exc
        rows = raw.get("items", []) if isinstance(raw, dict) else raw
        if not isinstance(rows, list):
            raise CatalogImportError(f"政务服务事项清单 {path.name}：应为事项列表")
        items = [
            ServiceItem(str(r.get("code", "") or ""), normalize_text(r["name"]), str(r.get("url", "") or ""))
            for r in rows
            if isinstance(r, dict) and r.get("name")
        ]
        return ServiceList(items, source=path.name)
    table = [row for row in csv.reader(io.StringIO(decode_csv(path.name, data))) if any(row)]
    if not table:
        return ServiceList([], source=path.name)
    header = [normalize_text(h) for h in table[0]]
    name_col = _column(header, "名称", "name")
    if name_col is None:
        raise CatalogImportError(f"政务服务事项清单 {path.name} 第 1 行缺少「事项名称」列")
    code_col, url_col = _column(header, "编码", "code"), _column(header, "链接", "url")

    def cell(row: list[str], col: int | None) -> str:
        return normalize_text(row[col]) if col is not None and col < len(row) else ""

    items = [
        ServiceItem(cell(r, code_col), cell(r, name_col), cell(r, url_col))
        for r in table[1:]
        if cell(r, name_col)
    ]
    return ServiceList(items, source=path.name)


def check_service_links(items: Sequence[ItemDraft], services: ServiceList) -> list[Problem]:
    """``service_name_mismatch`` problems of the items that link to a service item: the link
    is not on the platform's list, or the platform item's name differs from the item's
    二级事项 name (names compared with ``name_key``)."""
    problems: list[Problem] = []
    for n, item in enumerate(items, start=1):
        if not item.service_item_link:
            continue
        who = item_label(item, n)
        found = services.find(item.service_item_link)
        if found is None:
            problems.append(Problem(
                FindingKind.service_name_mismatch, "service_item_link",
                f"{who}关联的政务服务事项「{item.service_item_link}」不在政务服务事项清单中", n,
            ))
        elif name_key(found.name) != name_key(item.level2_name):
            problems.append(Problem(
                FindingKind.service_name_mismatch, "service_item_link",
                f"{who}的名称与政务服务平台事项名称不一致：目录为「{item.level2_name}」，平台为「{found.name}」", n,
            ))
    return problems
