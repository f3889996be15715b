"""System tests: the at-scale deployment started for real on loopback (a Prefect server on
PostgreSQL, a process work pool, two workers, ``prefect deploy``). Marked ``system``; they run
with the rest of the suite (``pytest -q``) and under CI, and can be picked alone with
``pytest -m system``."""

from __future__ import annotations


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "system: starts real servers and worker processes on loopback (slow)")
