"""The task page and its forms: the same rules and domain functions as the JSON API."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from rollout.models import TaskState
from tests.api.conftest import pdf_bytes
from tests.pages.markup import csrf_of

KEY = "catalog:220102:social_assistance"


def _post(client, path, data, page):
    return client.post(path, data={**data, "csrf_token": csrf_of(client.get(page).text)})


def test_county_submits_with_evidence_and_the_city_returns_with_a_new_due_day(web):
    tid = web.task_id(KEY)
    county = web.login("nanguan")
    page = county.get(f"/tasks/{tid}").text
    assert 'class="act-submit"' in page and 'class="act-start"' in page
    assert "<dt>下次提醒</dt><dd>2020-06-16 09:00</dd>" in page  # reminder-10 of 07-01
    assert 'class="act-accept"' not in page and 'class="act-waive"' not in page
    r = _post(county, f"/tasks/{tid}/act",
              {"action": "submit", "version": 1, "evidence_url": "https://gk.example.cn/ml/1"}, f"/tasks/{tid}")
    assert r.status_code == 303 and r.headers["location"] == f"/tasks/{tid}?done=submit"
    assert web.task(KEY).state == TaskState.submitted
    shown = county.get(r.headers["location"]).text
    assert "已提交" in shown and 'href="https://gk.example.cn/ml/1"' in shown
    assert "下次提醒" not in shown  # submitted: nothing more is scheduled
    # a second submit from the stale form: the state machine refuses (409), nothing changes
    stale = _post(county, f"/tasks/{tid}/act", {"action": "submit", "version": 1}, f"/tasks/{tid}")
    assert stale.status_code == 409

    city = web.login("changchun")
    page = city.get(f"/tasks/{tid}").text
    assert 'class="act-accept"' in page and 'class="act-return"' in page
    early = _post(city, f"/tasks/{tid}/act", {"action": "return", "version": 2, "note": "缺少办理时限要素",
                                              "new_due_on": "2020-04-27"}, f"/tasks/{tid}")
    assert early.status_code == 422 and "早于今天" in early.text
    r = _post(city, f"/tasks/{tid}/act", {"action": "return", "version": 2, "note": "缺少办理时限要素",
                                          "new_due_on": "2020-05-15"}, f"/tasks/{tid}")
    assert r.status_code == 303
    t = web.task(KEY)
    assert (t.state, t.due_on, t.original_due_on, t.times_returned) == (
        TaskState.returned, date(2020, 5, 15), date(2020, 7, 1), 1)
    # the county's unit page shows what was returned and why
    unit = county.get("/unit/220102").text
    returned = unit.split('id="returned"')[1].split("</section>")[0]
    assert "缺少办理时限要素" in returned and "2020-05-15" in returned


def test_return_and_waive_need_a_note(web):
    tid = web.task_id(KEY)
    web.login("nanguan")
    office = web.login("office")
    r = _post(office, f"/tasks/{tid}/act", {"action": "waive", "version": 1}, f"/tasks/{tid}")
    assert r.status_code == 422 and "豁免须填写理由" in r.text
    assert web.task(KEY).state == TaskState.pending


def test_another_countys_task_is_not_found_and_cannot_be_acted_on(web):
    tid = web.task_id(KEY)  # 南关区 (长春市)
    other = web.login("changyi")  # 昌邑区 (吉林市)
    assert other.get(f"/tasks/{tid}").status_code == 404
    r = _post(other, f"/tasks/{tid}/act", {"action": "submit", "version": 1}, "/unit/220202")
    assert r.status_code == 404
    assert web.task(KEY).state == TaskState.pending
    assert web.login("jilincity").get(f"/tasks/{tid}").status_code == 404


def test_city_signs_off_a_county_through_the_page(web):
    web.clock.set(2020, 8, 20, 10, 0)
    web.submit_catalogs("220102")
    review = web.task_id("city_review:220102")
    city = web.login("changchun")
    listing = city.get("/city/220100").text
    assert f'<a href="/tasks/{review}">去签署</a>' in listing
    page = city.get(f"/tasks/{review}").text
    assert 'id="sign-off-form"' in page
    r = _post(city, f"/tasks/{review}/sign-off",
              {"version": 1, "reviewer": "王复核", "decision": "approved"}, f"/tasks/{review}")
    assert r.status_code == 303
    assert web.task("city_review:220102").state == TaskState.accepted
    with web.engine.connect() as conn:
        accepted = conn.execute(sa.text(
            "select count(*) from trackedtask where key like 'catalog:220102:%' and state = 'accepted'")).scalar_one()
        reviews = conn.execute(sa.text("select reviewer, decision from cityreview")).all()
    assert accepted == 26 and [tuple(r) for r in reviews] == [("王复核", "approved")]
    # signing again with the old version: the task is done, no form, and a replay is refused
    assert 'id="sign-off-form"' not in city.get(f"/tasks/{review}").text
    again = _post(city, f"/tasks/{review}/sign-off",
                  {"version": 1, "reviewer": "王复核", "decision": "approved"}, f"/tasks/{review}")
    assert again.status_code == 409


def test_city_returns_a_county_with_a_finding(web):
    web.clock.set(2020, 8, 20, 10, 0)
    web.submit_catalogs("220102")
    review = web.task_id("city_review:220102")
    city = web.login("changchun")
    r = _post(city, f"/tasks/{review}/sign-off",
              {"version": 1, "reviewer": "王复核", "decision": "returned",
               "finding_domain": ["social_assistance", ""], "finding_kind": ["missing_item", "other"],
               "finding_text": ["缺少临时救助事项", ""]}, f"/tasks/{review}")
    assert r.status_code == 303
    assert web.task(KEY).state == TaskState.returned
    assert web.task("city_review:220102").state == TaskState.pending
    empty = _post(city, f"/tasks/{review}/sign-off",
                  {"version": 2, "reviewer": "王复核", "decision": "returned"}, f"/tasks/{review}")
    assert empty.status_code == 422 and "至少填写一条问题" in empty.text


def test_city_files_its_implementation_plan_through_the_page(web):
    tid = web.task_id("city_filing:220100")
    city = web.login("changchun")
    page = city.get(f"/tasks/{tid}").text
    assert 'id="filing-form"' in page and 'class="act-submit"' not in page
    fields = {"csrf_token": csrf_of(page), "document_number": "长政公组〔2020〕3号",
              "title": "长春市全面推进基层政务公开标准化规范化工作实施计划", "issued_on": "2020-04-27"}
    r = city.post(f"/tasks/{tid}/filing", data=fields,
                  files={"file": ("实施计划.pdf", pdf_bytes(), "application/pdf")})
    assert r.status_code == 303, r.text
    assert web.task("city_filing:220100").state == TaskState.accepted
    shown = city.get(f"/tasks/{tid}").text
    assert "长政公组〔2020〕3号" in shown
    bad = city.post(f"/tasks/{tid}/filing", data={**fields, "document_number": "长政公组[2020]4号"},
                    files={"file": ("x.pdf", pdf_bytes(), "application/pdf")})
    assert bad.status_code == 422 and "六角括号" in bad.text
    files = [p for p in web.store.rglob("*") if p.is_file()]
    assert len(files) == 1  # the refused upload left nothing behind
    assert web.login("nanguan").get(f"/tasks/{tid}").status_code == 404
