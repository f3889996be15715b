"""Structural contracts: import layering (import-linter) and migrations that match the tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import rollout.models  # noqa: F401

ROOT = Path(__file__).parents[1]


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower() or " 0 broken" in result.stdout


def test_migrations_match_the_tables(engine):
    """``alembic upgrade heads`` gives exactly the SQLModel tables (no autogenerate diff)."""
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata
        )
    assert diff == []


def test_no_top_level_module_shadows_the_standard_library():
    names = {p.name for p in ROOT.iterdir()}
    assert "calendar" not in names
    for path in (ROOT / "rollout").rglob("*.py"):
        assert path.stem not in {"email", "csv", "calendar", "logging", "json", "secrets"} or path.parent.name != "rollout"


def test_migrations_have_one_head():
    """Branches made in parallel are merged, so the next migration has one parent."""
    from alembic.script import ScriptDirectory

    from rollout.db import alembic_config

    assert len(ScriptDirectory.from_config(alembic_config()).get_heads()) == 1
