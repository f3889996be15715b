"""Multipart limits (cases from the field). Starlette caps each form *text* part at 1 MiB by
default and answers a bare 400. Proven here on fastapi 0.150 / starlette 1.10 /
python-multipart 0.0.34 (the lower bounds pinned in pyproject.toml):

- a 3 MB XLSX upload (a catalog table) is taken;
- a 120,000-character Chinese text field (360,000 bytes of UTF-8) is taken whole;
- a text field over ``max_form_field_bytes`` (default 1 MiB) gets a deliberate 413 with a
  Chinese message, never a bare 400.
"""

from __future__ import annotations

import os

from tests.api.conftest import CHANGCHUN, NANGUAN, pdf_bytes, snapshot, store_files, zip_bytes

XLSX_3MB = zip_bytes({
    "[Content_Types].xml": b"<Types/>",
    "xl/workbook.xml": b"<workbook/>",
    "xl/media/image1.bin": os.urandom(3 * 1024 * 1024),
})


def test_a_3_mb_xlsx_is_taken(api):
    assert len(XLSX_3MB) > 3 * 1024 * 1024
    tid = api.task_id(f"catalog:{NANGUAN}:social_assistance")
    r = api.call("POST", f"/api/tasks/{tid}/attachments", NANGUAN,
                 files={"file": ("目录.xlsx", XLSX_3MB, "application/octet-stream")})
    assert r.status_code == 201, r.text
    att = r.json()
    assert att["size_bytes"] == len(XLSX_3MB)
    assert att["content_type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert (api.store / att["sha256"][:2] / att["sha256"]).read_bytes() == XLSX_3MB
    r = api.call("POST", f"/api/tasks/{tid}/transitions", NANGUAN,
                 json={"action": "submit", "version": 1, "attachment_id": att["id"]})
    assert r.status_code == 200
    assert r.json()["history"][-1]["detail"]["attachment_sha256"] == att["sha256"]
    # the same XLSX as a filing is refused for its type (415), not for its size
    r = api.call("POST", "/api/filings", CHANGCHUN,
                 data={"milestone": "city_filing", "document_number": "长府办发〔2020〕12号",
                       "title": "实施计划", "issued_on": "2020-04-16"},
                 files={"file": ("plan.xlsx", XLSX_3MB, "application/octet-stream")})
    assert r.status_code == 415 and "XLSX" in r.json()["message"]


def test_a_120000_character_field_is_taken(api):
    note = "政务公开标准化规范化" * 12_000
    assert len(note) == 120_000 and len(note.encode()) == 360_000
    r = api.call("POST", "/api/filings", CHANGCHUN,
                 data={"milestone": "city_filing", "document_number": "长府办发〔2020〕12号",
                       "title": "实施计划", "issued_on": "2020-04-16", "note": note},
                 files={"file": ("plan.pdf", pdf_bytes(), "application/pdf")})
    assert r.status_code == 201, r.text
    assert r.json()["note"] == note


def test_an_oversized_field_is_a_deliberate_413(api):
    api.auth(CHANGCHUN)
    before, files = snapshot(api.engine), store_files(api.store)
    note = "公" * 400_000  # 1,200,000 bytes > 1 MiB
    r = api.call("POST", "/api/filings", CHANGCHUN,
                 data={"milestone": "city_filing", "document_number": "长府办发〔2020〕12号",
                       "title": "实施计划", "issued_on": "2020-04-16", "note": note},
                 files={"file": ("plan.pdf", pdf_bytes(), "application/pdf")})
    assert r.status_code == 413
    assert r.json()["code"] == "too_large" and "表单文字字段超过上限 1024 KB" in r.json()["message"]
    assert snapshot(api.engine) == before and store_files(api.store) == files
