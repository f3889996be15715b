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
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
