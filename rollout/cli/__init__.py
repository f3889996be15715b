"""The ``rollout`` command line (typer; rich for tables and progress bars).

Every command that writes opens one unit of work; a ``RolloutError`` is printed as a message a
clerk can act on and exits non-zero, with nothing half-written. Commands live in one module per
family; importing them registers them on ``app``.
"""

from __future__ import annotations

import sys

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
