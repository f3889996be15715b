"""``rollout token create|list|revoke`` and ``rollout serve`` as real processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import httpx

from tests.api.conftest import CHANGCHUN


def rollout(*args: str, url: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    proc = subprocess.run([sys.executable, "-m", "rollout", *args, "--db", url],
                          capture_output=True, text=True, env=env, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_token_lifecycle(api):
    proc = rollout("token", "create", "--org", "长春市", "--role", "city", "--name", "王审核",
                   "--days", "30", url=api.url)
    token = proc.stdout.strip().splitlines()[-1]
    assert token.startswith("rlt_") and "只显示这一次" in proc.stdout
    with api.engine.connect() as conn:
        stored = conn.exec_driver_sql("select token_hash, org_code from apitoken").all()
    assert len(stored) == 1 and token not in stored[0][0] and stored[0][1] == CHANGCHUN
    r = api.client.get("/api/tasks", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json()["total"] == 870
    listed = json.loads(rollout("token", "list", "--format", "json", url=api.url).stdout)
    assert listed[0]["role"] == "city" and listed[0]["last_used_at"] == "2020-04-20T02:00:00+00:00"
    rollout("token", "revoke", str(listed[0]["id"]), url=api.url)
    r = api.client.get("/api/tasks", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and "吊销" in r.json()["message"]
    bad = rollout("token", "create", "--org", "长春市", "--role", "county", url=api.url, check=False)
    assert bad.returncode == 1 and "只能使用角色 city" in bad.stderr


def test_serve_runs_the_api(api):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    env = {**os.environ, "ROLLOUT_FILE_STORE_DIR": str(api.store)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rollout", "serve", "--port", str(port), "--no-scheduler",
         "--db", api.url], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(300):
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError(proc.stderr.read1().decode() if proc.stderr else "")
        assert r.status_code == 200 and "/api/filings" in r.json()["paths"]
        r = httpx.get(f"http://127.0.0.1:{port}/api/tasks", timeout=5)
        assert r.status_code == 401 and r.json()["code"] == "not_authenticated"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
