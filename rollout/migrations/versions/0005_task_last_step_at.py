"""trackedtask.last_step_at: the scheduled time of the latest step the sweep processed

Revision ID: 0005
Revises: 0002
Create Date: 2026-11-29 10:00:00
"""
import sqlalchemy as sa
from alembic import op

import rollout.models.types

revision = '0005'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('trackedtask', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('last_step_at', rollout.models.types.AwareDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table('trackedtask', schema=None) as batch_op:
        batch_op.drop_column('last_step_at')
