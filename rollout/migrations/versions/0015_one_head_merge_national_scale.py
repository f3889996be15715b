"""One head: merge the national-scale branches (0012 multi-province registry, 0013 sweep
indexes, 0014 dashboard counts), made in parallel on 0011.

Revision ID: 0015
Revises: 0012, 0013, 0014
"""

revision = "0015"
down_revision = ("0012", "0013", "0014")
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to do: the merged branches touch different tables."""


def downgrade() -> None:
    """Nothing to do."""
