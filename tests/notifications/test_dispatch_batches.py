"""The dispatcher at volume (issue 6): batches over several SMTP connections at once, batch
results recorded together, two dispatchers on PostgreSQL, a temporary refusal inside a batch,
and the rate limit across connections. A real aiosmtpd server on loopback counts what arrives."""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from rollout import db
from rollout.models import (
    Channel,
    Digest,
    DigestStatus,
    OutboxMessage,
    OutboxStatus,
    TrackedTask,
)
from rollout.notifications.digest_build import build_digests
from tests.notifications.conftest import SmtpServer, SmtpSink, at, run_at_once
from tests.notifications.test_mail import config, run

DAY = date(2020, 7, 1)
T0 = at(2020, 7, 1, 9, 5)


@dataclass
class CountingSink(SmtpSink):
    """``SmtpSink`` that also notes each message's client address and arrival time
    (``time.monotonic()``), and answers RCPT of ``tempfail`` addresses with 451."""

    tempfail: set[str] = field(default_factory=set)
    peers: list[tuple[str, int]] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.tempfail:
            return "451 4.2.0 mailbox busy, try again later"
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.peers.append(tuple(session.peer))
            self.arrivals.append(time.monotonic())
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def sink():
    server = SmtpServer(CountingSink()).start()
    yield server
    server.stop()


def add_rows(engine: sa.Engine, n: int) -> dict[str, str]:
    """``n`` pending reminder rows of ``n`` different tasks to ``n`` different addresses (so
    ``n`` digests); returns address → notice number."""
    with db.unit_of_work(engine) as s:
        tasks = list(s.exec(select(TrackedTask.id, TrackedTask.plan_id, TrackedTask.due_on,
                                   TrackedTask.org_code).order_by(col(TrackedTask.id)).limit(n)))
        assert len(tasks) == n
        rows = [
            {"plan_id": plan_id, "task_id": tid, "due_on": due_on, "step_key": "reminder-0",
             "kind": "reminder", "levels_up": 0, "recipient_org_code": org,
             "recipient_name": "", "channel": "email", "address": f"unit{i}@example.org",
             "notice_number": f"催办〔2020〕{i + 1:05d}号", "scheduled_on": DAY,
             "status": "pending", "created_at": at(2020, 7, 1)}
            for i, (tid, plan_id, due_on, org) in enumerate(tasks)
        ]
        s.execute(sa.insert(OutboxMessage), rows)
    return {r["address"]: r["notice_number"] for r in rows}


def _digests(engine: sa.Engine) -> list[Digest]:
    with db.read_session(engine) as s:
        return list(s.exec(select(Digest).order_by(col(Digest.id))))


def _row_states(engine: sa.Engine) -> Counter:
    with db.read_session(engine) as s:
        return Counter(s.exec(select(OutboxMessage.status)))


def test_many_digests_over_several_connections_arrive_once_each(outbox, sink, calendar):
    """240 recipients, batches of 50 over 4 connections: 240 mails, one per Message-ID, each to
    its own address carrying its own notice; all 4 connections carried mail; every digest and
    row recorded sent."""
    expected = add_rows(outbox.engine, 240)
    report = run(outbox.engine, T0, config(sink.port, batch_size=50, connections=4), calendar)

    assert (report.digests_built, report.claimed, report.sent, report.failed) == (240, 240, 240, 0)
    received = sink.sink.received
    assert len(received) == 240
    assert set(Counter(r.message_id for r in received).values()) == {1}
    assert sorted(r.rcpt_tos[0] for r in received) == sorted(expected)
    for r in received:
        assert r.rcpt_tos == [r.msg["To"].addresses[0].addr_spec]
        assert expected[r.rcpt_tos[0]] in r.text()
    assert len(set(sink.sink.peers)) == 4
    digests = _digests(outbox.engine)
    assert {d.status for d in digests} == {DigestStatus.sent} and len(digests) == 240
    assert {d.message_id for d in digests} == {r.message_id for r in received}
    assert all(d.sent_at is not None and d.sent_at >= T0 and d.attempts == 1 for d in digests)
    for d in digests:  # made set-based, yet each its own id in its Message-ID
        assert re.fullmatch(rf"<digest-{d.id}-20200701\.[0-9a-f]{{8}}@rollout\.invalid>",
                            d.message_id), d.message_id
    assert _row_states(outbox.engine) == {OutboxStatus.sent: 240}
    again = run(outbox.engine, T0 + timedelta(hours=1), config(sink.port), calendar)
    assert (again.claimed, len(sink.sink.received)) == (0, 240)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_dispatchers_on_postgresql_send_each_digest_once(outbox, sink, calendar):
    """400 digests (built beforehand, as an earlier round would: a dispatcher that finds the
    rows locked by another one's build just ends), two dispatchers started together, each with
    4 connections and batches of 10 (FOR UPDATE SKIP LOCKED claims): both take part, every
    Message-ID arrives exactly once."""
    expected = add_rows(outbox.engine, 400)
    with db.unit_of_work(outbox.engine) as s:
        built, _ = build_digests(s, now=T0, channels=[Channel.email])
    assert len(built) == 400
    cfg = config(sink.port, batch_size=10, connections=4)
    reports = run_at_once(lambda: run(outbox.engine, T0, cfg, calendar), timeout=300)
    assert sum(r.sent for r in reports) == 400 and all(r.claimed > 0 for r in reports)
    ids = Counter(sink.sink.ids())
    assert len(ids) == 400 and set(ids.values()) == {1}
    assert sorted(r.rcpt_tos[0] for r in sink.sink.received) == sorted(expected)
    digests = _digests(outbox.engine)
    assert {d.status for d in digests} == {DigestStatus.sent}
    assert len({d.claimed_by for d in digests}) == 2
    assert _row_states(outbox.engine) == {OutboxStatus.sent: 400}


def test_a_temporary_refusal_backs_off_while_the_rest_of_the_batch_goes(outbox, sink, calendar):
    """12 digests in one batch over 3 connections; the server answers RCPT of unit4 with 451:
    the other 11 are sent once, unit4's digest is pending with attempt 1, retried after the
    60 s base delay (not before), and then arrives once with the same Message-ID."""
    expected = add_rows(outbox.engine, 12)
    sink.sink.tempfail = {"unit4@example.org"}
    cfg = config(sink.port, batch_size=50, connections=3)
    report = run(outbox.engine, T0, cfg, calendar)

    assert (report.sent, report.retrying, report.failed) == (11, 1, 0)
    assert sorted(r.rcpt_tos[0] for r in sink.sink.received) == sorted(
        set(expected) - {"unit4@example.org"})
    digests = {d.address: d for d in _digests(outbox.engine)}
    late = digests["unit4@example.org"]
    assert (late.status, late.attempts) == (DigestStatus.pending, 1)
    assert T0 + timedelta(seconds=60) <= late.next_attempt_at < T0 + timedelta(seconds=90)
    assert "451" in late.last_error
    assert {d.status for a, d in digests.items() if a != "unit4@example.org"} == {
        DigestStatus.sent}
    assert _row_states(outbox.engine) == {OutboxStatus.sent: 11, OutboxStatus.pending: 1}

    sink.sink.tempfail = set()
    early = run(outbox.engine, T0 + timedelta(seconds=30), cfg, calendar)
    assert (early.claimed, len(sink.sink.received)) == (0, 11)
    retry = run(outbox.engine, late.next_attempt_at, cfg, calendar)
    assert (retry.claimed, retry.sent) == (1, 1)
    ids = Counter(sink.sink.ids())
    assert len(ids) == 12 and set(ids.values()) == {1} and late.message_id in ids
    assert _row_states(outbox.engine) == {OutboxStatus.sent: 12}


def test_the_rate_limit_holds_across_connections(outbox, sink, calendar):
    """rate 20 a second over 4 connections: the k-th message (from 0) cannot arrive before
    k / 20 s after the run started, however the sends are spread over connections."""
    add_rows(outbox.engine, 9)
    started = time.monotonic()
    report = run(outbox.engine, T0, config(sink.port, rate_per_second=20, connections=4),
                 calendar)
    assert report.sent == 9
    arrivals = sorted(sink.sink.arrivals)
    assert len(arrivals) == 9
    for k, t in enumerate(arrivals):
        assert t - started >= k / 20


def test_later_rows_join_a_digest_not_yet_claimed_but_never_a_claimed_one(outbox, calendar):
    """Set-based build: rows for unit1 written after its digest was made join that digest
    while it is unclaimed; once it has been claimed, newer rows start a new digest."""
    add_rows(outbox.engine, 3)
    with db.unit_of_work(outbox.engine) as s:
        first, _ = build_digests(s, now=T0, channels=[Channel.email])
    assert len(first) == 3

    def more(step_key: str) -> None:
        outbox.add(["catalog:220102:social_assistance"], kind="reminder", step_key=step_key,
                   levels_up=0, org_code="220102", address="unit1@example.org",
                   scheduled_on=DAY, created_at=at(2020, 7, 1))

    more("reminder-1")
    with db.unit_of_work(outbox.engine) as s:
        assert build_digests(s, now=T0, channels=[Channel.email]) == ([], 0)
    unit1 = next(d for d in _digests(outbox.engine) if d.address == "unit1@example.org")
    with db.read_session(outbox.engine) as s:
        assert len(s.exec(select(OutboxMessage).where(OutboxMessage.digest_id == unit1.id))
                   .all()) == 2
    with db.unit_of_work(outbox.engine) as s:
        s.get(Digest, unit1.id).claimed_by = "someone"
    more("reminder-2")
    with db.unit_of_work(outbox.engine) as s:
        second, _ = build_digests(s, now=T0, channels=[Channel.email])
    assert len(second) == 1 and second[0] != unit1.id
    with db.read_session(outbox.engine) as s:
        assert len(s.exec(select(OutboxMessage).where(OutboxMessage.digest_id == second[0]))
                   .all()) == 1
