"""Shared pieces of the benchmarks in bench/: a free loopback port, an aiosmtpd sink in its own
process, and a scratch PostgreSQL database created and dropped around a run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

PG_URL = os.environ.get("ROLLOUT_BENCH_POSTGRES_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")
"""The server benchmarks create their scratch databases on (its database is only connected to)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sink(port: int) -> subprocess.Popen:
    """aiosmtpd with its ``Sink`` handler (accepts and drops every message) in a subprocess on
    127.0.0.1:``port``; returns once it accepts connections. Raises ``RuntimeError`` if it does
    not within 10 s. The caller terminates it."""
    proc = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
                             "-c", "aiosmtpd.handlers.Sink"])
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("aiosmtpd sink did not start")


@contextmanager
def scratch_postgres(prefix: str = "rollout_bench") -> Iterator[str]:
    """A new, empty database on the ``PG_URL`` server: yields its URL (password kept), drops it
    (``WITH (FORCE)``) afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
