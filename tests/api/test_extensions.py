"""Extension requests (延期申请): asked by the owner before its due day ends, decided by the
unit above; approval moves the due day and the reminder schedule, the original day is kept."""

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


def test_county_asks_city_approves(api):
    api.clock.set(2020, 6, 20, 10, 0)
    tid = api.task_id(f"catalog:{NANGUAN}:social_assistance")
    r = api.call("POST", f"/api/tasks/{tid}/extensions", NANGUAN,
                 json={"reason": "目录涉及事项较多，需与民政部门核对", "new_due_on": "2020-07-15"})
    assert r.status_code == 201, r.text
    ext = r.json()
    assert ext["status"] == "pending" and ext["previous_due_on"] == "2020-07-01"
    r = api.call("POST", f"/api/tasks/{tid}/extensions", NANGUAN,
                 json={"reason": "再次申请", "new_due_on": "2020-07-20"})
    assert r.status_code == 409 and r.json()["code"] == "extension_pending"
    for org in (OFFICE, CHANGYI, JILIN_CITY, NANGUAN, CIVIL_AFFAIRS):
        api.auth(org)
    before = snapshot(api.engine)
    expected = {NANGUAN: 403, OFFICE: 403, CIVIL_AFFAIRS: 403, JILIN_CITY: 404, CHANGYI: 404}
    for org, status in expected.items():
        r = api.call("POST", f"/api/extensions/{ext['id']}/decision", org, json={"decision": "approve"})
        assert r.status_code == status, (org, r.text)
        assert snapshot(api.engine) == before
    r = api.call("POST", f"/api/extensions/{ext['id']}/decision", CHANGCHUN,
                 json={"decision": "approve", "note": "同意"})
    assert r.status_code == 200 and r.json()["status"] == "approved"
    task = api.call("GET", f"/api/tasks/{tid}", NANGUAN).json()
    assert task["due_on"] == "2020-07-15" and task["original_due_on"] == "2020-07-01"
    assert task["due_at"] == "2020-07-15T15:59:59.999999Z"
    # reminder-10: the 10th working day before Wed 2020-07-15 is Wed 2020-07-01, at 09:00 local
    assert task["next_action_at"] == "2020-07-01T01:00:00Z"
    assert task["version"] == 2
    assert [h["kind"] for h in task["history"]][-3:] == [
        "extension_requested", "extension_approved", "task_due_extended"]
    r = api.call("POST", f"/api/extensions/{ext['id']}/decision", CHANGCHUN, json={"decision": "refuse"})
    assert r.status_code == 409 and r.json()["code"] == "extension_decided"


def test_too_late_and_refusal(api):
    tid = api.task_id(f"catalog:{NANGUAN}:elderly_care")
    api.clock.set(2020, 7, 2, 0, 0, 1)  # one second into the day after the due day
    api.auth(NANGUAN)
    before = snapshot(api.engine)
    r = api.call("POST", f"/api/tasks/{tid}/extensions", NANGUAN,
                 json={"reason": "来不及", "new_due_on": "2020-07-20"})
    assert r.status_code == 409 and r.json()["code"] == "extension_too_late"
    assert "2020-07-01 已过" in r.json()["message"]
    assert snapshot(api.engine) == before
    api.clock.set(2020, 7, 1, 23, 0)  # still the due day: taken
    r = api.call("POST", f"/api/tasks/{tid}/extensions", NANGUAN,
                 json={"reason": "系统故障", "new_due_on": "2020-07-03"})
    assert r.status_code == 201
    r = api.call("POST", f"/api/extensions/{r.json()['id']}/decision", CHANGCHUN,
                 json={"decision": "refuse", "note": "理由不充分"})
    assert r.status_code == 200 and r.json()["status"] == "refused"
    assert api.call("GET", f"/api/tasks/{tid}", NANGUAN).json()["due_on"] == "2020-07-01"
    r = api.call("POST", f"/api/tasks/{tid}/extensions", NANGUAN,
                 json={"reason": "提前", "new_due_on": "2020-06-30"})
    assert r.status_code == 422 and r.json()["field"] == "new_due_on"


def test_department_asks_the_office(api):
    api.clock.set(2020, 4, 10, 9, 0)
    tid = api.task_id("work_plan:compulsory_education")
    r = api.call("POST", f"/api/tasks/{tid}/extensions", EDUCATION,
                 json={"reason": "需征求教育部意见", "new_due_on": "2020-04-24"})
    assert r.status_code == 201
    assert api.call("POST", f"/api/extensions/{r.json()['id']}/decision", CHANGCHUN,
                    json={"decision": "approve"}).status_code == 404
    r = api.call("POST", f"/api/extensions/{r.json()['id']}/decision", OFFICE, json={"decision": "approve"})
    assert r.status_code == 200
    assert api.call("GET", f"/api/tasks/{tid}", EDUCATION).json()["due_on"] == "2020-04-24"
