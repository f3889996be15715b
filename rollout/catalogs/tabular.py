"""The national guideline table shape (基层政务公开标准目录), read and written.

Columns (国办发〔2019〕54号 and the 26 domain guidelines): 序号 | 公开事项 (一级事项, 二级事项) |
公开内容（要素） | 公开依据 | 公开时限 | 公开主体 | 公开渠道和载体 | 公开对象 (全社会, 特定群体) |
公开方式 (主动, 依申请) | 公开层级 (县级, 乡级), the grouped ones under two-row merged headers with
✓ marks below. Two optional trailing columns carry the links of §三(一): 关联政务服务事项 and
政策文件链接.

Reading tolerates what office files do: a title row above the header, a one-row (flat) or
two-row header, merged or blank-continued 一级事项 cells (carried down), blank spacer rows, a
header repeated after a page break, full-width text and stray spaces (``normalize_text``), and
notes rows at the end (a row whose first cell starts with 注/备注/说明 ends the table). A cell it
cannot read raises ``CatalogImportError`` naming the sheet, row and column.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from openpyxl.utils import get_column_letter

from rollout.catalogs.vocabulary import name_key, normalize_text, parse_channels, parse_mark
from rollout.catalogs.workbook import Grid, csv_bytes, read_grids, xlsx_bytes
from rollout.errors import CatalogImportError
from rollout.models import (
    CHANNEL_LABELS,
    Audience,
    DisclosureChannel,
    DisclosureLevel,
    DisclosureMethod,
)

TEXT_FIELDS = ("level1_name", "level2_name", "content", "basis", "time_limit", "subject")
#: Columns a table must have (English field names) and their Chinese headers for messages.
REQUIRED_COLUMNS: dict[str, str] = {
    "level1_name": "一级事项",
    "level2_name": "二级事项",
    "content": "公开内容（要素）",
    "basis": "公开依据",
    "time_limit": "公开时限",
    "subject": "公开主体",
    "channels": "公开渠道和载体",
}
MARK_GROUPS: dict[str, str] = {"audiences": "公开对象", "methods": "公开方式", "levels": "公开层级"}


@dataclass
class ItemDraft:
    """One item as read from a table, before it is stored (the nine elements and the links).

    ``methods`` / ``audiences`` / ``levels``: enum values in enum order; ``channels``: see
    ``parse_channels``. ``source_row``: 1-based row in the sheet.
    """

    level1_name: str = ""
    level2_name: str = ""
    content: str = ""
    basis: str = ""
    time_limit: str = ""
    subject: str = ""
    methods: list[str] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    audiences: list[str] = field(default_factory=list)
    levels: list[str] = field(default_factory=list)
    service_item_link: str | None = None
    policy_link: str | None = None
    source_row: int | None = None


@dataclass
class ReadTable:
    """What ``read_catalog_table`` found: the sheet used, its header row (1-based), the items,
    and the notes rows' text that ended the table."""

    sheet: str
    header_row: int
    items: list[ItemDraft]
    notes: list[str] = field(default_factory=list)


_Rule = tuple[str, Callable[[str], bool]]
_RULES: list[_Rule] = [
    ("seq", lambda s: s == "序号"),
    ("level1_name", lambda s: "一级" in s),
    ("level2_name", lambda s: "二级" in s),
    ("audiences:public", lambda s: s in ("全社会", "社会")),
    ("audiences:specific", lambda s: s.startswith("特定")),
    ("methods:proactive", lambda s: s.startswith("主动")),
    ("methods:on_request", lambda s: s.startswith("依申请") or s == "申请"),
    ("levels:county", lambda s: s.startswith("县")),
    ("levels:township", lambda s: s.startswith(("乡", "镇"))),
    ("content", lambda s: "公开内容" in s),
    ("basis", lambda s: "公开依据" in s),
    ("time_limit", lambda s: "公开时限" in s),
    ("subject", lambda s: "公开主体" in s),
    ("channels", lambda s: "渠道" in s),
    ("service_item_link", lambda s: "政务服务事项" in s),
    ("policy_link", lambda s: "政策文件链接" in s or "政策链接" in s),
]
_SUB_LABELS = ("一级", "二级", "全社会", "特定", "主动", "依申请", "县级", "乡")
_NOTES = re.compile(r"^(注[:：\d]|注$|备注|说明|填表说明|填报说明)")


def _classify(label: str) -> str | None:
    return next((name for name, rule in _RULES if label and rule(label)), None)


def _find_header(grid: Grid) -> int | None:
    for r, row in enumerate(grid.rows[:15]):
        keys = [name_key(c) for c in row]
        if "序号" in keys or (any("公开事项" in k for k in keys) and any("公开内容" in k for k in keys)):
            return r
    return None


def _columns(grid: Grid, h: int) -> tuple[dict[str, int], int]:
    """Map field → column index from the header at row ``h``; returns it and the first data row."""
    top = [name_key(c) for c in grid.rows[h]]
    sub: list[str] = []
    if h + 1 < len(grid.rows):
        below = [name_key(c) for c in grid.rows[h + 1]]
        if sum(1 for k in below if k.startswith(_SUB_LABELS)) >= 2:
            sub = below
    for c in range(1, len(top)):  # a CSV has no merges: a blank group header continues leftwards
        if not top[c] and sub and sub[c]:
            top[c] = top[c - 1]
    columns: dict[str, int] = {}
    for c in range(len(top)):
        for label in ((sub[c] if sub else ""), top[c]):
            name = _classify(label)
            if name:
                columns.setdefault(name, c)
                break
    return columns, h + (2 if sub else 1)


def _where(grid: Grid, r: int, c: int, label: str) -> str:
    return f"工作表「{grid.name}」第 {r + 1} 行第 {get_column_letter(c + 1)} 列（{label}）"


def _read_grid(grid: Grid, h: int) -> ReadTable:
    columns, first = _columns(grid, h)
    missing = [zh for key, zh in REQUIRED_COLUMNS.items() if key not in columns]
    for group, zh in MARK_GROUPS.items():
        if group != "levels" and not any(k.startswith(group + ":") for k in columns):
            missing.append(zh)
    if missing:
        raise CatalogImportError(
            f"工作表「{grid.name}」第 {h + 1} 行的表头缺少列：{'、'.join(missing)}"
        )
    items: list[ItemDraft] = []
    notes: list[str] = []
    carried_level1 = ""
    seq_col = columns.get("seq")
    for r in range(first, len(grid.rows)):
        raw = grid.rows[r]
        cells = [normalize_text(c) for c in raw]
        filled = [c for i, c in enumerate(cells) if c and i != seq_col]
        first_text = next((c for c in cells if c), "")
        if notes or _NOTES.match(first_text):
            notes.append(" ".join(c for c in cells if c))
            continue
        if not filled or (seq_col is not None and name_key(cells[seq_col]) == "序号"):
            continue  # spacer row, or the header repeated after a page break
        item = ItemDraft(source_row=r + 1)
        for name in TEXT_FIELDS:
            setattr(item, name, cells[columns[name]])
        if item.level1_name:
            carried_level1 = item.level1_name
        else:
            item.level1_name = carried_level1
        item.channels = parse_channels(raw[columns["channels"]])
        for key, c in sorted(columns.items(), key=lambda kv: kv[1]):
            if ":" not in key:
                continue
            group, value = key.split(":")
            mark = parse_mark(cells[c])
            if mark is None:
                label = normalize_text(grid.rows[first - 1][c]) or key
                raise CatalogImportError(
                    f"{_where(grid, r, c, label)}：无法识别的标记「{cells[c]}」，请用 √ 标记或留空"
                )
            if mark:
                getattr(item, group).append(value)
        for link in ("service_item_link", "policy_link"):
            if link in columns and cells[columns[link]]:
                setattr(item, link, cells[columns[link]])
        items.append(item)
    return ReadTable(sheet=grid.name, header_row=h + 1, items=items, notes=notes)


def read_catalog_table(name: str, data: bytes) -> ReadTable:
    """Read a catalog table from a file's bytes (XLSX or CSV, see ``workbook.read_grids``).

    Uses the first sheet that has a header (a row with 序号, or with 公开事项 and 公开内容, in its
    first 15 rows). Raises ``CatalogImportError`` naming the file or sheet, row and column: no
    header, a required column missing, a ✓ cell that is not a mark. Reads only; writes nothing.
    """
    grids = read_grids(name, data)
    for grid in grids:
        h = _find_header(grid)
        if h is not None:
            return _read_grid(grid, h)
    sheets = "、".join(f"「{g.name}」" for g in grids) or "（无）"
    raise CatalogImportError(f"{name} 中找不到目录表头（含「序号」或「公开事项」「公开内容」的行）：已查看工作表 {sheets}")


# ---- writing -------------------------------------------------------------------------------

_HEAD_TOP = ["序号", "公开事项", "", "公开内容（要素）", "公开依据", "公开时限", "公开主体",
             "公开渠道和载体", "公开对象", "", "公开方式", "", "公开层级", ""]
_HEAD_SUB = ["", "一级事项", "二级事项", "", "", "", "", "", "全社会", "特定群体", "主动", "依申请",
             "县级", "乡级"]
_HEAD_MERGES = [(0, 0, 1, 0), (0, 1, 0, 2), *[(0, c, 1, c) for c in range(3, 8)],
                (0, 8, 0, 9), (0, 10, 0, 11), (0, 12, 0, 13)]
_WIDTHS = [6, 14, 18, 36, 30, 22, 18, 22, 7, 7, 7, 7, 7, 7, 24, 24]
_MARK_ORDER = [("audiences", Audience.public), ("audiences", Audience.specific),
               ("methods", DisclosureMethod.proactive), ("methods", DisclosureMethod.on_request),
               ("levels", DisclosureLevel.county), ("levels", DisclosureLevel.township)]


def _channel_label(value: str) -> str:
    try:
        return CHANNEL_LABELS[DisclosureChannel(value)]
    except ValueError:
        return value


def table_rows(items: Sequence[ItemDraft]) -> tuple[list[list[str]], list[tuple[int, int, int, int]]]:
    """The guideline shape of ``items``: rows (two header rows, then one row per item) and the
    merged ranges (header groups; runs of equal 一级事项). The link columns are added only when
    an item has a link."""
    links = any(i.service_item_link or i.policy_link for i in items)
    top, sub = list(_HEAD_TOP), list(_HEAD_SUB)
    merges = list(_HEAD_MERGES)
    if links:
        top += ["关联政务服务事项", "政策文件链接"]
        sub += ["", ""]
        merges += [(0, 14, 1, 14), (0, 15, 1, 15)]
    rows = [top, sub]
    for n, item in enumerate(items, start=1):
        row = [str(n), item.level1_name, item.level2_name, item.content, item.basis,
               item.time_limit, item.subject, "、".join(_channel_label(c) for c in item.channels)]
        row += ["√" if value.value in getattr(item, group) else "" for group, value in _MARK_ORDER]
        if links:
            row += [item.service_item_link or "", item.policy_link or ""]
        rows.append(row)
    start = 2
    for r in range(3, len(rows) + 1):
        if r == len(rows) or rows[r][1] != rows[start][1]:
            if r - 1 > start and rows[start][1]:
                merges.append((start, 1, r - 1, 1))
            start = r
    return rows, merges


def write_catalog_table(items: Sequence[ItemDraft], fmt: str, title: str = "公开事项标准目录") -> bytes:
    """The file bytes of ``items`` in the guideline shape: ``fmt`` ``xlsx`` (two-row merged
    header, merged 一级事项 runs) or ``csv`` (UTF-8 with BOM, the same two header rows unmerged).
    Raises ``ValueError`` for another format."""
    rows, merges = table_rows(items)
    if fmt == "xlsx":
        return xlsx_bytes(title, rows, merges, header_rows=2, widths=_WIDTHS)
    if fmt == "csv":
        return csv_bytes(rows)
    raise ValueError(f"不支持的导出格式 {fmt}：请用 xlsx 或 csv")

