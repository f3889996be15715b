"""The outbox's digest id index is partial (migration 0018): the rows the sweep writes, all without
a digest, take no entry in it, and every reader of it still reads through an index.

PostgreSQL, EXPLAIN of the statements as the dispatcher runs them (captured), over an outbox of
40,000 earlier rows, sent in 10,000 digests of 4, beside the day's 3,000 pending rows without
a digest (7 % of the table), analyzed:

- ``load_contents``, ``record_sent`` (``digest_id = ANY``) and ``record_failure``
  (``digest_id = :id``) read ``ix_outboxmessage_digest_id``;
- the slice's first keys (``digest_id IS NULL``, ordered by address) walk
  ``ix_outboxmessage_status_address``; with the full index they took its NULL entries, every
  undigested row, and sorted them (51–68 ms a round instead of 7–8 on the national day).
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command

from rollout import db
from rollout.calendar import WorkingCalendar
from rollout.models import Channel
from rollout.notifications.digest_build import build_digests
from rollout.notifications.digests import load_contents
from rollout.notifications.dispatch import record_failure, record_sent
from rollout.notifications.transport import DeliveryError
from tests.conftest import run_migration
from tests.notifications.conftest import at
from tests.notifications.test_dispatch_batches import T0, add_rows
from tests.notifications.test_mail import config

DIGEST_INDEX = "ix_outboxmessage_digest_id"


def _digest_index_sql(conn: sa.Connection) -> str:
    """The definition of ``ix_outboxmessage_digest_id`` as the database holds it."""
    if conn.dialect.name == "sqlite":
        q = "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :n"
    else:
        q = "SELECT indexdef FROM pg_indexes WHERE indexname = :n"
    return conn.execute(sa.text(q), {"n": DIGEST_INDEX}).scalar_one()


def test_0018_makes_the_digest_index_partial_and_back(empty_url: str) -> None:
    """Up to 0018: the index covers ``digest_id IS NOT NULL`` only; one step down: the full
    index of migration 0002 again (no WHERE); up again: partial."""
    engine = db.get_engine(empty_url)
    run_migration(engine, command.upgrade, "0018")
    with engine.connect() as conn:
        sql = _digest_index_sql(conn)
    assert "WHERE" in sql and "digest_id IS NOT NULL" in sql, sql
    run_migration(engine, command.downgrade, "-1")
    with engine.connect() as conn:
        sql = _digest_index_sql(conn)
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
    assert version != "0018" and "WHERE" not in sql.upper() and "digest_id" in sql, sql
    run_migration(engine, command.upgrade, "heads")
    with engine.connect() as conn:
        assert "digest_id IS NOT NULL" in _digest_index_sql(conn)


def test_a_migrated_database_has_the_partial_digest_index(engine: sa.Engine) -> None:
    """What ``rollout migrate`` gives, on SQLite and PostgreSQL (the autogenerate comparison of
    ``test_architecture`` does not look at index predicates)."""
    with engine.connect() as conn:
        sql = _digest_index_sql(conn)
    assert "WHERE" in sql and "digest_id IS NOT NULL" in sql, sql


def _explain(conn: sa.Connection, statement: str, params) -> str:
    return "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, params))


def _earlier_days(engine: sa.Engine, digests: int, rows_each: int) -> None:
    """``digests`` sent digests of June (one per address ``h<n>@…``) with ``rows_each`` sent
    rows each, over the plan's tasks (step keys ``h-<n>``, so no UNIQUE key is hit)."""
    with engine.begin() as conn:
        conn.exec_driver_sql(f"""
            INSERT INTO digest (channel, address, recipient_org_code, day, message_id, status,
                                attempts, created_at, sent_at)
            SELECT 'email', 'h' || g || '@example.org', '220102', DATE '2020-06-30',
                   '<h-' || g || '@example.org>', 'sent', 1,
                   TIMESTAMPTZ '2020-06-30 09:00+08', TIMESTAMPTZ '2020-06-30 09:05+08'
            FROM generate_series(1, {digests}) AS g""")
        conn.exec_driver_sql(f"""
            INSERT INTO outboxmessage (plan_id, task_id, due_on, step_key, kind, levels_up,
                recipient_org_code, recipient_name, channel, address, notice_number,
                scheduled_on, status, digest_id, created_at, sent_at)
            SELECT t.plan_id, t.id, t.due_on, 'h-' || d.id || '-' || r, 'reminder', 0,
                   t.org_code, '', 'email', d.address, 'H' || d.id || '-' || r, d.day, 'sent',
                   d.id, d.created_at, d.sent_at
            FROM digest AS d CROSS JOIN generate_series(1, {rows_each}) AS r
            JOIN (SELECT id, plan_id, due_on, org_code, row_number() OVER (ORDER BY id) AS n
                  FROM trackedtask) AS t ON t.n = 1 + mod(d.id * {rows_each} + r, 4805)""")


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_the_readers_of_the_digest_id_use_an_index(outbox, calendar: WorkingCalendar) -> None:
    engine = outbox.engine
    _earlier_days(engine, 10_000, 4)
    add_rows(engine, 3000)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE outboxmessage, digest, trackedtask")
        counts = conn.exec_driver_sql(
            "SELECT count(*), count(digest_id) FROM outboxmessage").one()
    assert tuple(counts) == (43_000, 40_000)

    seen: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, params, context, executemany):
        if "outboxmessage.digest_id" in statement and not statement.startswith("INSERT"):
            seen.append((statement, params))

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        with db.unit_of_work(engine) as s:
            built, _ = build_digests(s, now=T0, channels=[Channel.email], key_limit=400)
        with db.read_session(engine) as s:
            load_contents(s, built[:200], calendar)
        with db.unit_of_work(engine) as s:
            record_sent(s, [(d, at(2020, 7, 1, 9, 6)) for d in built[:100]])
        with db.unit_of_work(engine) as s:
            record_failure(s, built[100], DeliveryError("550 no such mailbox", permanent=True),
                           at=at(2020, 7, 1, 9, 6), config=config(None))
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    assert len(built) == 400

    def plans(marker: str) -> list[str]:
        found = [(st, p) for st, p in seen if marker in st]
        assert found, marker
        with engine.connect() as conn:
            return [_explain(conn, st, p) for st, p in found]

    first_keys, by_id = "GROUP BY outboxmessage.address", "outboxmessage.digest_id = ANY"
    for plan in plans(first_keys):  # build_digests: the slice's first keys
        assert "ix_outboxmessage_status_address" in plan and DIGEST_INDEX not in plan, plan
    for plan in plans(by_id):  # load_contents and record_sent
        assert DIGEST_INDEX in plan and "Seq Scan on outboxmessage" not in plan, plan
    for plan in plans("outboxmessage.digest_id = %(digest_id_1)s"):  # record_failure
        assert DIGEST_INDEX in plan and "Seq Scan on outboxmessage" not in plan, plan
    assert len(plans(by_id)) >= 2
