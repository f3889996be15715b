"""The assessment as an Excel workbook (openpyxl): 汇总 (summary), 明细 (detail), 评分说明.

Every sheet has Chinese headers in row 1, frozen (``freeze_panes == "A2"``), an auto-filter, and
column widths fitted to the text (a CJK character counts two). Counts are integer cells,
averages and scores float cells with ``0.00``, rates float cells (0..1) with ``0.00%``, days
Excel dates; times are local Asia/Shanghai wall-clock times (Excel has no zones). An empty cell
means "not applicable" (no late delivery, nothing accepted).
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from rollout.calendar import TZ
from rollout.exports.assessment import (
    GROUP_LABELS,
    OUTCOME_LABELS,
    AssessmentRow,
    AssessmentTable,
    DetailRow,
)
from rollout.models import TASK_STATE_LABELS

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

INT, DEC, PCT, DAY, TIME = "0", "0.00", "0.00%", "yyyy-mm-dd", "yyyy-mm-dd hh:mm"

#: (header, number format or None for text) of the summary sheet; shared with the CSV.
SUMMARY_COLUMNS: list[tuple[str, str | None]] = [
    ("类别", None), ("单位代码", None), ("单位名称", None), ("所属市（州）", None),
    ("任务数", INT), ("按时完成", INT), ("逾期完成", INT), ("平均逾期工作日", DEC),
    ("未完成", INT), ("逾期未完成", INT), ("退回次数", INT), ("一次验收通过率", PCT),
    ("得分", DEC),
]

#: (header, number format) of the detail sheet; shared with the CSV.
DETAIL_COLUMNS: list[tuple[str, str | None]] = [
    ("任务编号", None), ("进度节点", None), ("方案条款", None), ("责任单位代码", None),
    ("责任单位", None), ("所属市（州）", None), ("领域", None), ("牵头部门", None),
    ("原定截止日", DAY), ("现行截止日", DAY), ("状态", None), ("提交时间", TIME),
    ("完成时间", TIME), ("考核结果", None), ("逾期工作日", INT), ("退回次数", INT),
]


def summary_values(r: AssessmentRow) -> list[Any]:
    """One summary row's cell values, in ``SUMMARY_COLUMNS`` order (None = empty cell)."""
    avg = r.average_working_days_late
    return [
        GROUP_LABELS[r.group], r.org_code, r.org_name, r.city_name, r.tasks, r.on_time, r.late,
        round(avg, 2) if avg is not None else None, r.open, r.overdue, r.times_returned,
        r.first_pass_rate, r.score,
    ]


def detail_values(d: DetailRow) -> list[Any]:
    """One detail row's cell values, in ``DETAIL_COLUMNS`` order; times as naive local times."""
    def local(at):
        return at.astimezone(TZ).replace(tzinfo=None, microsecond=0) if at else None

    return [
        d.task_key, d.milestone_title, f"§{d.section}" if d.section else "", d.org_code,
        d.org_name, d.city_name, d.domain_name, d.department_name, d.original_due_on, d.due_on,
        TASK_STATE_LABELS[d.state], local(d.submitted_at), local(d.completed_at),
        OUTCOME_LABELS[d.outcome], d.working_days_late, d.times_returned,
    ]


def _display_width(value: Any, fmt: str | None) -> int:
    if value is None:
        return 0
    if fmt == TIME:
        return 16
    if fmt is not None:
        return 10
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in str(value))


def _sheet(
    ws: Worksheet,
    columns: Sequence[tuple[str, str | None]],
    rows: Sequence[Sequence[Any]],
    progress: Callable[[int], None] | None = None,
) -> None:
    header_font, fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    ws.append([h for h, _ in columns])
    for cell in ws[1]:
        cell.font, cell.fill = header_font, fill
        cell.alignment = Alignment(horizontal="center", vertical="center")
    widths = [_display_width(h, None) for h, _ in columns]
    for n, values in enumerate(rows, start=1):
        ws.append(list(values))
        for i, (v, (_, fmt)) in enumerate(zip(values, columns, strict=True)):
            widths[i] = max(widths[i], _display_width(v, fmt))
        if progress is not None and n % 1000 == 0:
            progress(1000)
    if progress is not None and len(rows) % 1000:
        progress(len(rows) % 1000)
    for i, (_, fmt) in enumerate(columns, start=1):
        letter = get_column_letter(i)
        ws.column_dimensions[letter].width = min(max(widths[i - 1], 6) + 2, 60)
        if fmt is not None:
            for (cell,) in ws.iter_rows(min_row=2, min_col=i, max_col=i):
                cell.number_format = fmt
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = ws.dimensions


def _notes(ws: Worksheet, table: AssessmentTable) -> None:
    w = table.weights
    lines = [
        ("方案", f"{table.plan_title}（{table.document_number}）"),
        ("统计时点", table.as_of.astimezone(TZ).strftime("%Y-%m-%d %H:%M（北京时间）")),
        ("依据", "方案 五(四) 强化监督考核；逾期按现行截止日计算（批准延期的以新截止日，否则按原定时间考核）"),
        ("按时完成满分", w.on_time),
        ("一次验收通过满分", w.first_pass),
        ("每逾期一个工作日扣分", w.late_penalty_per_working_day),
        ("每项逾期未完成扣分", w.overdue_penalty),
        ("得分公式", "按时完成满分×按时率 + 一次验收通过满分×一次验收通过率 − 每工作日扣分×逾期工作日合计 − 每项扣分×逾期未完成数，最低0分"),
        ("按时率", "按时完成 ÷（按时完成 + 逾期完成 + 逾期未完成）；无应考核任务时为100%"),
        ("一次验收通过率", "需验收的进度节点中已验收且从未退回的任务 ÷ 已验收任务；无已验收任务时为空（计分按100%）"),
        ("不计入", "已豁免、已取消的任务"),
    ]
    ws.append(["项目", "说明"])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for k, v in lines:
        ws.append([k, v])
    ws.column_dimensions["A"].width = 24
    ws.column_dimensions["B"].width = 100
    ws.freeze_panes = "A2"


def assessment_workbook(
    table: AssessmentTable, progress: Callable[[int], None] | None = None
) -> bytes:
    """The XLSX file's bytes: sheets 汇总 (all summary rows), 明细 (one row per task), 评分说明.

    ``progress``: called with the number of detail rows written so far in steps (of 1000).
    """
    wb = Workbook()
    summary = wb.active
    summary.title = "汇总"
    _sheet(summary, SUMMARY_COLUMNS, [summary_values(r) for r in table.all_rows()])
    detail = wb.create_sheet("明细")
    _sheet(detail, DETAIL_COLUMNS, [detail_values(d) for d in table.details], progress)
    _notes(wb.create_sheet("评分说明"), table)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
