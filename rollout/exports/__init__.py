"""Exports: performance-assessment tables (XLSX, CSV) and calendar feeds (ICS).

For the edges (CLI, dashboard download, ``/calendar/{token}.ics``) there is one call each:

- ``assessment_export(session, plan, as_of, calendar, fmt)`` -> ``ExportFile`` (bytes, media type,
  a Chinese file name);
- ``calendar_feed(session, org_code, plan, calendar, now)`` -> bytes, served as
  ``ICS_MEDIA_TYPE`` (``text/calendar; charset=utf-8``).

Both read only and never commit. Modules: ``scoring`` (weights and formula), ``assessment``
(the one-pass count), ``workbook`` (openpyxl), ``tabular`` (CSV with BOM), ``ics``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Session

from rollout.calendar import TZ, WorkingCalendar
from rollout.exports.assessment import (
    GROUP_LABELS,
    OUTCOME_LABELS,
    AssessmentRow,
    AssessmentTable,
    DetailRow,
    Group,
    Outcome,
    assessment_rows,
    task_count,
)
from rollout.exports.ics import ICS_MEDIA_TYPE, alarm_at, calendar_feed, event_uid
from rollout.exports.scoring import ScoringWeights, score, scoring_weights
from rollout.exports.tabular import CSV_MEDIA_TYPE, detail_csv, summary_csv
from rollout.exports.workbook import XLSX_MEDIA_TYPE, assessment_workbook
from rollout.models import Plan


class ExportFormat(StrEnum):
    """File format of the assessment export."""

    xlsx = "xlsx"
    csv = "csv"


@dataclass(frozen=True)
class ExportFile:
    """A file ready to send: ``content`` bytes, ``media_type`` (Content-Type) and ``filename``
    (Chinese, e.g. ``绩效考核_jilin-2020_20200720.xlsx``; quote it with RFC 5987 in a header)."""

    content: bytes
    media_type: str
    filename: str


def assessment_export(
    session: Session,
    plan: Plan,
    as_of: datetime,
    calendar: WorkingCalendar,
    fmt: ExportFormat = ExportFormat.xlsx,
    *,
    detail: bool = False,
    progress: Callable[[int], None] | None = None,
    where: sa.ColumnElement[bool] | None = None,
) -> ExportFile:
    """The assessment of ``plan`` at ``as_of`` (aware) as an XLSX workbook (汇总 + 明细 + 评分说明)
    or a CSV (the summary; ``detail=True``: one row per task instead).

    ``progress``: called with counts of tasks read (and, for XLSX, detail rows written).
    ``where``: only the tasks it selects (a condition on ``TrackedTask``, e.g. an office's
    province: ``rollout.actions.scope.scope_condition``).
    Raises as ``assessment_rows`` (``PlanError`` on bad weights, ``ValueError`` on naive
    ``as_of``). Reads only; never commits.
    """
    table = assessment_rows(session, plan, as_of, calendar, progress=progress, where=where)
    day = as_of.astimezone(TZ).strftime("%Y%m%d")
    if fmt == ExportFormat.xlsx:
        return ExportFile(
            assessment_workbook(table, progress), XLSX_MEDIA_TYPE, f"绩效考核_{plan.key}_{day}.xlsx"
        )
    content = detail_csv(table) if detail else summary_csv(table)
    name = "绩效考核明细" if detail else "绩效考核汇总"
    return ExportFile(content, CSV_MEDIA_TYPE, f"{name}_{plan.key}_{day}.csv")


__all__ = [
    "CSV_MEDIA_TYPE",
    "GROUP_LABELS",
    "ICS_MEDIA_TYPE",
    "OUTCOME_LABELS",
    "XLSX_MEDIA_TYPE",
    "AssessmentRow",
    "AssessmentTable",
    "DetailRow",
    "ExportFile",
    "ExportFormat",
    "Group",
    "Outcome",
    "ScoringWeights",
    "alarm_at",
    "assessment_export",
    "assessment_rows",
    "assessment_workbook",
    "calendar_feed",
    "detail_csv",
    "event_uid",
    "score",
    "scoring_weights",
    "summary_csv",
    "task_count",
]
