"""Tasks: scoping of reads (counts worked out from the plan and the registry), detail with
history, transitions with optimistic versions, and errors as Chinese JSON."""

from __future__ import annotations

from tests.api.conftest import (
    CHANGCHUN,
    CHANGYI,
    CIVIL_AFFAIRS,
    EDUCATION,
    JILIN_CITY,
    NANGUAN,
    OFFICE,
    snapshot,
)


def test_each_role_sees_its_own_tasks(api):
    # county: 26 catalog + 26 upload + 26 acceptance + its city_review = 79
    # city 长春 (11 counties incl. 公主岭市): its city_filing + 79 per county = 1 + 869 = 870
    # civil affairs (2 domains): work_plan 2 + dept_filing 2 + 60 counties x (catalog, upload,
    # acceptance) x 2 = 364; the office: all 4,805
    expected = {NANGUAN: 79, CHANGCHUN: 870, CIVIL_AFFAIRS: 364, OFFICE: 4805}
    for org, total in expected.items():
        r = api.call("GET", "/api/tasks", org, params={"limit": 5})
        assert r.status_code == 200, r.text
        assert r.json()["total"] == total, org


def test_filters_and_paging(api):
    r = api.call("GET", "/api/tasks", OFFICE,
                 params={"milestone": "catalog", "domain": "social_assistance", "limit": 7,
                         "offset": 56})
    body = r.json()
    assert body["total"] == 60 and len(body["items"]) == 4
    # each row carries its schedule's next action: reminder-10 of 07-01, 06-16 09:00 (+08)
    assert {i["next_action_at"] for i in body["items"]} == {"2020-06-16T01:00:00Z"}
    r = api.call("GET", "/api/tasks", OFFICE, params={"org": NANGUAN, "state": "pending"})
    assert r.json()["total"] == 79
    # due before 2020-05-01: work_plan (04-17) and dept_filing (04-25), 26 each
    r = api.call("GET", "/api/tasks", OFFICE, params={"due_before": "2020-05-01"})
    assert r.json()["total"] == 52
    # on 2020-04-20 only the 26 work_plan tasks (due 04-17) are overdue
    r = api.call("GET", "/api/tasks", OFFICE, params={"overdue": "true"})
    assert r.json()["total"] == 26
    r = api.call("GET", "/api/tasks", OFFICE, params={"due_after": "2020-12-01"})
    assert r.json()["total"] == 1  # go_live, 12-31


def test_another_units_task_is_404_not_403(api):
    tid = api.task_id(f"catalog:{NANGUAN}:social_assistance")
    for org in (CHANGYI, JILIN_CITY, EDUCATION):
        r = api.call("GET", f"/api/tasks/{tid}", org)
        assert r.status_code == 404
        assert r.json()["code"] == "not_found" and "不存在" in r.json()["message"]
    for org in (NANGUAN, CHANGCHUN, CIVIL_AFFAIRS, OFFICE):
        assert api.call("GET", f"/api/tasks/{tid}", org).status_code == 200


def test_transition_history_and_stale_version(api):
    tid = api.task_id(f"catalog:{NANGUAN}:social_assistance")
    api.auth(NANGUAN)
    before = snapshot(api.engine)
    r = api.call("POST", f"/api/tasks/{tid}/transitions", NANGUAN,
                 json={"action": "start", "version": 1}, headers={"X-Request-ID": "req-start-1"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "in_progress" and body["version"] == 2
    assert body["allowed_actions"] == ["submit"]
    assert [(h["kind"], h["request_id"], h["actor_org_code"]) for h in body["history"]] == [
        ("task_started", "req-start-1", NANGUAN)]
    assert r.headers["X-Request-ID"] == "req-start-1"
    # a second request with the old version: 409, nothing changes
    mid = snapshot(api.engine)
    assert mid["auditevent"] == before["auditevent"] + 1
    r = api.call("POST", f"/api/tasks/{tid}/transitions", NANGUAN,
                 json={"action": "submit", "version": 1})
    assert r.status_code == 409
    assert r.json()["code"] == "stale_version" and "版本" in r.json()["message"]
    assert snapshot(api.engine) == mid
    r = api.call("POST", f"/api/tasks/{tid}/transitions", NANGUAN,
                 json={"action": "submit", "version": 2, "evidence_url": "https://gk.example.org/ml"})
    assert r.status_code == 200 and r.json()["state"] == "submitted"
    detail = api.call("GET", f"/api/tasks/{tid}", CHANGCHUN).json()
    assert sorted(detail["allowed_actions"]) == ["accept", "return"]
    assert detail["history"][-1]["detail"]["evidence_url"] == "https://gk.example.org/ml"


def test_errors_are_chinese_json(api):
    tid = api.task_id(f"catalog:{NANGUAN}:social_assistance")
    r = api.client.get("/api/tasks")
    assert r.status_code == 401 and r.json()["code"] == "not_authenticated"
    r = api.client.get("/api/tasks", headers={"Authorization": "Bearer rlt_nonsense"})
    assert r.status_code == 401 and "无效" in r.json()["message"]
    r = api.call("POST", f"/api/tasks/{tid}/transitions", NANGUAN, json={"action": "start"})
    assert r.status_code == 422
    assert r.json()["field"] == "version" and "version" in r.json()["message"]
    assert "必须填写" in r.json()["message"]
    r = api.call("POST", f"/api/tasks/{tid}/transitions", NANGUAN, content=b"{not json",
                 headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    r = api.call("GET", "/api/tasks", NANGUAN, params={"limit": 0})
    assert r.status_code == 422 and r.json()["field"] == "limit"
    r = api.call("GET", "/api/nowhere", NANGUAN)
    assert r.status_code == 404 and r.json()["message"] == "没有这个地址"
    # return without findings: 422 naming the note, after accept-path prep
    for action, org in (("submit", NANGUAN),):
        api.call("POST", f"/api/tasks/{tid}/transitions", org, json={"action": action, "version": 1})
    r = api.call("POST", f"/api/tasks/{tid}/transitions", CHANGCHUN,
                 json={"action": "return", "version": 2})
    assert r.status_code == 422 and r.json()["field"] == "note" and "退回意见" in r.json()["message"]
    # submitting upload before the city review: 409 listing what it waits for
    up = api.task_id(f"upload:{NANGUAN}:social_assistance")
    r = api.call("POST", f"/api/tasks/{up}/transitions", NANGUAN, json={"action": "submit", "version": 1})
    assert r.status_code == 409 and r.json()["code"] == "requirements_pending"
    assert r.json()["waiting_for"] == [f"city_review:{NANGUAN}"]


def test_audit_is_office_only_and_read_only(api):
    tid = api.task_id(f"catalog:{NANGUAN}:social_assistance")
    api.call("POST", f"/api/tasks/{tid}/transitions", NANGUAN, json={"action": "start", "version": 1},
             headers={"X-Request-ID": "abc-123"})
    r = api.call("GET", "/api/audit", OFFICE, params={"request_id": "abc-123"})
    assert r.status_code == 200
    items = r.json()["items"]
    assert [(e["kind"], e["task_id"], e["before"]["state"], e["after"]["state"]) for e in items] == [
        ("task_started", tid, "pending", "in_progress")]
    for org in (NANGUAN, CHANGCHUN, CIVIL_AFFAIRS):
        assert api.call("GET", "/api/audit", org).status_code == 403
    paths = [p for p, ops in api.client.app.openapi()["paths"].items()
             if p.startswith("/api/audit") and set(ops) & {"put", "patch", "delete", "post"}]
    assert paths == []
    assert api.call("DELETE", "/api/audit", OFFICE).status_code == 405


def test_expired_token_is_refused(api):
    from datetime import timedelta

    from rollout import db
    from rollout.actions.tokens import issue_token
    from rollout.workflow import Role

    with db.unit_of_work(api.engine) as s:
        _, text = issue_token(s, NANGUAN, Role.county, now=api.clock(), days=1)
    headers = {"Authorization": f"Bearer {text}"}
    assert api.client.get("/api/tasks", headers=headers).status_code == 200
    api.clock.now += timedelta(days=1)
    r = api.client.get("/api/tasks", headers=headers)
    assert r.status_code == 401 and "过期" in r.json()["message"]
