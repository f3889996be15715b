"""The dispatcher at national scale (issue 6): a large day's digests built in slices per round,
outbox statistics for the planner on a database that has none, the digests' results recorded
in one statement, and the fast path for plain addresses."""

from __future__ import annotations

from datetime import timedelta
from email.headerregistry import Address

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from rollout import db
from rollout.calendar import WorkingCalendar
from rollout.models import (
    Channel,
    Digest,
    DigestStatus,
    OutboxMessage,
    OutboxStatus,
    TrackedTask,
)
from rollout.notifications.digest_build import build_digests
from rollout.notifications.digests import load_contents
from rollout.notifications.dispatch import claim, record_sent
from rollout.notifications.mail import mailbox
from tests.notifications.conftest import at
from tests.notifications.test_dispatch_batches import DAY, T0, add_rows
from tests.notifications.test_mail import config, run

EARLIER = DAY - timedelta(days=1)


def _rows_by_digest(engine: sa.Engine) -> dict[int | None, set[str]]:
    """digest id (None: no digest yet) → notice numbers of its rows."""
    out: dict[int | None, set[str]] = {}
    with db.read_session(engine) as s:
        for digest_id, number in s.exec(select(OutboxMessage.digest_id,
                                               OutboxMessage.notice_number)):
            out.setdefault(digest_id, set()).add(number)
    return out


def _digest_keys(engine: sa.Engine) -> list[tuple[str, object]]:
    with db.read_session(engine) as s:
        return [(d.address, d.day) for d in s.exec(select(Digest).order_by(col(Digest.id)))]


def test_build_in_slices_of_keys_never_splits_a_recipients_day(outbox):
    """Keys (address, day): a@ on 06-30 (2 rows) and 07-01 (3 rows), b@ 07-01 (2), c@ 07-01
    (1). ``key_limit=2`` takes the first two keys in (address, day) order with all their rows
    (a@'s two days), then b@ and c@, then nothing; each digest carries exactly its key's rows,
    and the ids follow that order."""
    add = outbox.add
    tasks = [f"catalog:220102:{d}" for d in outbox.domains()]
    a_early = add(tasks[0:2], kind="reminder", step_key="reminder-1", levels_up=0,
                  org_code="220102", address="a@example.org", scheduled_on=EARLIER,
                  created_at=at(2020, 6, 30))
    a_day = add(tasks[2:5], kind="reminder", step_key="reminder-0", levels_up=0,
                org_code="220102", address="a@example.org", scheduled_on=DAY,
                created_at=at(2020, 7, 1))
    b_day = add(tasks[5:7], kind="reminder", step_key="reminder-0", levels_up=0,
                org_code="220102", address="b@example.org", scheduled_on=DAY,
                created_at=at(2020, 7, 1))
    c_day = add(tasks[7:8], kind="reminder", step_key="reminder-0", levels_up=0,
                org_code="220102", address="c@example.org", scheduled_on=DAY,
                created_at=at(2020, 7, 1))

    def build() -> list[int]:
        with db.unit_of_work(outbox.engine) as s:
            built, skipped = build_digests(s, now=T0, channels=[Channel.email], key_limit=2)
        assert skipped == 0
        return built

    first = build()
    assert _digest_keys(outbox.engine) == [("a@example.org", EARLIER), ("a@example.org", DAY)]
    rows = _rows_by_digest(outbox.engine)
    assert rows[first[0]] == set(a_early) and rows[first[1]] == set(a_day)
    assert rows[None] == set(b_day) | set(c_day)

    second = build()
    rows = _rows_by_digest(outbox.engine)
    assert [rows[i] for i in second] == [set(b_day), set(c_day)] and None not in rows
    assert first[1] < second[0]
    assert build() == []


def test_one_claim_builds_two_batches_of_keys_and_runs_send_them_all(outbox, smtp_server,
                                                                    calendar):
    """30 recipients, batches of 5: one claim builds 10 digests (2 batches' worth of keys) and
    claims 5; a run a minute later builds the other 20 and sends 25 (the 5 claimed are leased
    for 600 s); one after the lease sends those 5. 30 mails, each once."""
    add_rows(outbox.engine, 30)
    cfg = config(smtp_server.port, batch_size=5, connections=2)
    with db.unit_of_work(outbox.engine) as s:
        contents, built, skipped = claim(s, now=T0, config=cfg, calendar=calendar, worker="w")
    assert (len(contents), built, skipped) == (5, 10, 0)

    report = run(outbox.engine, T0 + timedelta(minutes=1), cfg, calendar)
    assert (report.digests_built, report.sent) == (20, 25)
    later = run(outbox.engine, T0 + timedelta(seconds=601), cfg, calendar)
    assert (later.digests_built, later.sent) == (0, 5)
    ids = smtp_server.sink.ids()
    assert len(ids) == 30 == len(set(ids))
    with db.read_session(outbox.engine) as s:
        assert set(s.exec(select(OutboxMessage.status))) == {OutboxStatus.sent}


def _plan(engine: sa.Engine, digest_ids: list[int], calendar: WorkingCalendar) -> str:
    """EXPLAIN of ``load_contents``' row query for ``digest_ids`` (captured as it runs)."""
    seen: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, params, context, executemany):
        if "outboxmessage.notice_number" in statement:
            seen.append((statement, params))

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        with db.read_session(engine) as s:
            load_contents(s, digest_ids, calendar)
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    statement, params = seen[0]
    with engine.connect() as conn:
        return "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, params))


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_database_without_outbox_statistics_gets_them_at_the_first_build(outbox, calendar):
    """The server runs without autovacuum and the new database has never analyzed its outbox:
    the first build analyzes it, so a batch's rows are read by digest id
    (``ix_outboxmessage_digest_id``) rather than through every pending row
    (``ix_outboxmessage_status_address``, chosen while PostgreSQL guesses 0.5 % for
    ``status = 'pending'`` and all rows for ``digest_id IN (200 ids)``)."""
    engine = outbox.engine
    stats = sa.text("SELECT count(*) FROM pg_stats WHERE tablename = 'outboxmessage'")
    with engine.connect() as conn:
        assert conn.execute(stats).scalar() == 0
    add_rows(engine, 3000)
    with db.unit_of_work(engine) as s:
        built, _ = build_digests(s, now=T0, channels=[Channel.email])
    assert len(built) == 3000
    plan = _plan(engine, built[1000:1200], calendar)
    assert "ix_outboxmessage_digest_id" in plan and "status_address" not in plan, plan
    with engine.connect() as conn:
        assert conn.execute(stats).scalar() > 0


def _many_rows(engine: sa.Engine, singles: int, heavy: int, rows_each: int) -> None:
    """``singles`` addresses with one row each (``a0000@…``, first in address order), then
    ``heavy`` addresses with ``rows_each`` rows each (``big0@…``), over the plan's tasks."""
    with db.unit_of_work(engine) as s:
        tasks = list(s.exec(select(TrackedTask.id, TrackedTask.plan_id, TrackedTask.due_on,
                                   TrackedTask.org_code).order_by(col(TrackedTask.id))))
        addresses = [f"a{i:04d}@example.org" for i in range(singles)] + [
            f"big{i % heavy}@example.org" for i in range(heavy * rows_each)]
        rows = [{"plan_id": plan_id, "task_id": tid, "due_on": due_on, "step_key": f"s-{i}",
                 "kind": "reminder", "levels_up": 0, "recipient_org_code": org,
                 "recipient_name": "", "channel": "email", "address": address,
                 "notice_number": f"催办〔2020〕N{i}号", "scheduled_on": DAY,
                 "status": "pending", "created_at": at(2020, 7, 1)}
                for i, address in enumerate(addresses)
                for tid, plan_id, due_on, org in [tasks[i % len(tasks)]]]
        s.execute(sa.insert(OutboxMessage), rows)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_slice_reads_the_task_states_by_primary_key(outbox):
    """Statistics taken over 40 addresses of 200 rows beside 400 of one row (a sweep's
    counties beside single recipients) overestimate the slice of the 400 one-row addresses;
    its read must still fetch each row's task state by primary key, not scan and hash the
    whole task table (1.2M tasks nationally: 0.1 s a round)."""
    engine = outbox.engine
    _many_rows(engine, 400, 40, 200)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE outboxmessage, digest, trackedtask")
    seen: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, params, context, executemany):
        if statement.startswith("SELECT outboxmessage.id"):
            seen.append((statement, params))

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        with db.unit_of_work(engine) as s:
            built, _ = build_digests(s, now=T0, channels=[Channel.email], key_limit=400)
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    assert len(built) == 400
    statement, params = seen[0]
    with engine.connect() as conn:
        plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, params))
    assert "Seq Scan on trackedtask" not in plan and "trackedtask_pkey" in plan, plan


def test_recording_a_batch_sent_keeps_a_first_sent_at(outbox):
    """``record_sent`` for 3 digests at their own times: each digest and its row ``sent`` at
    that time, attempts 1; recording two of them again later (another dispatcher whose lease
    had run out) changes nothing."""
    add_rows(outbox.engine, 3)
    with db.unit_of_work(outbox.engine) as s:
        ids, _ = build_digests(s, now=T0, channels=[Channel.email])
    times = [T0 + timedelta(seconds=n) for n in (1, 2, 3)]
    with db.unit_of_work(outbox.engine) as s:
        record_sent(s, list(zip(ids, times, strict=True)))
    with db.unit_of_work(outbox.engine) as s:
        record_sent(s, [(ids[0], T0 + timedelta(hours=1)), (ids[2], T0 + timedelta(hours=1))])
    with db.read_session(outbox.engine) as s:
        digests = {d.id: d for d in s.exec(select(Digest))}
        rows = {r.digest_id: r for r in s.exec(select(OutboxMessage))}
    for digest_id, when in zip(ids, times, strict=True):
        d = digests[digest_id]
        assert (d.status, d.sent_at, d.attempts, d.lease_until) == (
            DigestStatus.sent, when, 1, None)
        assert (rows[digest_id].status, rows[digest_id].sent_at) == (OutboxStatus.sent, when)


@pytest.mark.parametrize("spec", [
    "gk-220102@example.org", "Unit.Office+day_1@mail.jl.gov.cn", "a!#$%&'*/=?^`{|}~b@x-y.example",
    "  padded@example.org ",
])
@pytest.mark.parametrize("name", ["", "南关区", "Office, Nanguan"])
def test_a_plain_address_gives_what_the_email_parser_gives(spec, name):
    """The dot-atom fast path of ``mailbox`` yields the same mailbox as ``email``'s parser."""
    mine = mailbox(spec, name)
    parsed = Address(display_name=name, addr_spec=spec.strip())
    assert (mine.username, mine.domain, mine.addr_spec, mine.display_name, str(mine)) == (
        parsed.username, parsed.domain, parsed.addr_spec, parsed.display_name, str(parsed))
