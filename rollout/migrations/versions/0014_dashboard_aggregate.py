"""dashboard aggregate: taskcount and deliveredcount kept by triggers, overdue-list index

Revision ID: 0014
Revises: 0011
Create Date: 2026-11-29 12:50:00

The provincial dashboard's GROUP BY over a million tracked tasks took 3-4 s on PostgreSQL (issue 6
asks for 300 ms). A covering index does not help: the aggregate still visits every task. So the
counts are pre-aggregated (``rollout.models.summary``) and kept exact by triggers, which see
every write whatever code path makes it (workflow, sweep, extensions, init's COPY, simulation,
plain SQL) and join its transaction:

- PostgreSQL: AFTER … FOR EACH STATEMENT triggers with transition tables: one grouped upsert per
  statement (a COPY of 5,000 tasks costs one); an UPDATE that changes no counted column nets out
  to nothing (``HAVING sum(d) <> 0``), at the price of grouping its old and new rows (about +20 %
  on a 50,000-row ``next_action_at`` update; a join of old and new rows on ``id`` was tried and
  planned as a nested loop over the statistics-less transition tables). Upserts go in key order,
  so two writers lock rows in one order.
- SQLite: AFTER … FOR EACH ROW triggers; the UPDATE trigger fires only when a counted column
  changes (the sweep's ``next_action_at`` moves skip it).

Existing tasks are counted once here. ``ix_trackedtask_open_due`` (plan, due day, key over open
tasks) serves the overdue list's ``ORDER BY due_on, key LIMIT n``. Note for later migrations: a
SQLite batch operation that recreates ``trackedtask`` drops its triggers; make them again.
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import rollout.models.types

revision = '0014'
down_revision = '0011'
branch_labels = None
depends_on = None

OPEN = "state IN ('in_progress', 'pending', 'returned')"
DELIVERED = "state IN ('accepted', 'submitted', 'waived')"
COUNT_KEY = "plan_id, milestone_id, unit_code, state, due_on, due_at, waiting"
DELIVERED_KEY = "plan_id, milestone_id, delivered_on"
#: columns whose change moves a task between counts (SQLite's UPDATE trigger watches these)
WATCHED = ("plan_id", "milestone_id", "unit_code", "org_code", "state", "due_on", "due_at",
           "submitted_at", "completed_at")


def _count_cols(src: str = "") -> str:
    return (f"{src}plan_id, {src}milestone_id, coalesce({src}unit_code, {src}org_code), "
            f"{src}state, {src}due_on, {src}due_at, {src}schedule_note IS NOT NULL")


def _pg_local_day(src: str = "") -> str:
    return f"(coalesce({src}submitted_at, {src}completed_at) AT TIME ZONE 'Asia/Shanghai')::date"


def _sqlite_local_day(src: str = "") -> str:
    return f"date(coalesce({src}submitted_at, {src}completed_at), '+8 hours')"


def upgrade() -> None:
    op.create_table(
        'taskcount',
        sa.Column('plan_id', sa.Integer(), nullable=False),
        sa.Column('milestone_id', sa.Integer(), nullable=False),
        sa.Column('unit_code', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('state', sa.Enum('pending', 'in_progress', 'submitted', 'returned', 'accepted',
                                   'waived', 'cancelled', name='taskstate', native_enum=False,
                                   length=20), nullable=False),
        sa.Column('due_on', sa.Date(), nullable=False),
        sa.Column('due_at', rollout.models.types.AwareDateTime(timezone=True), nullable=False),
        sa.Column('waiting', sa.Boolean(), nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('plan_id', 'milestone_id', 'unit_code', 'state', 'due_on',
                                'due_at', 'waiting'),
    )
    op.create_table(
        'deliveredcount',
        sa.Column('plan_id', sa.Integer(), nullable=False),
        sa.Column('milestone_id', sa.Integer(), nullable=False),
        sa.Column('delivered_on', sa.Date(), nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('plan_id', 'milestone_id', 'delivered_on'),
    )
    op.create_index('ix_trackedtask_open_due', 'trackedtask', ['plan_id', 'due_on', 'key'],
                    unique=False, postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN))
    if op.get_bind().dialect.name == "postgresql":
        _pg_triggers()
        day = _pg_local_day()
    else:
        _sqlite_triggers()
        day = _sqlite_local_day()
    op.execute(f"INSERT INTO taskcount ({COUNT_KEY}, n) SELECT {_count_cols()}, count(*) "
               "FROM trackedtask GROUP BY 1, 2, 3, 4, 5, 6, 7")
    op.execute(f"INSERT INTO deliveredcount ({DELIVERED_KEY}, n) SELECT plan_id, milestone_id, "
               f"{day}, count(*) FROM trackedtask WHERE {DELIVERED} "
               "AND coalesce(submitted_at, completed_at) IS NOT NULL GROUP BY 1, 2, 3")


def _pg_upserts(sources: list[tuple[str, int]]) -> str:
    counts = " UNION ALL ".join(f"SELECT {_count_cols()}, {sign} FROM {t}" for t, sign in sources)
    days = " UNION ALL ".join(
        f"SELECT plan_id, milestone_id, {_pg_local_day()}, {sign} FROM {t} WHERE {DELIVERED} "
        "AND coalesce(submitted_at, completed_at) IS NOT NULL" for t, sign in sources)
    return f"""
    INSERT INTO taskcount AS c ({COUNT_KEY}, n)
    SELECT {COUNT_KEY}, sum(d) FROM (
        SELECT * FROM ({counts}) AS x ({COUNT_KEY}, d)
    ) AS delta GROUP BY {COUNT_KEY} HAVING sum(d) <> 0 ORDER BY {COUNT_KEY}
    ON CONFLICT ({COUNT_KEY}) DO UPDATE SET n = c.n + excluded.n;
    INSERT INTO deliveredcount AS c ({DELIVERED_KEY}, n)
    SELECT {DELIVERED_KEY}, sum(d) FROM (
        SELECT * FROM ({days}) AS x ({DELIVERED_KEY}, d)
    ) AS delta GROUP BY {DELIVERED_KEY} HAVING sum(d) <> 0 ORDER BY {DELIVERED_KEY}
    ON CONFLICT ({DELIVERED_KEY}) DO UPDATE SET n = c.n + excluded.n;
    """


PG_EVENTS = {
    "insert": ("INSERT", "NEW TABLE AS new_rows", [("new_rows", 1)]),
    "update": ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows",
               [("old_rows", -1), ("new_rows", 1)]),
    "delete": ("DELETE", "OLD TABLE AS old_rows", [("old_rows", -1)]),
}


def _pg_triggers() -> None:
    for name, (event, referencing, sources) in PG_EVENTS.items():
        op.execute(f"""
        CREATE FUNCTION trackedtask_count_{name}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
        {_pg_upserts(sources)}
        RETURN NULL;
        END $$""")
        op.execute(f"""
        CREATE TRIGGER trackedtask_count_{name} AFTER {event} ON trackedtask
        REFERENCING {referencing} FOR EACH STATEMENT
        EXECUTE FUNCTION trackedtask_count_{name}()""")


def _sqlite_add(src: str, sign: int) -> str:
    return f"""
    INSERT INTO taskcount ({COUNT_KEY}, n) VALUES ({_count_cols(src + '.')}, {sign})
    ON CONFLICT ({COUNT_KEY}) DO UPDATE SET n = n + ({sign});
    INSERT INTO deliveredcount ({DELIVERED_KEY}, n)
    SELECT {src}.plan_id, {src}.milestone_id, {_sqlite_local_day(src + '.')}, {sign}
    WHERE {src}.{DELIVERED} AND coalesce({src}.submitted_at, {src}.completed_at) IS NOT NULL
    ON CONFLICT ({DELIVERED_KEY}) DO UPDATE SET n = n + ({sign});
    """


def _sqlite_triggers() -> None:
    changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in WATCHED)
    changed += " OR (old.schedule_note IS NULL) <> (new.schedule_note IS NULL)"
    op.execute(f"CREATE TRIGGER trackedtask_count_insert AFTER INSERT ON trackedtask BEGIN "
               f"{_sqlite_add('new', 1)} END")
    op.execute(f"CREATE TRIGGER trackedtask_count_update AFTER UPDATE ON trackedtask "
               f"WHEN {changed} BEGIN {_sqlite_add('old', -1)} {_sqlite_add('new', 1)} END")
    op.execute(f"CREATE TRIGGER trackedtask_count_delete AFTER DELETE ON trackedtask BEGIN "
               f"{_sqlite_add('old', -1)} END")


def downgrade() -> None:
    for name in PG_EVENTS:
        op.execute(f"DROP TRIGGER IF EXISTS trackedtask_count_{name}"
                   + (" ON trackedtask" if op.get_bind().dialect.name == "postgresql" else ""))
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP FUNCTION IF EXISTS trackedtask_count_{name}()")
    op.drop_index('ix_trackedtask_open_due', table_name='trackedtask')
    op.drop_table('deliveredcount')
    op.drop_table('taskcount')
