"""The ``rollout`` command line (typer; rich for tables and progress bars).

Every command that writes opens one unit of work; a ``RolloutError`` is printed as a message a
clerk can act on and exits non-zero, with nothing half-written. Commands live in one module per
family; importing them registers them on ``app``.
"""

from __future__ import annotations

import sys

import sqlalchemy as sa

from rollout.cli import (  # noqa: F401  (register commands)
    catalogs,
    deadlines,
    exports,
    flows,
    outbox,
    plans,
    scheduler,
    serve,
    simulate,
    synth,
    tasks,
    tokens,
    users,
    workdays,
)
from rollout.cli.base import app, err
from rollout.errors import RolloutError

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry: run the app, turning ``RolloutError`` into a message and exit 1."""
    try:
        app()
    except (RolloutError, ValueError) as exc:
        err.print(f"错误：{exc}", style="red", markup=False, highlight=False)
        sys.exit(1)
    except (sa.exc.OperationalError, sa.exc.ProgrammingError) as exc:
        # a wrong --db, a server that is down, or a database never initialised
        first = str(exc.orig or exc).strip().splitlines()[0]
        err.print(f"错误：无法使用数据库（{first}）。请检查 --db / ROLLOUT_DATABASE_URL，"
                  "新数据库请先运行 rollout init", style="red", markup=False, highlight=False)
        sys.exit(1)
