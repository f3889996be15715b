"""The assessment as CSV: UTF-8 with a byte-order mark (EF BB BF) so Excel on Windows reads the
Chinese right; CRLF line ends; same columns as the workbook's 汇总 / 明细 sheets.

Numbers are plain decimal text (``4``, ``4.5``, ``76.23``), rates a percentage (``96.15%``, which
Excel reads as the number 0.9615), days ``YYYY-MM-DD``, times local ``YYYY-MM-DD HH:MM``; an empty
field means "not applicable".
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from rollout.exports.assessment import AssessmentTable
from rollout.exports.workbook import (
    DETAIL_COLUMNS,
    PCT,
    SUMMARY_COLUMNS,
    detail_values,
    summary_values,
)

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
BOM = "\ufeff"


def _text(value: Any, fmt: str | None) -> str:
    if value is None:
        return ""
    if fmt == PCT:
        return f"{value * 100:.2f}".rstrip("0").rstrip(".") + "%"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _csv(columns: Sequence[tuple[str, str | None]], rows: Sequence[Sequence[Any]]) -> bytes:
    buf = io.StringIO()
    buf.write(BOM)
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([h for h, _ in columns])
    for values in rows:
        w.writerow([_text(v, fmt) for v, (_, fmt) in zip(values, columns, strict=True)])
    return buf.getvalue().encode("utf-8")


def summary_csv(table: AssessmentTable) -> bytes:
    """The summary (cities, counties, departments; column 类别 tells which) as CSV bytes."""
    return _csv(SUMMARY_COLUMNS, [summary_values(r) for r in table.all_rows()])


def detail_csv(table: AssessmentTable) -> bytes:
    """One row per task as CSV bytes."""
    return _csv(DETAIL_COLUMNS, [detail_values(d) for d in table.details])
