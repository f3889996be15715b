"""Alembic environment: migrates the connection handed in by ``rollout.db.migrate``, or the URL
of ``sqlalchemy.url`` / ``ROLLOUT_DATABASE_URL`` when run by the ``alembic`` command."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import rollout.models  # noqa: F401  (registers every table on SQLModel.metadata)
from rollout.db import get_engine
from rollout.settings import get_settings

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or get_settings().database_url
    with get_engine(url).connect() as conn:
        _run(conn)
        conn.commit()


def _run(connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite and not connection.in_transaction():
        # A batch migration copies a table and drops the old one; with foreign keys on, SQLite's
        # DROP TABLE fails when other tables' rows point at it (Alembic's batch docs). So checks
        # are off while migrating (the PRAGMA only works outside a transaction, hence on the
        # driver's connection), the whole database is checked before the commit, and they are
        # back on (after the commit, or the rollback on an error) before the connection is reused.
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        try:
            before = _versions(connection)
            _migrate(connection, batch=True)
            if _versions(connection) != before:  # only when something ran: it reads every table
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"migration left rows with broken foreign keys: {broken[:10]}")
            connection.commit()
        finally:
            if connection.in_transaction():
                connection.rollback()
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")
        return
    _migrate(connection, batch=sqlite)


def _versions(connection) -> set[str]:
    """The revisions in ``alembic_version`` (SQLite), empty before the first migration."""
    exists = connection.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
    ).first()
    if exists is None:
        return set()
    return {v for (v,) in connection.exec_driver_sql("SELECT version_num FROM alembic_version")}


def _migrate(connection, *, batch: bool) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=batch,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
