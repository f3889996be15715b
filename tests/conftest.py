"""Shared fixtures: a fresh, migrated database on SQLite and on PostgreSQL for each test.

PostgreSQL: ``ROLLOUT_TEST_POSTGRES_URL`` (default the machine's server on 127.0.0.1:5432,
database ``test``, trust auth). Each test gets its own database cloned from a migrated template.
When the server is unreachable the PostgreSQL cases are skipped, except under CI (``CI=true``),
where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from rollout import db
from rollout.calendar import TZ, WorkingCalendar
from rollout.plans.fanout import instantiate_plan
from rollout.plans.schema import BUNDLED_PLAN

PG_URL = os.environ.get(
    "ROLLOUT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
LOADED_AT = datetime(2020, 3, 20, 9, 0, tzinfo=TZ)


def _admin_engine() -> sa.Engine:
    return sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """Name of a migrated template database on the PostgreSQL server."""
    try:
        admin = _admin_engine()
        with admin.connect() as conn:
            conn.execute(sa.text("select 1"))
    except Exception as exc:  # noqa: BLE001 - any connection failure
        if IN_CI:
            pytest.fail(f"PostgreSQL at {PG_URL} is unreachable under CI: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    name = f"rollout_tpl_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(PG_URL).set(database=name)
    engine = sa.create_engine(url)
    db.migrate(engine)
    engine.dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    template = request.getfixturevalue("pg_template")
    name = f"rollout_t_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    url = sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    db.get_engine.cache_clear()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty, unmigrated database (for migration tests)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        db.get_engine.cache_clear()
        return
    admin = _admin_engine()
    name = f"rollout_e_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL at {PG_URL} is unreachable under CI: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    yield sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    db.get_engine.cache_clear()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def run_migration(engine: sa.Engine, fn, target: str) -> None:
    """``fn`` (``alembic.command.upgrade`` / ``downgrade``) to revision ``target`` on
    ``engine``, committed."""
    cfg = db.alembic_config()
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        fn(cfg, target)
        conn.commit()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty, migrated database: once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'rollout.db'}"
        db.migrate(db.get_engine(url))
        yield url
        db.get_engine(url).dispose()
        db.get_engine.cache_clear()
    else:
        yield from _pg_url(request)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    """A URL of an empty, migrated SQLite database (for tests that need only one backend)."""
    url = f"sqlite:///{tmp_path / 'rollout.db'}"
    db.migrate(db.get_engine(url))
    yield url
    db.get_engine(url).dispose()
    db.get_engine.cache_clear()


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A URL of an empty, migrated PostgreSQL database (for PostgreSQL-only tests)."""
    yield from _pg_url(request)


@pytest.fixture
def engine(db_url: str) -> sa.Engine:
    """The engine of ``db_url``."""
    return db.get_engine(db_url)


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """Real Prefect flow runs against a throwaway Prefect database and API server, one for the
    whole session. The server gets two minutes to start (Prefect's default is 30 s; on this
    shared 2-core machine its start took 30.9 s in bench/run.py, and two tests failed on it)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def calendar() -> WorkingCalendar:
    """The official calendar (chinese-calendar plus bundled override files)."""
    return WorkingCalendar()


@pytest.fixture
def jilin(engine: sa.Engine, calendar: WorkingCalendar) -> sa.Engine:
    """``engine`` with the bundled Jilin 2020 plan loaded (4,805 tasks), as of 2020-03-20."""
    with db.unit_of_work(engine) as session:
        instantiate_plan(session, BUNDLED_PLAN, now=LOADED_AT, calendar=calendar)
    return engine
