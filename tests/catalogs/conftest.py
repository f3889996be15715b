"""Fixtures of the catalog tests: Prefect's test harness for real flow runs, and builders of
catalog workbooks the way office files look (written with openpyxl here, independently of
``rollout.catalogs``'s own writer)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import openpyxl

HEADER_TOP = ["序号", "公开事项", None, "公开内容（要素）", "公开依据", "公开时限", "公开主体",
              "公开渠道和载体", "公开对象", None, "公开方式", None, "公开层级", None]
HEADER_SUB = [None, "一级事项", "二级事项", None, None, None, None, None, "全社会", "特定群体",
              "主动", "依申请", "县级", "乡级"]

#: The 13 items of the national 社会救助 guideline (民政部 2019), as a county lists them.
SOCIAL_ASSISTANCE = [
    ("综合业务", "政策法规文件"), ("综合业务", "监督检查"),
    ("最低生活保障", "政策法规文件"), ("最低生活保障", "办事指南"),
    ("最低生活保障", "审核信息"), ("最低生活保障", "审批信息"),
    ("特困人员救助供养", "政策法规文件"), ("特困人员救助供养", "办事指南"),
    ("特困人员救助供养", "审核信息"), ("特困人员救助供养", "审批信息"),
    ("临时救助", "政策法规文件"), ("临时救助", "办事指南"), ("临时救助", "审核审批信息"),
]


def guideline_workbook(names: Sequence[tuple[str, str]], title: str = "社会救助领域基层政务公开标准目录") -> bytes:
    """A complete, correct catalog in the guideline shape: a merged title row, the two-row merged
    header, one row per (一级, 二级) name with every element filled and 一级事项 cells merged
    over their runs."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "目录"
    ws.append([title])
    ws.merge_cells("A1:N1")
    ws.append(HEADER_TOP)
    ws.append(HEADER_SUB)
    for rng in ("A2:A3", "B2:C2", "D2:D3", "E2:E3", "F2:F3", "G2:G3", "H2:H3", "I2:J2", "K2:L2", "M2:N2"):
        ws.merge_cells(rng)
    first_row_of: dict[str, int] = {}
    for n, (l1, l2) in enumerate(names, start=1):
        row = 3 + n
        shown = l1 if l1 not in first_row_of else None
        first_row_of.setdefault(l1, row)
        ws.append([n, shown, l2, f"{l2}的具体内容", "《社会救助暂行办法》", "信息形成或变更之日起20个工作日内",
                   "县民政局", "■政府网站 □政府公报 ■政务服务中心", "√", None, "√", None, "√", "√"])
    last = 3 + len(names)
    for l1, start in first_row_of.items():
        end = max(r for r, (a, _) in enumerate(names, start=4) if a == l1)
        if end > start:
            ws.merge_cells(start_row=start, start_column=2, end_row=end, end_column=2)
    assert last == ws.max_row
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
