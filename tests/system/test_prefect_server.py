"""The at-scale deployment, for real (issue 6, item 3): a Prefect server on PostgreSQL, a process
work pool, two ``prefect worker`` processes pulling the deployments of ``prefect.yaml``, the
rollout database on PostgreSQL and an SMTP sink (aiosmtpd), all started here on loopback and
stopped at the end.

The test deploys a copy of ``prefect.yaml`` with the same deployments, its schedules paused (no
run starts on the clock) and its concurrency limits dropped, so two sweeps and two dispatchers
really overlap: exactly-once must hold without the limits (they only save work). It triggers
two ``sweep-deadlines`` runs and two ``dispatch-outbox`` runs at once, waits for them, then one
more ``dispatch-outbox`` run to send what the first two may have missed (rows committed after
they looked), and checks the rollout database and the sink.

Expected values, worked out by hand (see ``tests/flows/test_deadlines.py`` for the working-day
arithmetic): the Jilin plan loaded on 2020-03-20 and swept at 2020-04-13 09:00 owes, for each
of the 26 domains, reminder-5 of ``work_plan`` (sent), the missed reminder-10 of ``work_plan``
(recorded as skipped) and reminder-10 of ``dept_filing`` (sent): 52 rows sent, 26 skipped, every
one to the domain's provincial department. The registry names 18 departments for the 26
domains, so one day's rows make 18 digests, one mail each.

On failure the output has the tails of the server's, the workers' and the deploy's logs (the
workers' logs hold the flow runs' own output).
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import yaml
from aiosmtpd.controller import Controller
from sqlmodel import Session, col, func, select

from rollout import db
from rollout.calendar import TZ, WorkingCalendar
from rollout.models import (
    Digest,
    DigestStatus,
    Milestone,
    Organization,
    OrgKind,
    OutboxMessage,
    OutboxStatus,
    TrackedTask,
)
from rollout.plans.fanout import instantiate_plan
from rollout.plans.schema import BUNDLED_PLAN
from tests.conftest import PG_URL

pytestmark = pytest.mark.system

REPO = Path(__file__).resolve().parents[2]
POOL = "rollout-process"
LOADED_AT = datetime(2020, 3, 20, 9, 0, tzinfo=TZ)
SWEEP_AS_OF = "2020-04-13T09:00:00+08:00"
DISPATCH_NOW = "2020-04-13T09:05:00+08:00"
STARTUP_SECONDS = 240  # generous: two shared cores, a fresh Prefect schema to migrate
RUN_SECONDS = 600
CLI_SECONDS = 300
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _prefect() -> list[str]:
    script = Path(sys.executable).with_name("prefect")
    return [str(script)] if script.exists() else [sys.executable, "-m", "prefect"]


class MailSink:
    """aiosmtpd handler keeping (Message-ID, envelope recipients) of every message."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str]]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's naming
        msg = email.message_from_bytes(envelope.original_content or envelope.content,
                                       policy=email.policy.default)
        with self.lock:
            self.received.append((msg["Message-ID"], list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


class Stack:
    """The started processes (each in its own process group), their logs, and the CLI."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home, self.env = home, env
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.logs: dict[str, Path] = {}

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        log = self.home / f"{name}.log"
        self.logs[name] = log
        with log.open("wb") as out:
            proc = subprocess.Popen(_prefect() + args, cwd=self.home, env=env or self.env,
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append((name, proc))

    def cli(self, name: str, args: list[str]) -> str:
        log = self.home / f"{name}.log"
        self.logs[name] = log
        done = subprocess.run(_prefect() + args, cwd=self.home, env=self.env, timeout=CLI_SECONDS,
                              capture_output=True, text=True)
        log.write_text(done.stdout + done.stderr, encoding="utf-8")
        if done.returncode != 0:
            pytest.fail(f"prefect {' '.join(args)} exited {done.returncode}\n{self.tails()}")
        return done.stdout

    def check_alive(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                pytest.fail(f"{name} exited with {proc.returncode}\n{self.tails()}")

    def tails(self, lines: int = 150) -> str:
        out = []
        for name, path in self.logs.items():
            text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
            out.append(f"----- {name} ({path}) -----\n" + "\n".join(text.splitlines()[-lines:]))
        return "\n".join(out)

    def stop(self) -> None:
        """Workers first (they deregister from the live server), then the server: SIGTERM to
        each process group, then SIGKILL to what is left of the group after 20 s (a flow run a
        worker started, the server's own children)."""
        for _name, proc in reversed(self.procs):
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:  # the group is gone already
        pass


def _wait(what: str, check, stack: Stack, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack.check_alive()
        value = check()
        if value:
            return value
        time.sleep(1)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{stack.tails()}")


def _get(api: httpx.Client, path: str):
    try:
        response = api.get(path)
    except httpx.TransportError:
        return None
    return response.json() if response.status_code == 200 else None


@pytest.fixture
def rollout_db(pg_url: str) -> str:
    """The test's rollout database on PostgreSQL with the Jilin plan loaded on 2020-03-20."""
    with db.unit_of_work(db.get_engine(pg_url)) as session:
        instantiate_plan(session, BUNDLED_PLAN, now=LOADED_AT, calendar=WorkingCalendar())
    db.get_engine(pg_url).dispose()
    return pg_url


@pytest.fixture
def prefect_db(pg_template: str) -> Iterator[str]:
    """A fresh PostgreSQL database for the Prefect server (asyncpg URL); dropped at the end.
    (``pg_template``: skips, or fails under CI, when PostgreSQL is unreachable.)"""
    name = f"prefect_sys_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(PG_URL).set(drivername="postgresql+asyncpg", database=name)
    yield url.render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def mail_sink() -> Iterator[tuple[MailSink, int]]:
    """A running aiosmtpd server on 127.0.0.1 (no TLS): (its handler, its port)."""
    sink, port = MailSink(), _free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield sink, port
    controller.stop()


@pytest.fixture
def stack(tmp_path: Path, prefect_db: str, rollout_db: str, mail_sink) -> Iterator[tuple[Stack, str]]:
    """Server, work pool, deployments (paused copy of prefect.yaml), two workers: running."""
    _sink, smtp_port = mail_sink
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ROLLOUT_"))}
    env = base | {
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": api_url,
        "PREFECT_API_DATABASE_CONNECTION_URL": prefect_db,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "PYTHONUNBUFFERED": "1",
    }
    worker_env = env | {
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "ROLLOUT_DATABASE_URL": rollout_db,
        "ROLLOUT_SMTP_HOST": "127.0.0.1",
        "ROLLOUT_SMTP_PORT": str(smtp_port),
        "ROLLOUT_SMTP_STARTTLS": "false",
        "ROLLOUT_DISPATCH_RATE_PER_SECOND": "200",
    }
    config = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    for deployment in config["deployments"]:
        deployment.pop("concurrency_limit", None)
        for schedule in deployment.get("schedules") or []:
            schedule["active"] = False
    (tmp_path / "prefect.yaml").write_text(yaml.safe_dump(config, allow_unicode=True),
                                           encoding="utf-8")
    s = Stack(tmp_path, env)
    try:
        s.start("server", ["server", "start", "--host", "127.0.0.1", "--port", str(port)])
        with httpx.Client(base_url=api_url, timeout=30) as api:
            _wait("the Prefect server's /health", lambda: _get(api, "/health"), s, STARTUP_SECONDS)
            s.cli("work-pool", ["work-pool", "create", POOL, "--type", "process"])
            s.cli("deploy", ["--no-prompt", "deploy", "--all"])
            for n in (1, 2):
                s.start(f"worker-{n}", ["worker", "start", "--pool", POOL, "--name", f"worker-{n}"],
                        worker_env)

            def both_workers():
                r = api.post(f"/work_pools/{POOL}/workers/filter", json={})
                names = {w["name"] for w in r.json()} if r.status_code == 200 else set()
                return names >= {"worker-1", "worker-2"}

            _wait("two workers polling the pool", both_workers, s, STARTUP_SECONDS)
        yield s, api_url
    finally:
        s.stop()
        print(s.tails())  # shown by pytest only when the test failed


def _run(api: httpx.Client, deployment: str, parameters: dict) -> str:
    flow_name = deployment  # every flow is named like its deployment (prefect.yaml)
    dep = api.get(f"/deployments/name/{flow_name}/{deployment}")
    dep.raise_for_status()
    run = api.post(f"/deployments/{dep.json()['id']}/create_flow_run",
                   json={"parameters": parameters})
    run.raise_for_status()
    return run.json()["id"]


def _cli_run(s: Stack, name: str, params: str) -> str:
    """``prefect deployment run NAME --params JSON``; returns the flow run's id it prints."""
    out = s.cli("deployment-run", ["deployment", "run", name, "--params", params])
    found = re.search(r"UUID: ([0-9a-f-]{36})", out)
    if not found:
        pytest.fail(f"no flow run id in the output of prefect deployment run:\n{out}")
    return found.group(1)


def _wait_runs(api: httpx.Client, runs: dict[str, str], s: Stack) -> None:
    """Wait until every run is terminal; fail with their states and the logs unless all
    COMPLETED, each run once."""
    def states():
        now = {label: api.get(f"/flow_runs/{rid}").json() for label, rid in runs.items()}
        return now if all(r["state"]["type"] in TERMINAL for r in now.values()) else None

    final = _wait(f"flow runs {sorted(runs)}", states, s, RUN_SECONDS)
    bad = {label: (r["state"]["type"], r["state"].get("message")) for label, r in final.items()
           if r["state"]["type"] != "COMPLETED"}
    if bad:
        pytest.fail(f"flow runs did not complete: {bad}\n{s.tails()}")
    # both workers may try to submit a run; the server lets one of them run it, once
    assert {label: r["run_count"] for label, r in final.items()} == dict.fromkeys(runs, 1)


def _department_count() -> int:
    """Departments the registry names for the 26 domains (read from the file itself)."""
    registry = yaml.safe_load(
        (REPO / "rollout/plans/data/jilin-registry.yaml").read_text(encoding="utf-8"))
    assert len(registry["domains"]) == 26
    return len({d["department"] for d in registry["domains"]})


def test_sweeps_and_dispatchers_on_a_prefect_server_with_two_workers(stack, rollout_db, mail_sink):
    s, api_url = stack
    sink, _port = mail_sink
    with httpx.Client(base_url=api_url, timeout=30) as api:
        runs = {
            "sweep-1": _run(api, "sweep-deadlines", {"as_of": SWEEP_AS_OF}),
            "dispatch-1": _run(api, "dispatch-outbox", {"now": DISPATCH_NOW}),
            "dispatch-2": _run(api, "dispatch-outbox", {"now": DISPATCH_NOW}),
            # the README's command, as an operator would type it
            "sweep-2": _cli_run(s, "sweep-deadlines/sweep-deadlines",
                                json.dumps({"as_of": SWEEP_AS_OF})),
        }
        _wait_runs(api, runs, s)
        # what the first two dispatchers could not see yet (the sweep committed after they looked)
        _wait_runs(api, {"dispatch-3": _run(api, "dispatch-outbox", {"now": DISPATCH_NOW})}, s)

    engine = db.get_engine(rollout_db)
    with Session(engine) as session:
        by_step = Counter({
            (m, k, str(st)): n for m, k, st, n in session.exec(
                select(Milestone.key, OutboxMessage.step_key, OutboxMessage.status, func.count())
                .join(TrackedTask, col(TrackedTask.id) == OutboxMessage.task_id)
                .join(Milestone, col(Milestone.id) == TrackedTask.milestone_id)
                .group_by(Milestone.key, OutboxMessage.step_key, OutboxMessage.status))
        })
        # every due row once: one per task and step, 26 tasks each
        assert by_step == {
            ("work_plan", "reminder-5", "sent"): 26,
            ("work_plan", "reminder-10", "skipped"): 26,
            ("dept_filing", "reminder-10", "sent"): 26,
        }
        distinct_tasks = session.exec(
            select(func.count(func.distinct(OutboxMessage.task_id)))).one()
        assert distinct_tasks == 52
        digests = list(session.exec(select(Digest)))
        department_emails = set(session.exec(
            select(Organization.email).where(Organization.kind == OrgKind.department)))
        unsent_rows = session.exec(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.status == OutboxStatus.sent, col(OutboxMessage.digest_id).is_(None))).one()
    engine.dispose()
    db.get_engine.cache_clear()

    departments = _department_count()
    assert departments == 18
    assert len(department_emails) == departments
    assert unsent_rows == 0
    # one digest per department for the day, each sent, each reaching the sink exactly once
    assert len(digests) == departments
    assert {d.address for d in digests} == department_emails
    assert all(d.status == DigestStatus.sent for d in digests)
    with sink.lock:
        received = list(sink.received)
    ids = [mid for mid, _ in received]
    assert len(ids) == len(set(ids)) == departments
    assert set(ids) == {d.message_id for d in digests}
    by_id = {d.message_id: d.address for d in digests}
    assert all(rcpts == [by_id[mid]] for mid, rcpts in received)
