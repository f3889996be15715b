"""Reading and writing the national guideline table shape: messy office workbooks, GBK CSV, the
WPS wrong-dimension file, and export → import round trips. Expected items are written out by
hand from the cells each test puts in its file."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime

import openpyxl
import pytest

from rollout.catalogs.tabular import ItemDraft, read_catalog_table, write_catalog_table
from rollout.catalogs.workbook import read_grids
from rollout.errors import CatalogImportError
from tests.catalogs.conftest import HEADER_SUB, HEADER_TOP


def _messy_workbook() -> bytes:
    wb = openpyxl.Workbook()
    cover = wb.active
    cover.title = "封面"
    cover["A1"] = "南关区政务公开目录（2020年）"  # no header here: the reader must skip this sheet
    ws = wb.create_sheet("社会救助")
    ws.append(["南关区社会救助领域基层政务公开标准目录"])
    ws.merge_cells("A1:N1")
    ws.append(HEADER_TOP)
    ws.append(HEADER_SUB)
    for rng in ("A2:A3", "B2:C2", "D2:D3", "E2:E3", "F2:F3", "G2:G3", "H2:H3", "I2:J2", "K2:L2", "M2:N2"):
        ws.merge_cells(rng)
    ws.append([1, "综合业务", "政策法规文件", "《社会救助暂行办法》\n各地配套政策法规文件",
               "《中华人民共和国政府信息公开条例》", "信息形成或变更之日起２０个工作日内", "南关区民政局",
               "■政府网站 □政府公报\n■两微一端 □发布会/听证会", "√", None, "✓", None, "√", "√"])
    ws.append([2, None, "监督 检查", "社会救助信访通讯地址、投诉举报电话", "　政府信息公开条例　",
               "常态化公开", "南关区民政局", "政府网站、公开栏", "✔", "√", "√", "√", "√", None])
    ws.merge_cells("B4:B5")  # 综合业务 spans its two rows
    ws.append([None] * 14)  # spacer row
    ws.append([3, "最低生活\n保障", "审批信息", "低保对象名单（姓名、保障人数、保障金额）",
               datetime(2020, 7, 1), "实时", "ＸＸ街道办事处",
               "■社区/企事业单位/村公示栏\n(电子屏) ■精准推送", None, "√", "√", None, None, "√"])
    ws.append([4, None, "办事指南", "办理条件、申请材料", "《最低生活保障审核审批办法（试行）》",
               "每年一季度", "南关区民政局", "政府网站 微博", "√", None, "√", None, "√", None])
    ws.append([None] * 14)
    ws.append(["注：1.本目录由县级民政部门编制；2.“√”表示适用。"])
    ws.append(["说明：公开时限以工作日计。"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


MESSY_ITEMS = [
    ItemDraft(level1_name="综合业务", level2_name="政策法规文件",
              content="《社会救助暂行办法》各地配套政策法规文件", basis="《中华人民共和国政府信息公开条例》",
              time_limit="信息形成或变更之日起20个工作日内", subject="南关区民政局",
              methods=["proactive"], channels=["government_website", "new_media"],
              audiences=["public"], levels=["county", "township"], source_row=4),
    ItemDraft(level1_name="综合业务", level2_name="监督检查", content="社会救助信访通讯地址、投诉举报电话",
              basis="政府信息公开条例", time_limit="常态化公开", subject="南关区民政局",
              methods=["proactive", "on_request"], channels=["government_website", "bulletin_board"],
              audiences=["public", "specific"], levels=["county"], source_row=5),
    ItemDraft(level1_name="最低生活保障", level2_name="审批信息",
              content="低保对象名单(姓名、保障人数、保障金额)", basis="2020-07-01", time_limit="实时",
              subject="XX街道办事处", methods=["proactive"], channels=["bulletin_board", "targeted_push"],
              audiences=["specific"], levels=["township"], source_row=7),
    ItemDraft(level1_name="最低生活保障", level2_name="办事指南", content="办理条件、申请材料",
              basis="《最低生活保障审核审批办法(试行)》", time_limit="每年一季度", subject="南关区民政局",
              methods=["proactive"], channels=["government_website", "微博"], audiences=["public"],
              levels=["county"], source_row=8),
]


def test_messy_workbook_reads_exactly_the_items_in_it():
    table = read_catalog_table("南关区社会救助.xlsx", _messy_workbook())
    assert table.sheet == "社会救助"
    assert table.header_row == 2
    assert table.items == MESSY_ITEMS
    assert table.notes == ["注:1.本目录由县级民政部门编制;2.“√”表示适用。", "说明:公开时限以工作日计。"]


FLAT_HEADER = ("序号,一级事项,二级事项,公开内容（要素）,公开依据,公开时限,公开主体,公开渠道和载体,"
               "全社会,特定群体,主动,依申请,县级,乡级")
CSV_ROWS = [
    '1,临时救助,政策法规文件,《国务院关于全面建立临时救助制度的通知》,信息公开条例,'
    '自信息形成之日起20个工作日内,县民政局,政府网站,√,,√,,√,√',
    '2,,办事指南,"办理条件,申请材料",信息公开条例,常态化公开,县民政局,"政务服务大厅、便民服务站",√,,√,√,,√',
    ',,,,,,,,,,,,,',
]
CSV_ITEMS = [
    ItemDraft(level1_name="临时救助", level2_name="政策法规文件",
              content="《国务院关于全面建立临时救助制度的通知》", basis="信息公开条例",
              time_limit="自信息形成之日起20个工作日内", subject="县民政局", methods=["proactive"],
              channels=["government_website"], audiences=["public"], levels=["county", "township"],
              source_row=2),
    ItemDraft(level1_name="临时救助", level2_name="办事指南", content="办理条件,申请材料",
              basis="信息公开条例", time_limit="常态化公开", subject="县民政局",
              methods=["proactive", "on_request"], channels=["service_hall", "service_station"],
              audiences=["public"], levels=["township"], source_row=3),
]


def test_gbk_csv_from_chinese_windows_imports():
    data = "\r\n".join([FLAT_HEADER, *CSV_ROWS]).encode("gbk")
    assert data[:5] == bytes.fromhex("d0f2bac52c")  # "序号," in GBK, as in the field report
    with pytest.raises(UnicodeDecodeError) as exc:
        data.decode("utf-8")
    assert exc.value.start == 0
    assert read_catalog_table("临时救助.csv", data).items == CSV_ITEMS


@pytest.mark.parametrize("encoding", ["gbk", "utf-8-sig", "utf-8"])
def test_csv_encodings_give_the_header_without_bom(encoding):
    data = "\n".join([FLAT_HEADER, *CSV_ROWS]).encode(encoding)
    grid = read_grids("x.csv", data)[0]
    assert grid.rows[0][0] == "序号"
    assert read_catalog_table("x.csv", data).items == CSV_ITEMS


def _wps_workbook() -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    ws.append(["序号", "一级事项", "二级事项", "公开内容"])
    for n in range(1, 20):
        ws.append([n, f"一级{n}", f"二级{n}", f"内容{n}"])
    buf = io.BytesIO()
    wb.save(buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                text, count = re.subn(r'<dimension ref="[^"]*" ?/>', '<dimension ref="A1"/>', body.decode())
                assert count == 1
                body = text.encode()
            dst.writestr(info, body)
    return out.getvalue()


def test_wps_wrong_dimension_reads_all_rows_and_columns():
    data = _wps_workbook()
    # The field report: read-only mode trusts <dimension ref="A1"/> and yields one cell.
    ro = openpyxl.load_workbook(io.BytesIO(data), read_only=True).active
    assert [[c.value for c in r] for r in ro.iter_rows()] == [["序号"]]
    grid = read_grids("wps.xlsx", data)[0]
    assert len(grid.rows) == 20 and grid.width == 4
    assert grid.rows[0] == ["序号", "一级事项", "二级事项", "公开内容"]
    data_rows = grid.rows[1:]
    assert len(data_rows) == 19 and all(len(r) == 4 for r in data_rows)
    assert data_rows[18] == ["19", "一级19", "二级19", "内容19"]


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_export_then_import_gives_the_same_items(fmt):
    items = [ItemDraft(**{**i.__dict__, "source_row": None}) for i in MESSY_ITEMS]
    items[3].service_item_link = "最低生活保障审批"
    items[0].policy_link = "http://example.org/zc/1"
    data = write_catalog_table(items, fmt)
    back = [ItemDraft(**{**i.__dict__, "source_row": None}) for i in read_catalog_table(f"x.{fmt}", data).items]
    assert back == items


def test_exported_csv_starts_with_utf8_bom_and_the_guideline_header():
    data = write_catalog_table(MESSY_ITEMS[:1], "csv")
    assert data[:3] == b"\xef\xbb\xbf"
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0] == "序号,公开事项,,公开内容（要素）,公开依据,公开时限,公开主体,公开渠道和载体,公开对象,,公开方式,,公开层级,"
    assert lines[1] == ",一级事项,二级事项,,,,,,全社会,特定群体,主动,依申请,县级,乡级"
    assert lines[2].endswith(",政府网站、政务新媒体,√,,√,,√,√")


def test_exported_xlsx_has_the_two_row_merged_header():
    ws = openpyxl.load_workbook(io.BytesIO(write_catalog_table(MESSY_ITEMS, "xlsx"))).active
    merged = {str(r) for r in ws.merged_cells.ranges}
    assert {"A1:A2", "B1:C1", "I1:J1", "K1:L1", "M1:N1", "B3:B4", "B5:B6"} <= merged
    assert [ws.cell(2, c).value for c in range(9, 15)] == ["全社会", "特定群体", "主动", "依申请", "县级", "乡级"]


def test_an_unreadable_mark_names_sheet_row_and_column():
    wb = openpyxl.load_workbook(io.BytesIO(_messy_workbook()))
    wb["社会救助"]["K7"] = "可以"
    buf = io.BytesIO()
    wb.save(buf)
    with pytest.raises(CatalogImportError) as exc:
        read_catalog_table("x.xlsx", buf.getvalue())
    assert str(exc.value) == "工作表「社会救助」第 7 行第 K 列（主动）：无法识别的标记「可以」，请用 √ 标记或留空"


def test_missing_columns_and_unreadable_files_are_named():
    data = "序号,一级事项,二级事项,公开内容\n1,a,b,c\n".encode()
    with pytest.raises(CatalogImportError, match="工作表「x.csv」第 1 行的表头缺少列：公开依据、公开时限、公开主体"):
        read_catalog_table("x.csv", data)
    with pytest.raises(CatalogImportError, match="不是有效的 XLSX"):
        read_catalog_table("x.xlsx", b"not a zip")
    with pytest.raises(CatalogImportError, match="另存为 .xlsx"):
        read_catalog_table("x.xls", b"\xd0\xcf\x11\xe0")
    with pytest.raises(CatalogImportError, match="既不是 UTF-8 也不是 GBK"):
        read_catalog_table("x.csv", b"\xff\xfe\x00\x81\x30\x81\xff")
    with pytest.raises(CatalogImportError, match="找不到目录表头"):
        read_catalog_table("x.csv", b"a,b\n1,2\n")
