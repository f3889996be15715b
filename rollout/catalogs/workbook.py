"""Spreadsheet files as grids of text: read XLSX and CSV, write XLSX (with merged cells) and CSV.

Reading, from the field:

- Files saved by WPS declare ``<dimension ref="A1"/>`` whatever the used range; openpyxl's
  read-only mode trusts that tag and yields one cell. Workbooks are therefore opened with
  ``read_only=False`` (which also gives the merged ranges): the cells are parsed one by one and
  the used range is the one they really fill.
- Merged cells (a 一级事项 spanning rows, two-row headers) are filled with the top-left value.
- CSV: UTF-8 with or without BOM, or GBK/GB18030 (re-saved on Chinese Windows): decoded with
  ``utf-8-sig`` first, then ``gb18030``; the BOM never reaches the first header name.
- Date cells become text ``YYYY-MM-DD``; whole floats become integers ("1.0" → "1").

Writing: XLSX via openpyxl; CSV as UTF-8 with BOM (bytes ``EF BB BF`` first) so that Excel on
Chinese Windows opens it correctly.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import openpyxl
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException

from rollout.errors import CatalogImportError

XLSX_SUFFIXES = (".xlsx", ".xlsm")
CSV_SUFFIXES = (".csv", ".txt")


@dataclass
class Grid:
    """One sheet as text: ``rows[r][c]`` is the cell in 0-based row r, column c (all rows equally
    long; trailing empty rows and columns removed). ``name``: sheet name, or the CSV file name.
    ``merged``: the merged ranges as ``(min_row, min_col, max_row, max_col)``, 0-based inclusive."""

    name: str
    rows: list[list[str]]
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)

    @property
    def width(self) -> int:
        """Number of columns."""
        return len(self.rows[0]) if self.rows else 0


def cell_text(value: object) -> str:
    """A cell value as text: None → "", dates → ``YYYY-MM-DD`` (with the time when not
    midnight), whole floats → integers, anything else → ``str``."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _trim(rows: list[list[str]]) -> list[list[str]]:
    while rows and not any(c.strip() for c in rows[-1]):
        rows.pop()
    width = max((i + 1 for r in rows for i, c in enumerate(r) if c.strip()), default=0)
    return [(r + [""] * width)[:width] for r in rows]


def _read_xlsx(name: str, data: bytes) -> list[Grid]:
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=False, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise CatalogImportError(f"无法读取 {name}：不是有效的 XLSX 文件（{exc}）") from exc
    grids = []
    for ws in wb.worksheets:
        rows = [[cell_text(v) for v in row] for row in ws.iter_rows(values_only=True)]
        merged = []
        for rng in ws.merged_cells.ranges:
            r0, c0, r1, c1 = rng.min_row - 1, rng.min_col - 1, rng.max_row - 1, rng.max_col - 1
            merged.append((r0, c0, r1, c1))
            top_left = rows[r0][c0] if r0 < len(rows) and c0 < len(rows[r0]) else ""
            for r in range(r0, min(r1, len(rows) - 1) + 1):
                for c in range(c0, min(c1, len(rows[r]) - 1) + 1):
                    rows[r][c] = top_left
        grids.append(Grid(ws.title, _trim(rows), merged))
    return grids


def decode_csv(name: str, data: bytes) -> str:
    """The text of a CSV file: UTF-8 (BOM removed) or else GB18030 (a superset of GBK).

    Raises ``CatalogImportError`` naming the file and the first bad byte when neither fits.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as utf8_error:
        try:
            return data.decode("gb18030")
        except UnicodeDecodeError:
            raise CatalogImportError(
                f"无法读取 {name}：第 {utf8_error.start + 1} 个字节起既不是 UTF-8 也不是 GBK 编码"
            ) from utf8_error


def _read_csv(name: str, data: bytes) -> list[Grid]:
    text = decode_csv(name, data)
    try:
        rows = [list(r) for r in csv.reader(io.StringIO(text, newline=""))]
    except csv.Error as exc:
        raise CatalogImportError(f"无法读取 {name}：CSV 格式错误（{exc}）") from exc
    return [Grid(name, _trim(rows))]


def read_grids(name: str, data: bytes) -> list[Grid]:
    """Every sheet of a spreadsheet file as a ``Grid``, by the file name's suffix.

    ``name``: the file name (used for the format and in messages); ``data``: its bytes.
    Raises ``CatalogImportError`` for an unreadable file or an unsupported format (.xls).
    """
    suffix = Path(name).suffix.lower()
    if suffix in XLSX_SUFFIXES:
        return _read_xlsx(name, data)
    if suffix in CSV_SUFFIXES:
        return _read_csv(name, data)
    if suffix == ".xls":
        raise CatalogImportError(f"不支持旧版 Excel 文件 {name}：请另存为 .xlsx 后导入")
    raise CatalogImportError(f"不支持的文件类型 {name}：请使用 .xlsx 或 .csv")


def xlsx_bytes(
    title: str,
    rows: Sequence[Sequence[str]],
    merged: Sequence[tuple[int, int, int, int]] = (),
    header_rows: int = 0,
    widths: Sequence[int] = (),
) -> bytes:
    """An XLSX workbook with one sheet ``title`` holding ``rows`` (text), the ``merged`` ranges
    (0-based inclusive, as in ``Grid``), the first ``header_rows`` rows bold and centred, and
    column ``widths`` in characters."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = title[:31]
    for row in rows:
        ws.append([v if v != "" else None for v in row])
    for r0, c0, r1, c1 in merged:
        ws.merge_cells(start_row=r0 + 1, start_column=c0 + 1, end_row=r1 + 1, end_column=c1 + 1)
    wrap = Alignment(wrap_text=True, vertical="center")
    head = Alignment(wrap_text=True, vertical="center", horizontal="center")
    for r, row in enumerate(ws.iter_rows(), start=1):
        for cell in row:
            cell.alignment = head if r <= header_rows else wrap
            if r <= header_rows:
                cell.font = Font(bold=True)
    for i, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = w
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def csv_bytes(rows: Sequence[Sequence[str]]) -> bytes:
    """CSV text of ``rows`` encoded UTF-8 with BOM (starts with ``EF BB BF``), CRLF line ends."""
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return buf.getvalue().encode("utf-8-sig")
