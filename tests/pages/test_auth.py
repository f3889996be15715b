"""Login, sessions, cookie flags, lockout after repeated failures, and CSRF on every POST."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from fastapi.routing import APIRoute

from rollout.api.pages.web import PageRoute
from rollout.settings import Settings
from tests.pages.conftest import PASSWORD
from tests.pages.markup import csrf_of


def _post_login(web, client, username, password):
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


def test_login_sets_a_session_cookie_httponly_samesite_lax_and_leads_home(web):
    web.ensure_user("changchun")
    c = web.client()
    r = _post_login(web, c, "changchun", PASSWORD)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("rollout_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http test client, setting unset
    assert c.get("/").headers["location"] == "/city/220100"
    page = c.get("/city/220100")
    assert page.status_code == 200 and "长春市" in page.text
    # the session row stores a hash, not the cookie value
    value = c.cookies.get("rollout_session")
    with web.engine.connect() as conn:
        stored = conn.execute(sa.text("select token_hash from websession")).scalars().all()
    assert value not in stored and len(stored) == 1 and len(stored[0]) == 64


def test_cookie_is_secure_over_https_or_when_configured(web, jilin, calendar, tmp_path):
    web.ensure_user("nanguan")
    https = web.client()
    https.base_url = https.base_url.copy_with(scheme="https")
    assert "Secure" in _post_login(web, https, "nanguan", PASSWORD).headers["set-cookie"]
    from rollout.api import create_app

    url = jilin.url.render_as_string(hide_password=False)
    app = create_app(Settings(database_url=url, file_store_dir=tmp_path / "f", web_cookie_secure=True),
                     clock=web.clock, calendar=calendar)
    from fastapi.testclient import TestClient

    c = TestClient(app, follow_redirects=False)
    assert "Secure" in c.get("/login").headers["set-cookie"]


def test_pages_redirect_to_login_without_a_session(web):
    r = web.client().get("/dashboard?x=1")
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2Fdashboard%3Fx%3D1"


def test_wrong_password_and_unknown_user_get_the_same_message(web):
    web.ensure_user("nanguan")
    c = web.client()
    wrong = _post_login(web, c, "nanguan", "not the password")
    unknown = _post_login(web, c, "nobody", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "用户名或密码不正确" in wrong.text and "用户名或密码不正确" in unknown.text
    assert "rollout_session" not in wrong.headers.get("set-cookie", "")


def test_five_failures_lock_for_60_s_then_the_lock_doubles(web):
    web.ensure_user("nanguan")
    c = web.client()
    start = web.clock()
    for _ in range(4):
        assert _post_login(web, c, "nanguan", "bad").status_code == 401
    fifth = _post_login(web, c, "nanguan", "bad")
    assert fifth.status_code == 429 and "暂时锁定" in fifth.text
    # while locked even the right password is refused, and not counted
    web.clock.now = start + timedelta(seconds=59)
    assert _post_login(web, c, "nanguan", PASSWORD).status_code == 429
    # after 60 s one more failure locks again, for 120 s
    web.clock.now = start + timedelta(seconds=61)
    assert _post_login(web, c, "nanguan", "bad").status_code == 429
    web.clock.now = start + timedelta(seconds=61 + 119)
    assert _post_login(web, c, "nanguan", PASSWORD).status_code == 429
    web.clock.now = start + timedelta(seconds=61 + 121)
    assert _post_login(web, c, "nanguan", PASSWORD).status_code == 303
    with web.engine.connect() as conn:
        failed, locked = conn.execute(sa.text(
            "select failed_logins, locked_until from webuser where username = 'nanguan'")).one()
        kinds = conn.execute(sa.text(
            "select kind from auditevent where kind like 'login_%' order by id")).scalars().all()
    assert (failed, locked) == (0, None)
    assert kinds == ["login_failed"] * 4 + ["login_locked", "login_locked"]


def test_login_next_must_be_a_local_path(web):
    web.ensure_user("office")
    c = web.client()
    token = csrf_of(c.get("/login").text)
    r = c.post("/login", data={"username": "office", "password": PASSWORD, "csrf_token": token,
                               "next": "//evil.example/x"})
    assert r.headers["location"] == "/"
    assert c.get("/login?next=/outbox").headers["location"] == "/outbox"


def test_a_post_without_or_with_a_wrong_csrf_token_is_refused_and_changes_nothing(web):
    c = web.login("nanguan")
    tid = web.task_id("catalog:220102:social_assistance")
    before = web.task("catalog:220102:social_assistance")
    for data in ({}, {"csrf_token": "forged"}):
        r = c.post(f"/tasks/{tid}/act", data={"action": "submit", "version": 1, **data})
        assert r.status_code == 403 and "防伪令牌" in r.text
    assert web.task("catalog:220102:social_assistance") == before
    # the login form itself: double-submit cookie
    fresh = web.client()
    fresh.get("/login")
    assert fresh.post("/login", data={"username": "nanguan", "password": PASSWORD}).status_code == 403
    # and a JSON body cannot stand in for the form
    assert c.post(f"/tasks/{tid}/act", json={"action": "submit"}).status_code == 403


def _routes(routes):
    """Routes with included routers flattened (FastAPI keeps an included router as one entry
    holding ``original_router``)."""
    for r in routes:
        inner = getattr(r, "original_router", None)
        yield from _routes(inner.routes) if inner is not None else [r]


def test_every_page_post_route_checks_csrf(web):
    """Every POST route of the pages goes through ``PageRoute`` and is refused without a token."""
    c = web.login("office")
    posts = [r for r in _routes(web.app.routes) if isinstance(r, APIRoute) and "POST" in r.methods
             and not r.path.startswith("/api")]
    assert {r.path for r in posts} >= {"/login", "/logout", "/tasks/{task_id}/act",
                                       "/tasks/{task_id}/sign-off", "/tasks/{task_id}/filing",
                                       "/unit/{code}/calendar"}
    for route in posts:
        assert isinstance(route, PageRoute)
        path = route.path.replace("{task_id}", "1").replace("{code}", "220102")
        assert c.post(path, data={"x": "1"}).status_code == 403, path


def test_logout_ends_the_session(web):
    c = web.login("office")
    token = csrf_of(c.get("/dashboard").text)
    r = c.post("/logout", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert c.get("/dashboard").status_code == 303
    with web.engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from websession")).scalar_one() == 0
