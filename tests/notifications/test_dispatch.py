"""The dispatcher against a real SMTP server on loopback: SMTP down then up, retries with capped
backoff, two dispatchers at once, SIGKILL mid-batch, no SMTP configured, tasks done meanwhile."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from datetime import date, timedelta

import pytest
from sqlmodel import col, select
from typer.testing import CliRunner

from rollout import db
from rollout.cli import app
from rollout.models import (
    Digest,
    DigestStatus,
    JobLease,
    OutboxMessage,
    OutboxStatus,
    TaskState,
    TrackedTask,
)
from rollout.notifications.dispatch import DispatchConfig, backoff_seconds
from tests.notifications.conftest import (
    MAIL_FROM,
    SENDER_NAME,
    SmtpSink,
    at,
    free_port,
    run_at_once,
)
from tests.notifications.test_mail import config, run

DAY = date(2020, 7, 1)
T0 = at(2020, 7, 1, 9, 5)


def _digests(engine) -> list[Digest]:
    with db.read_session(engine) as s:
        return list(s.exec(select(Digest).order_by(col(Digest.id))))


def _rows(engine) -> list[OutboxMessage]:
    with db.read_session(engine) as s:
        return list(s.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))))


def _counties(engine, n: int) -> list[str]:
    from rollout.models import Organization, OrgKind

    with db.read_session(engine) as s:
        return list(s.exec(select(Organization.code).where(Organization.kind == OrgKind.county)
                           .order_by(col(Organization.code)).limit(n)))


def test_backoff_values():
    """base 60 s, cap 3600 s: 60, 120, 240, 480, 960, 1920, 3600, 3600."""
    assert [backoff_seconds(n, 60, 3600) for n in range(1, 9)] == [
        60, 120, 240, 480, 960, 1920, 3600, 3600]
    # a batch must fit in half the lease: 10 s lease at 2 messages/s → 10 digests per claim
    assert DispatchConfig(batch_size=100, lease_seconds=10, rate_per_second=2).claim_limit == 10


def test_without_smtp_mail_stays_in_the_outbox_and_is_listed(outbox, calendar):
    numbers = outbox.catalog_reminders("220102", DAY, at(2020, 7, 1))
    report = run(outbox.engine, T0, config(None), calendar)
    assert (report.claimed, report.sent, report.waiting_without_smtp) == (0, 0, 26)
    assert {r.status for r in _rows(outbox.engine)} == {OutboxStatus.pending}
    assert _digests(outbox.engine) == []

    url = outbox.engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(app, ["outbox", "list", "--status", "pending", "--format", "json",
                                      "--db", url])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert sorted(r["notice_number"] for r in listed) == sorted(numbers)
    assert {r["address"] for r in listed} == {"gk-220102@example.org"}
    table = CliRunner().invoke(app, ["outbox", "list", "--db", url])
    assert table.exit_code == 0 and "待发" in table.output and "共 26 条" in table.output


def test_smtp_down_then_up_every_digest_arrives_once(outbox, smtp_factory, calendar):
    """Nothing listens on the port: both digests fail attempt 1 and stay pending (rows too),
    due again 60 s later; before that nothing is tried; with the server up both arrive once."""
    outbox.catalog_reminders("220102", DAY, at(2020, 7, 1))
    outbox.catalog_reminders("220103", DAY, at(2020, 7, 1))
    port = free_port()
    down = run(outbox.engine, T0, config(port), calendar)
    assert (down.claimed, down.sent, down.retrying, down.failed) == (2, 0, 2, 0)
    ds = _digests(outbox.engine)
    assert [(d.status, d.attempts) for d in ds] == [(DigestStatus.pending, 1)] * 2
    for d in ds:
        assert T0 + timedelta(seconds=60) <= d.next_attempt_at < T0 + timedelta(seconds=61)
        assert "无法连接 SMTP 服务器" in d.last_error
    assert {r.status for r in _rows(outbox.engine)} == {OutboxStatus.pending}

    server = smtp_factory(port=port)
    early = run(outbox.engine, T0 + timedelta(seconds=30), config(port), calendar)
    assert (early.claimed, len(server.sink.received)) == (0, 0)
    up = run(outbox.engine, T0 + timedelta(seconds=61), config(port), calendar)
    assert (up.claimed, up.sent) == (2, 2)
    again = run(outbox.engine, T0 + timedelta(hours=1), config(port), calendar)
    assert again.claimed == 0
    ids = server.sink.ids()
    assert sorted(ids) == sorted(d.message_id for d in ds) and len(set(ids)) == 2
    assert {r.status for r in _rows(outbox.engine)} == {OutboxStatus.sent}
    assert all(r.sent_at is not None and r.sent_at >= T0 + timedelta(seconds=61)
               for r in _rows(outbox.engine))


def test_retries_back_off_to_the_cap_then_fail_and_stay_listed(outbox, calendar):
    """max 3 attempts, base 10 s, cap 15 s: retry after 10 s, then 15 s (20 capped), then
    failed; digest and rows stay visible as failed."""
    outbox.catalog_reminders("220102", DAY, at(2020, 7, 1))
    cfg = config(free_port(), max_attempts=3, backoff_base_seconds=10, backoff_cap_seconds=15)
    run(outbox.engine, T0, cfg, calendar)
    [d] = _digests(outbox.engine)
    assert (d.attempts, d.status) == (1, DigestStatus.pending)
    assert timedelta(seconds=10) <= d.next_attempt_at - T0 < timedelta(seconds=11)
    t1 = T0 + timedelta(seconds=11)
    run(outbox.engine, t1, cfg, calendar)
    [d] = _digests(outbox.engine)
    assert (d.attempts, d.status) == (2, DigestStatus.pending)
    assert timedelta(seconds=15) <= d.next_attempt_at - t1 < timedelta(seconds=16)
    r3 = run(outbox.engine, t1 + timedelta(seconds=16), cfg, calendar)
    [d] = _digests(outbox.engine)
    assert (r3.failed, d.attempts, d.status) == (1, 3, DigestStatus.failed)
    assert {r.status for r in _rows(outbox.engine)} == {OutboxStatus.failed}
    url = outbox.engine.url.render_as_string(hide_password=False)
    listed = CliRunner().invoke(app, ["outbox", "list", "--status", "failed", "--format", "json",
                                      "--db", url])
    assert len(json.loads(listed.output)) == 26


def test_a_refused_recipient_fails_at_once_and_the_others_go(outbox, smtp_factory, calendar):
    server = smtp_factory(SmtpSink(refuse={"gk-220102@example.org"}))
    outbox.catalog_reminders("220102", DAY, at(2020, 7, 1))
    outbox.catalog_reminders("220103", DAY, at(2020, 7, 1))
    report = run(outbox.engine, T0, config(server.port), calendar)
    assert (report.sent, report.failed) == (1, 1)
    bad, good = _digests(outbox.engine)
    assert (bad.status, bad.attempts, good.status) == (DigestStatus.failed, 1, DigestStatus.sent)
    assert "550" in bad.last_error
    assert [r.rcpt_tos for r in server.sink.received] == [["gk-220103@example.org"]]


def test_two_dispatchers_at_once_send_each_digest_once(outbox, smtp_server, calendar):
    """60 counties × 2 catalog rows → 60 digests; two dispatchers started together with
    batches of 5 (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: the write lock)."""
    counties = _counties(outbox.engine, 60)
    assert len(counties) == 60
    for c in counties:
        outbox.add([f"catalog:{c}:social_assistance", f"catalog:{c}:compulsory_education"],
                   kind="reminder", step_key="reminder-0", levels_up=0, org_code=c,
                   address=f"gk-{c}@example.org", scheduled_on=DAY, created_at=at(2020, 7, 1))
    cfg = config(smtp_server.port, batch_size=5)
    reports = run_at_once(lambda: run(outbox.engine, T0, cfg, calendar), timeout=120)
    assert sum(r.digests_built for r in reports) == 60
    assert sum(r.sent for r in reports) == 60
    ids = Counter(smtp_server.sink.ids())
    assert len(ids) == 60 and set(ids.values()) == {1}
    assert {r.rcpt_tos[0] for r in smtp_server.sink.received} == {
        f"gk-{c}@example.org" for c in counties}
    assert {d.status for d in _digests(outbox.engine)} == {DigestStatus.sent}


def _dispatch_cli(url: str, as_of: str, port: int, cwd, **env_extra: str) -> subprocess.Popen:
    env = {**os.environ, "ROLLOUT_SMTP_HOST": "127.0.0.1", "ROLLOUT_SMTP_PORT": str(port),
           "ROLLOUT_SMTP_STARTTLS": "false", "ROLLOUT_MAIL_FROM": MAIL_FROM,
           "ROLLOUT_MAIL_FROM_NAME": SENDER_NAME, "ROLLOUT_DISPATCH_RATE_PER_SECOND": "1000",
           "ROLLOUT_DISPATCH_SETTLE_SECONDS": "0", "ROLLOUT_DISPATCH_LEASE_SECONDS": "600",
           **env_extra}
    return subprocess.Popen(
        [sys.executable, "-m", "rollout", "dispatch", "--db", url, "--as-of", as_of],
        env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigkill_mid_batch_loses_nothing(outbox, smtp_factory, tmp_path):
    """5 digests, batches of 3 over one connection; the server records the 2nd message and
    then holds its reply. While batch 1 (digests 1-3) is being sent the dispatcher claims
    batch 2 (4-5); then it is killed with SIGKILL. Results are recorded per batch, so all 5
    stay claimed: 1 went, 2 went but was never answered, 3-5 never started. Before the 600 s
    lease runs out a new run sends nothing; after it all 5 go: every digest has arrived, 1 and
    2 twice with the same Message-ID, 3-5 once."""
    for c in _counties(outbox.engine, 5):
        outbox.catalog_reminders(c, DAY, at(2020, 7, 1))
    server = smtp_factory(SmtpSink(block_on=2))
    url = outbox.engine.url.render_as_string(hide_password=False)
    small = {"ROLLOUT_DISPATCH_BATCH_SIZE": "3", "ROLLOUT_DISPATCH_CONNECTIONS": "1"}

    proc = _dispatch_cli(url, "2020-07-01T09:05:00+08:00", server.port, tmp_path, **small)
    try:
        assert server.sink.blocked.wait(60), proc.stderr.read() if proc.poll() is not None else ""
        for _ in range(600):  # the next batch is claimed while this one is sent
            if [d.status for d in _digests(outbox.engine)][3:] == [DigestStatus.sending] * 2:
                break
            threading.Event().wait(0.1)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    server.sink.release.set()
    assert proc.returncode == -signal.SIGKILL
    assert [d.status for d in _digests(outbox.engine)] == [DigestStatus.sending] * 5
    first = [d.message_id for d in _digests(outbox.engine)]
    assert server.sink.ids() == first[:2]

    leased = _dispatch_cli(url, "2020-07-01T09:06:00+08:00", server.port, tmp_path, **small)
    out, err = leased.communicate(timeout=120)
    assert leased.returncode == 0, err
    assert server.sink.ids() == first[:2]

    after = _dispatch_cli(url, "2020-07-01T09:15:01+08:00", server.port, tmp_path, **small)
    out, err = after.communicate(timeout=120)
    assert after.returncode == 0, err
    digests = _digests(outbox.engine)
    assert [d.status for d in digests] == [DigestStatus.sent] * 5
    assert [d.message_id for d in digests] == first
    assert Counter(server.sink.ids()) == {first[0]: 2, first[1]: 2, first[2]: 1, first[3]: 1,
                                          first[4]: 1}
    by_digest: dict[str, set[str]] = {}
    for r in server.sink.received:
        by_digest.setdefault(r.msg["X-Rollout-Digest"], set()).add(r.message_id)
    assert all(len(v) == 1 for v in by_digest.values()) and len(by_digest) == 5
    assert {r.status for r in _rows(outbox.engine)} == {OutboxStatus.sent}


def test_rows_of_tasks_done_meanwhile_are_skipped(outbox, smtp_server, calendar):
    numbers = outbox.catalog_reminders("220102", DAY, at(2020, 7, 1))
    with db.unit_of_work(outbox.engine) as s:
        t = s.exec(select(TrackedTask).where(
            TrackedTask.key == "catalog:220102:social_assistance")).one()
        t.state = TaskState.submitted
    report = run(outbox.engine, T0, config(smtp_server.port), calendar)
    assert (report.rows_skipped, report.sent) == (1, 1)
    [mail] = smtp_server.sink.received
    assert mail.msg["Subject"] == "【催办】南关区：25项任务今日到期"
    assert len([n for n in numbers if n in mail.text()]) == 25
    assert Counter(r.status for r in _rows(outbox.engine)) == {
        OutboxStatus.sent: 25, OutboxStatus.skipped: 1}


def test_rows_wait_while_settling_or_while_a_sweep_runs(outbox, smtp_server, calendar):
    """Rows written 10 s ago wait for a 60 s settle; while the sweep's lease is held no digest
    is made; afterwards all 26 go in one mail."""
    outbox.catalog_reminders("220102", DAY, T0 - timedelta(seconds=10))
    cfg = config(smtp_server.port, settle_seconds=60)
    assert run(outbox.engine, T0, cfg, calendar).digests_built == 0
    with db.unit_of_work(outbox.engine) as s:
        s.add(JobLease(name="sweep", holder="another-process",
                       lease_until=T0 + timedelta(minutes=30)))
    assert run(outbox.engine, T0 + timedelta(minutes=5), cfg, calendar).digests_built == 0
    with db.unit_of_work(outbox.engine) as s:
        s.get(JobLease, "sweep").holder = None
    report = run(outbox.engine, T0 + timedelta(minutes=5), cfg, calendar)
    assert (report.digests_built, report.sent) == (1, 1)
    assert smtp_server.sink.received[0].msg["Subject"] == "【催办】南关区：26项任务今日到期"


@pytest.mark.usefixtures("prefect_harness")
def test_prefect_flow_dispatches(outbox, smtp_server, monkeypatch):
    from rollout.flows.dispatch import dispatch_outbox
    from rollout.settings import get_settings

    for k, v in {"ROLLOUT_SMTP_HOST": "127.0.0.1", "ROLLOUT_SMTP_PORT": str(smtp_server.port),
                 "ROLLOUT_SMTP_STARTTLS": "false", "ROLLOUT_DISPATCH_SETTLE_SECONDS": "0",
                 "ROLLOUT_MAIL_FROM_NAME": SENDER_NAME}.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    try:
        outbox.catalog_reminders("220102", DAY, at(2020, 7, 1))
        url = outbox.engine.url.render_as_string(hide_password=False)
        result = dispatch_outbox(database_url=url, now=T0)
    finally:
        get_settings.cache_clear()
    assert (result["sent"], result["failed"]) == (1, 0)
    [mail] = smtp_server.sink.received
    assert mail.msg["Subject"] == "【催办】南关区：26项任务今日到期"
    assert str(mail.msg["From"]) == f"{SENDER_NAME} <{MAIL_FROM}>"
