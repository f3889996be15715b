"""Migration 0012 on a database loaded before it: province codes backfilled from unit codes,
``domain.department_code`` turned into ``department_key`` (and back on downgrade); SQLite and
PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from rollout import db
from tests.conftest import run_migration

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


def test_0012_backfills_province_and_department_key(empty_url: str) -> None:
    engine = db.get_engine(empty_url)
    run_migration(engine, command.upgrade, "0011")
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
    run_migration(engine, command.upgrade, "0012")
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":  # checks are back on for the next user of the connection
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        provs = set(conn.execute(sa.text("SELECT DISTINCT province_code FROM organization")).scalars())
        keys = dict(conn.execute(sa.text("SELECT key, department_key FROM domain")).all())
    assert provs == {"220000"}
    assert keys == {"social_assistance": "civil_affairs", "compulsory_education": "education"}
    run_migration(engine, command.downgrade, "0011")
    with engine.connect() as conn:
        back = dict(conn.execute(sa.text("SELECT key, department_code FROM domain")).all())
    assert back == dict(DOMAINS)
    engine.dispose()
