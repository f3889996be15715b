"""City review sign-off (复核): approval completes the review and accepts the 26 catalogs,
unblocking uploads; a return sends the named domains back; only the county's own city signs;
two sign-offs sent at once to a real uvicorn server: exactly one wins, the other gets 409."""

from __future__ import annotations

import threading

import httpx

from tests.api.conftest import (
    CHANGCHUN,
    CHANGYI,
    CIVIL_AFFAIRS,
    JILIN_CITY,
    NANGUAN,
    OFFICE,
    live_server,
    snapshot,
    submit_catalogs,
)


def _body(**over):
    body = {"reviewer": "王审核", "decision": "approved", "findings": [], "version": 1}
    body.update(over)
    return body


def test_two_sign_offs_at_once_one_wins(api):
    api.clock.set(2020, 8, 20, 10, 0)
    submit_catalogs(api, NANGUAN)
    headers = api.auth(CHANGCHUN)
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def sign(reviewer: str) -> None:
        with httpx.Client(timeout=60) as client:
            barrier.wait()
            r = client.post(f"{url}/api/reviews/{NANGUAN}", headers=headers,
                            json=_body(reviewer=reviewer))
            statuses.append(r.status_code)
            if r.status_code == 409:
                assert r.json()["code"] == "stale_version" and "已被他人签署" in r.json()["message"]

    with live_server(api.client.app) as url:
        threads = [threading.Thread(target=sign, args=(n,)) for n in ("甲", "乙")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(statuses) == [200, 409]
    review = api.task_id(f"city_review:{NANGUAN}")
    detail = api.call("GET", f"/api/tasks/{review}", CHANGCHUN).json()
    assert detail["state"] == "accepted" and detail["version"] == 2
    r = api.call("GET", "/api/tasks", NANGUAN, params={"milestone": "catalog", "state": "accepted"})
    assert r.json()["total"] == 26
    with api.engine.connect() as conn:
        assert conn.exec_driver_sql("select count(*) from cityreview").scalar_one() == 1
    # uploads of the county are actionable now
    up = api.task_id(f"upload:{NANGUAN}:social_assistance")
    assert api.call("GET", f"/api/tasks/{up}", NANGUAN).json()["waiting_for"] == []
    r = api.call("POST", f"/api/tasks/{up}/transitions", NANGUAN, json={"action": "submit", "version": 1})
    assert r.status_code == 200


def test_return_sends_named_domains_back(api):
    api.clock.set(2020, 8, 20, 10, 0)
    submit_catalogs(api, NANGUAN)
    findings = [
        {"domain": "social_assistance", "kind": "missing_item", "text": "缺少临时救助事项"},
        {"domain": "social_assistance", "kind": "wrong_element", "text": "低保审批时限要素错误"},
        {"domain": "elderly_care", "kind": "other", "text": "公开渠道未写明"},
    ]
    r = api.call("POST", f"/api/reviews/{NANGUAN}", CHANGCHUN,
                 json=_body(decision="returned", findings=findings, new_due_on="2020-08-28"))
    assert r.status_code == 200, r.text
    assert r.json()["task_state"] == "pending" and r.json()["task_version"] == 2
    returned = api.call("GET", "/api/tasks", NANGUAN,
                        params={"milestone": "catalog", "state": "returned"}).json()["items"]
    assert sorted(t["domain"] for t in returned) == ["elderly_care", "social_assistance"]
    sa_task = next(t for t in returned if t["domain"] == "social_assistance")
    assert sa_task["due_on"] == "2020-08-28" and sa_task["original_due_on"] == "2020-07-01"
    note = api.call("GET", f"/api/tasks/{sa_task['id']}", NANGUAN).json()["history"][-1]["detail"]["note"]
    assert note == "缺项少项：缺少临时救助事项；要素错误：低保审批时限要素错误"
    # approving now: two catalogs are not delivered → 409, nothing changes
    before = snapshot(api.engine)
    r = api.call("POST", f"/api/reviews/{NANGUAN}", CHANGCHUN, json=_body(version=2))
    assert r.status_code == 409 and r.json()["code"] == "requirements_pending"
    assert len(r.json()["waiting_for"]) == 2
    assert snapshot(api.engine) == before


def test_only_the_countys_city_signs(api):
    api.clock.set(2020, 8, 20, 10, 0)
    submit_catalogs(api, NANGUAN)
    for org in (OFFICE, NANGUAN, JILIN_CITY, CHANGYI, CIVIL_AFFAIRS, CHANGCHUN):
        api.auth(org)
    before = snapshot(api.engine)
    expected = {OFFICE: 403, NANGUAN: 403, JILIN_CITY: 404, CHANGYI: 404, CIVIL_AFFAIRS: 404}
    for org, status in expected.items():
        r = api.call("POST", f"/api/reviews/{NANGUAN}", org, json=_body())
        assert r.status_code == status, (org, r.text)
        assert snapshot(api.engine) == before
    for body, field in ((_body(decision="returned"), "findings"),
                        (_body(findings=[{"domain": "x", "kind": "bad", "text": "t"}]), "findings.0.kind"),
                        (_body(decision="maybe"), "decision")):
        r = api.call("POST", f"/api/reviews/{NANGUAN}", CHANGCHUN, json=body)
        assert r.status_code == 422 and r.json()["field"] == field, r.text
        assert snapshot(api.engine) == before
    assert api.call("POST", "/api/reviews/999999", CHANGCHUN, json=_body()).status_code == 404
