"""The provincial dashboard: counts by status, the matrix, the overdue list, the charts, the
county drill-down and the assessment download. Expected numbers are worked out by hand from the
plan (due days) and the 2020 official calendar."""

from __future__ import annotations

import io
import re
from datetime import datetime

import openpyxl
from sqlmodel import col, select

from rollout import db
from rollout.calendar import TZ
from rollout.models import TrackedTask
from rollout.workflow import Action, Role
from tests.pages.markup import cell_for, row_cells

OFFICE = "220000.office"


def _work_plan_keys(web) -> list[str]:
    with db.read_session(web.engine) as s:
        return list(s.exec(select(TrackedTask.key).where(col(TrackedTask.key).startswith("work_plan:"))
                           .order_by(TrackedTask.key)))


def test_dashboard_counts_overdue_list_and_charts_on_2020_04_28(web):
    keys = _work_plan_keys(web)
    assert len(keys) == 26
    web.clock.set(2020, 4, 20, 10, 0)
    for key in keys[:13]:  # 13 work plans done (no acceptor: submitting completes them), 1 day late
        web.act(key, Action.submit, OFFICE, Role.office)
    web.clock.set(2020, 4, 28, 10, 0)
    page = web.login("office").get("/dashboard")
    assert page.status_code == 200
    html = page.text
    # "due soon" = due by 2020-05-08: 04-29, 04-30, (05-01..05-05 Labour Day), 05-06, 05-07, 05-08
    assert "2020年5月8日 前（5 个工作日内）到期" in html
    # milestone table rows: total, overdue, soon, later, submitted, done
    rows = re.findall(r"<tr><td>([^<]+)</td><td>[^<]+</td>\s*<td class=\"num\">(\d+)</td>\s*"
                      r"((?:<td class=\"num\">\d+</td>){5})", html)
    table = {t: (int(n), [int(v) for v in re.findall(r"\d+", rest)]) for t, n, rest in rows}
    assert table["制定本领域基层政务公开事项梳理和目录编制工作方案"] == (26, [13, 0, 0, 0, 13])
    assert table["中省直部门工作方案通知报省政务公开办备案"] == (26, [26, 0, 0, 0, 0])  # due Sat 04-25
    assert table["市（州）实施计划报省政务公开办备案"] == (11, [0, 11, 0, 0, 0])  # due 05-06
    assert table["完成本领域公开事项梳理、目录编制和信息发布"] == (1560, [0, 0, 1560, 0, 0])
    # overdue list: 13 work plans due Fri 04-17 → late 8 working days on 04-28 (04-20..24,
    # the make-up Sunday 04-26, 04-27, 04-28); 26 filings due Sat 04-25 → 3 (04-26, 04-27, 04-28)
    assert "逾期清单（共 39 项）" in html
    late = re.findall(r'<tr><td class="num">(\d+)</td><td><a href="/tasks/\d+">', html)
    assert [int(v) for v in late] == [8] * 13 + [3] * 26
    # matrix: 长春市's own filing is due soon; 南关区's catalogs are not yet due
    city = cell_for(html, "data-city-row", "220100", "city_filing")
    assert "st-soon" in city["class"] and city["text"].strip() == "0/1"
    county = cell_for(html, "data-county", "220102", "catalog")
    assert "st-later" in county["class"] and county["text"].strip() == "0/26"
    # charts: today on the timeline, the work plans half delivered, 11 cities compared
    assert "今天 4/28" in html and html.count('<g class="milestone"') == 9
    assert "已交 13/26（50%）" in html
    assert html.count('<g class="city"') == 11
    assert "cdn" not in html.lower() and "<script" not in html


def test_matrix_and_drill_down_after_catalog_work_on_2020_07_02(web):
    web.clock.set(2020, 6, 30, 10, 0)
    with db.read_session(web.engine) as s:
        keys = list(s.exec(select(TrackedTask.key).where(col(TrackedTask.key).startswith("catalog:220102:"))
                           .order_by(TrackedTask.key)))
    for key in keys[:20]:
        web.act(key, Action.submit, "220102", Role.county)
    for key in keys[:5]:
        web.act(key, Action.accept, "220100", Role.city)
    web.clock.set(2020, 7, 2, 10, 0)
    office = web.login("office")
    html = office.get("/dashboard").text
    cell = cell_for(html, "data-county", "220102", "catalog")
    assert "st-overdue" in cell["class"]
    assert re.sub(r"\s+", " ", cell["text"]).strip() == "5/26 逾6"
    assert cell["title"] == "逾期 6 · 已提交待验收 15 · 已完成 5"
    city = cell_for(html, "data-city-row", "220100", "catalog")  # 11 counties × 26
    assert re.sub(r"\s+", " ", city["text"]).strip() == "5/286 逾266"
    drill = office.get("/dashboard/county/220102").text
    assert drill.count("data-domain=") == 26 * 3  # catalog, upload, acceptance per domain
    done = [m for m in re.findall(r'class="cell st-(\w+)" data-domain="[^"]+" data-milestone="catalog"', drill)]
    assert sorted(done) == sorted(["done"] * 5 + ["submitted"] * 15 + ["overdue"] * 6)
    # the city sees the same county row on its page, not another city's
    city_page = web.login("changchun").get("/city/220100").text
    assert re.sub(r"\s+", " ", cell_for(city_page, "data-county", "220102", "catalog")["text"]).strip() == "5/26 逾6"
    assert row_cells(city_page, "data-county", "220202") == []


def test_dashboard_and_download_are_for_the_office_only(web):
    county = web.login("nanguan")
    assert county.get("/dashboard").status_code == 403
    assert county.get("/dashboard/assessment").status_code == 403
    assert web.login("changchun").get("/dashboard/county/220202").status_code == 404


def test_assessment_download_xlsx_and_csv(web):
    office = web.login("office")
    r = office.get("/dashboard/assessment?format=xlsx")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    # RFC 5987: 绩效考核_jilin-2020_20200428.xlsx, percent-encoded UTF-8
    assert ("filename*=UTF-8''%E7%BB%A9%E6%95%88%E8%80%83%E6%A0%B8_jilin-2020_20200428.xlsx"
            in r.headers["content-disposition"])
    book = openpyxl.load_workbook(io.BytesIO(r.content))
    assert len(book.sheetnames) >= 2
    csv = office.get("/dashboard/assessment?format=csv")
    assert csv.status_code == 200 and csv.content.startswith(b"\xef\xbb\xbf")
    assert office.get("/dashboard/assessment?format=pdf").status_code == 422


def test_the_overdue_list_is_capped_at_100_rows_most_late_first(web):
    web.clock.now = datetime(2020, 7, 2, 10, 0, tzinfo=TZ)
    html = web.login("office").get("/dashboard").text
    # overdue: 26 work plans + 26 filings + 11 city filings + 1560 catalogs = 1623
    assert "逾期清单（共 1623 项，显示逾期最久的 100 项）" in html
    late = [int(v) for v in re.findall(r'<tr><td class="num">(\d+)</td><td><a href="/tasks/\d+">', html)]
    assert len(late) == 100 and late == sorted(late, reverse=True)
