"""Filings (备案): the document type from the bytes, size limit, 文号 check, days late from
the 2020 official calendar, supersession; a rejected request leaves no file and no row."""

from __future__ import annotations

from tests.api.conftest import (
    CHANGCHUN,
    CIVIL_AFFAIRS,
    EDUCATION,
    NANGUAN,
    OFFICE,
    PNG,
    pdf_bytes,
    snapshot,
    store_files,
    zip_bytes,
)

DOCX = zip_bytes({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})
OFD = zip_bytes({"OFD.xml": b"<ofd:OFD/>", "Doc_0/Document.xml": b"<ofd:Document/>"})


def _form(**over):
    data = {"milestone": "city_filing", "document_number": "长府办发〔2020〕12号",
            "title": "长春市全面推进基层政务公开标准化规范化工作实施计划", "issued_on": "2020-04-16"}
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


def _file(api, org, data, content=None, name="plan.pdf"):
    return api.call("POST", "/api/filings", org, data=data,
                    files={"file": (name, content if content is not None else pdf_bytes(), "application/octet-stream")})


def test_city_filing_late_by_working_days(api):
    # due 2020-05-06 (Wed). 2020 Labour Day: May 1-5 off, Saturday May 9 a make-up working day.
    # Filed Monday 2020-05-11: working days in (05-06, 05-11] = 05-07, 05-08, 05-09, 05-11 = 4.
    api.clock.set(2020, 5, 11, 10, 0)
    r = _file(api, CHANGCHUN, _form())
    assert r.status_code == 201, r.text
    f = r.json()
    assert f["days_late"] == 4 and f["content_type"] == "application/pdf"
    assert store_files(api.store) == [f"{f['sha256'][:2]}/{f['sha256']}"]
    task = api.call("GET", f"/api/tasks/{f['task_id']}", CHANGCHUN).json()
    assert task["state"] == "accepted"  # city_filing has no acceptor: filing completes it
    assert [h["kind"] for h in task["history"]] == ["task_submitted", "filing_recorded"]


def test_dept_filing_on_time_then_superseded(api):
    wp = api.task_id("work_plan:compulsory_education")
    r = api.call("POST", f"/api/tasks/{wp}/transitions", EDUCATION, json={"action": "submit", "version": 1})
    assert r.status_code == 200 and r.json()["state"] == "accepted"
    first = _file(api, EDUCATION, _form(milestone="dept_filing", document_number="吉教发〔2020〕12号",
                                         title="关于印发义务教育领域基层政务公开工作方案的通知",
                                         issued_on="2020-04-18"), content=DOCX, name="通知.docx")
    assert first.status_code == 201, first.text
    assert first.json()["days_late"] == 0
    assert first.json()["content_type"].endswith("wordprocessingml.document")
    # Monday 2020-04-27; due Saturday 04-25; Sunday 04-26 was a make-up working day: 2 late
    api.clock.set(2020, 4, 27, 9, 0)
    second = _file(api, EDUCATION, _form(milestone="dept_filing", domain="compulsory_education",
                                          document_number="吉教发〔2020〕15号", title="更正通知",
                                          issued_on="2020-04-26"), content=OFD, name="更正.ofd")
    assert second.status_code == 201, second.text
    assert second.json()["days_late"] == 2 and second.json()["content_type"] == "application/ofd"
    rows = api.call("GET", f"/api/filings/by-task/{first.json()['task_id']}", EDUCATION).json()
    assert [(r["id"], r["superseded_by_id"]) for r in rows] == [
        (second.json()["id"], None), (first.json()["id"], second.json()["id"])]
    assert len(store_files(api.store)) == 2


def test_dept_filing_waits_for_the_work_plan(api):
    api.auth(EDUCATION)
    before, files = snapshot(api.engine), store_files(api.store)
    r = _file(api, EDUCATION, _form(milestone="dept_filing", document_number="吉教发〔2020〕12号",
                                     issued_on="2020-04-18"))
    assert r.status_code == 409 and r.json()["waiting_for"] == ["work_plan:compulsory_education"]
    assert snapshot(api.engine) == before and store_files(api.store) == files


def test_rejections_leave_nothing_behind(api):
    api.auth(CHANGCHUN)
    api.auth(NANGUAN)
    api.auth(CIVIL_AFFAIRS)
    api.auth(OFFICE)
    before, files = snapshot(api.engine), store_files(api.store)
    cases = [
        (CHANGCHUN, _form(), pdf_bytes(21 * 1024 * 1024), "big.pdf", 413, "too_large", None),
        (CHANGCHUN, _form(), PNG, "scan.pdf", 415, "unsupported_document", None),
        (CHANGCHUN, _form(document_number="长府办发[2020]12号"), pdf_bytes(), "p.pdf", 422,
         "invalid_input", "document_number"),
        (CHANGCHUN, _form(document_number="吉教发[2020]12号"), pdf_bytes(), "p.pdf", 422,
         "invalid_input", "document_number"),
        (CHANGCHUN, _form(issued_on="2020-13-01"), pdf_bytes(), "p.pdf", 422, "invalid_input", "issued_on"),
        (CHANGCHUN, _form(title=None), pdf_bytes(), "p.pdf", 422, "invalid_input", "title"),
        (NANGUAN, _form(), pdf_bytes(), "p.pdf", 403, "permission_denied", None),
        (CIVIL_AFFAIRS, _form(milestone="dept_filing", document_number="吉民发〔2020〕3号"),
         pdf_bytes(), "p.pdf", 422, "invalid_input", "domain"),
        (OFFICE, _form(), pdf_bytes(), "p.pdf", 422, "invalid_input", "org"),
    ]
    for org, data, content, name, status, code, field in cases:
        r = _file(api, org, data, content, name)
        assert r.status_code == status, (data, r.text)
        assert r.json()["code"] == code
        if field:
            assert r.json()["field"] == field, r.json()
            assert field in r.json()["message"] or "文号" in r.json()["message"]
        assert snapshot(api.engine) == before
        assert store_files(api.store) == files
    r = _file(api, CHANGCHUN, _form(document_number="吉教发[2020]12号"))
    assert "〔〕" in r.json()["message"]
    r = api.call("POST", "/api/filings", CHANGCHUN, json=_form())
    assert r.status_code == 415 and "multipart" in r.json()["message"]
    r = api.call("POST", "/api/filings", CHANGCHUN, data=_form())
    assert r.status_code in (415, 422)
