"""Engine, sessions and the one unit-of-work helper.

Only the edges (api, cli, scheduling, flows, tests) import this module. Domain functions take a
``Session`` and never commit; the edge wraps them in ``unit_of_work``.

SQLite: WAL, foreign keys on, and every write transaction starts with ``BEGIN IMMEDIATE`` so it
holds the write lock from its first statement (a deferred read-then-write transaction in WAL mode
fails at once with "database is locked" when another writer committed in between, whatever the
busy timeout).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlmodel import Session

SQLITE_BUSY_TIMEOUT_SECONDS = 30


def normalize_url(url: str) -> str:
    """Use psycopg 3 for ``postgresql://`` URLs; leave others as given."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


@lru_cache(maxsize=8)
def get_engine(url: str) -> sa.Engine:
    """One engine per database URL for the process.

    A SQLite file's folder is created if missing. PostgreSQL sessions run with ``TimeZone``
    UTC, whatever the server's default: SQL that takes a ``timestamptz``'s date without an
    explicit ``AT TIME ZONE`` means the same everywhere, and psycopg returns aware values in
    ``datetime.UTC``, which ``AwareDateTime`` passes through unconverted. Raises
    ``sqlalchemy.exc.ArgumentError`` on a malformed URL.
    """
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "isolation_level": None}
        )
        _configure_sqlite(engine)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, connect_args={"options": "-c TimeZone=UTC"})


def _configure_sqlite(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # pragma: no cover - driver hook
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        mode = "DEFERRED" if conn.get_execution_options().get("rollout_readonly") else "IMMEDIATE"
        conn.exec_driver_sql(f"BEGIN {mode}")


@contextmanager
def unit_of_work(engine: sa.Engine) -> Iterator[Session]:
    """One write transaction: commits when the block ends, rolls back everything on an exception.

    A state change, its audit events and its outbox rows written inside land together or not at
    all. Objects stay usable after the commit (``expire_on_commit=False``).
    """
    with Session(engine, expire_on_commit=False) as session:
        with session.begin():
            yield session


@contextmanager
def read_session(engine: sa.Engine) -> Iterator[Session]:
    """A read-only session (on SQLite a deferred transaction that takes no write lock)."""
    with engine.connect().execution_options(rollout_readonly=True) as conn:
        with Session(bind=conn) as session:
            yield session


MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str | None = None):
    """An Alembic ``Config`` for the bundled migrations (found by package path, not the cwd)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


def migrate(engine: sa.Engine) -> None:
    """Bring the database schema to the newest migrations (``alembic upgrade heads``)."""
    from alembic import command

    cfg = alembic_config()
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")
        conn.commit()
