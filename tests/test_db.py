"""The engine's sessions: PostgreSQL runs in UTC whatever the database's default zone."""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa

from rollout import db
from rollout.models.types import AwareDateTime


def test_postgresql_sessions_read_times_in_utc_even_when_the_database_says_otherwise(pg_url):
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    name = sa.make_url(pg_url).database
    with admin.connect() as conn:
        conn.exec_driver_sql(f"ALTER DATABASE \"{name}\" SET TimeZone = 'Asia/Shanghai'")
    admin.dispose()
    engine = db.get_engine(pg_url)
    engine.dispose()  # new connections see the database's new default
    # 2020-06-30 20:00 in UTC is 07-01 04:00 in Asia/Shanghai: the date cast tells the zones apart
    at = "TIMESTAMPTZ '2020-06-30 20:00:00+00'"
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW TimeZone").scalar_one() == "UTC"
        assert conn.exec_driver_sql(f"SELECT CAST({at} AS date)").scalar_one() == date(2020, 6, 30)
        value = conn.execute(sa.select(sa.cast(sa.text(at), AwareDateTime()))).scalar_one()
    assert value == datetime(2020, 6, 30, 20, tzinfo=UTC) and value.tzinfo is UTC
