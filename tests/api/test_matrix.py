"""Every role x every transition on a county's catalog task (accepted by its city).

Allowed ones succeed (200, the new state); the others fail with the right status (another
unit's task: 404; visible but not yours to do: 403) and leave every task row and the audit,
filing, attachment, review, extension and contact tables exactly as they were.
"""

from __future__ import annotations

from itertools import count

from rollout import db
from rollout.workflow import Action, Actor, Role, transition
from tests.api.conftest import CHANGCHUN, CHANGYI, CIVIL_AFFAIRS, JILIN_CITY, OFFICE, snapshot

COUNTIES = ["220102", "220103", "220104", "220105", "220106", "220112", "220113", "220122",
            "220182", "220183", "220184"]  # 长春市's counties (registry)
ROLES = ["office", "department", "city", "county", "other_city", "other_county"]

# action → (state it needs, {role: expected status}); success gives the new state
MATRIX = {
    "start": ("pending", {"office": 200, "county": 200, "city": 403, "department": 403}),
    "submit": ("pending", {"office": 200, "county": 200, "city": 403, "department": 403}),
    "accept": ("submitted", {"city": 200, "office": 403, "county": 403, "department": 403}),
    "return": ("submitted", {"city": 200, "office": 403, "county": 403, "department": 403}),
    "waive": ("pending", {"office": 200, "county": 403, "city": 403, "department": 403}),
    "cancel": ("pending", {"office": 200, "county": 403, "city": 403, "department": 403}),
}
NEW_STATE = {"start": "in_progress", "submit": "submitted", "accept": "accepted",
             "return": "returned", "waive": "waived", "cancel": "cancelled"}


def _prepare(api, key: str, state: str) -> int:
    tid = api.task_id(key)
    if state == "submitted":
        with db.unit_of_work(api.engine) as s:
            transition(s, tid, Action.submit, Actor(OFFICE, Role.office, "准备"), now=api.clock(),
                       calendar=api.client.app.state.rollout.calendar)
    return tid


def test_every_role_and_action(api):
    pool = (f"catalog:{c}:{d}" for c in COUNTIES for d in ("social_assistance", "elderly_care"))
    seen = count()
    for action, (state, expected) in MATRIX.items():
        shared_key = next(pool)
        shared = _prepare(api, shared_key, state)
        for role in ROLES:
            status = expected.get(role, 404)
            key = next(pool) if status == 200 else shared_key
            tid = _prepare(api, key, state) if status == 200 else shared
            county = key.split(":")[1]
            org = {"office": OFFICE, "department": CIVIL_AFFAIRS, "city": CHANGCHUN,
                   "county": county, "other_city": JILIN_CITY, "other_county": CHANGYI}[role]
            api.auth(org)
            version = 2 if state == "submitted" else 1
            body = {"action": action, "version": version}
            if action in ("return", "waive", "cancel"):
                body["note"] = "缺少公开依据要素"
            before = snapshot(api.engine)
            r = api.call("POST", f"/api/tasks/{tid}/transitions", org, json=body)
            next(seen)
            assert r.status_code == status, (action, role, r.text)
            if status == 200:
                assert r.json()["state"] == NEW_STATE[action]
                assert r.json()["version"] == version + 1
                after = snapshot(api.engine)
                assert after["auditevent"] == before["auditevent"] + 1
            else:
                assert r.json()["code"] == ("not_found" if status == 404 else "permission_denied")
                assert snapshot(api.engine) == before, (action, role)
    assert next(seen) == 36
