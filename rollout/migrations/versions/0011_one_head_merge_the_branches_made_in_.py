"""one head: merge the branches made in parallel on 0002

Revision ID: 0011
Revises: 0003, 0004, 0005, 0009, 0010
Create Date: 2026-11-29 10:24:29.050228
"""


revision = '0011'
down_revision = ('0003', '0004', '0005', '0009', '0010')
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
