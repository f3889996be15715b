"""Migration 0012 on a database loaded before it: province codes backfilled from unit codes,
``domain.department_code`` turned into ``department_key`` (and back on downgrade); SQLite and
PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from rollout import db

PG_URL = os.environ.get(
    "ROLLOUT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ORGS = [  # (code, kind, parent): Jilin-shaped rows as rollout init wrote them before 0012
    ("220000.office", "office", None),
    ("220000.dept.civil_affairs", "department", "220000.office"),
    ("220000.dept.education", "department", "220000.office"),
    ("220100", "city", "220000.office"),
    ("220000.zone.changbaishan", "city", "220000.office"),
    ("220102", "county", "220100"),
]
DOMAINS = [("social_assistance", "220000.dept.civil_affairs"),
           ("compulsory_education", "220000.dept.education")]


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty, unmigrated database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        db.get_engine.cache_clear()
        return
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"rollout_m12_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    yield sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    db.get_engine.cache_clear()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _run(engine: sa.Engine, fn, target: str) -> None:
    cfg = db.alembic_config()
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        fn(cfg, target)
        conn.commit()


def test_0012_backfills_province_and_department_key(empty_url: str) -> None:
    engine = db.get_engine(empty_url)
    _run(engine, command.upgrade, "0011")
    with engine.begin() as conn:
        for code, kind, parent in ORGS:
            conn.execute(sa.text(
                "INSERT INTO organization (code, name, kind, parent_code, is_zone, aliases) "
                "VALUES (:c, :c, :k, :p, false, '')"), {"c": code, "k": kind, "p": parent})
        for i, (key, dept) in enumerate(DOMAINS):
            conn.execute(sa.text("INSERT INTO domain (key, name, department_code, position) "
                                 "VALUES (:k, :k, :d, :i)"), {"k": key, "d": dept, "i": i})
        # a row pointing at a domain (SQLite: the batch copy of ``domain`` must not trip on it)
        conn.execute(sa.text("INSERT INTO contact (org_code, domain_key, name, role, active) "
                             "VALUES ('220102', 'social_assistance', '张三', '', true)"))
    _run(engine, command.upgrade, "0012")
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":  # checks are back on for the next user of the connection
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        provs = set(conn.execute(sa.text("SELECT DISTINCT province_code FROM organization")).scalars())
        keys = dict(conn.execute(sa.text("SELECT key, department_key FROM domain")).all())
    assert provs == {"220000"}
    assert keys == {"social_assistance": "civil_affairs", "compulsory_education": "education"}
    _run(engine, command.downgrade, "0011")
    with engine.connect() as conn:
        back = dict(conn.execute(sa.text("SELECT key, department_code FROM domain")).all())
    assert back == dict(DOMAINS)
    engine.dispose()
