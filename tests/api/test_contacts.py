"""Contacts (联络人): kept by the organization itself and the provincial office, audited."""

from __future__ import annotations

from tests.api.conftest import CHANGCHUN, NANGUAN, OFFICE, snapshot


def test_contacts_crud_and_access(api):
    base = f"/api/orgs/{NANGUAN}/contacts"
    r = api.call("POST", base, NANGUAN, json={"name": "李明", "email": "liming@example.org",
                                              "domain_key": "social_assistance"})
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    r = api.call("POST", base, OFFICE, json={"name": "张华", "webhook_url": "https://qyapi.example.org/hook",
                                             "webhook_kind": "wecom"})
    assert r.status_code == 201
    assert [c["name"] for c in api.call("GET", base, NANGUAN).json()] == ["李明", "张华"]
    r = api.call("PATCH", f"{base}/{cid}", NANGUAN, json={"email": "li.ming@example.org"})
    assert r.status_code == 200 and r.json()["email"] == "li.ming@example.org"
    assert r.json()["domain_key"] == "social_assistance"
    api.auth(CHANGCHUN)
    before = snapshot(api.engine)
    for method, path, body, status in [
        ("POST", base, {"name": "王五", "email": "w@example.org"}, 403),
        ("PATCH", f"{base}/{cid}", {"name": "王五"}, 403),
        ("DELETE", f"{base}/{cid}", None, 403),
        ("GET", base, None, 403),
    ]:
        r = api.call(method, path, CHANGCHUN, json=body)
        assert r.status_code == status, (method, r.text)
    for body, field in (({"name": "赵六"}, "email"), ({"name": "赵六", "email": "not-mail"}, "email"),
                        ({"name": "赵六", "email": "z@example.org", "domain_key": "nope"}, "domain_key")):
        r = api.call("POST", base, NANGUAN, json=body)
        assert r.status_code == 422 and r.json()["field"] == field
    assert snapshot(api.engine) == before
    assert api.call("DELETE", f"{base}/{cid}", NANGUAN).status_code == 204
    assert api.call("DELETE", f"{base}/{cid}", NANGUAN).status_code == 404
    kinds = [e["kind"] for e in api.call("GET", "/api/audit", OFFICE,
                                          params={"kind": "contact_deleted"}).json()["items"]]
    assert kinds == ["contact_deleted"]
