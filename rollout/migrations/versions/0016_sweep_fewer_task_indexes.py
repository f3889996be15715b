"""trackedtask: two indexes fewer for the sweep's UPDATE to keep up

Revision ID: 0016_sweep
Revises: 0015
Create Date: 2026-11-29 15:40:00

The sweep's UPDATE of ``next_action_at`` (an indexed column, so never a HOT update) writes an
entry into every index of ``trackedtask`` for each task it advances. Measured in psql on
1,215,157 tasks, the 74,100-task UPDATE of 2020-09-25 took 3.5 s with the ten indexes and
2.2 s with four fewer. Two of them serve nothing that needs them:

- ``ix_trackedtask_state`` (every row, 7 values): its only selective use is the review queue,
  ``plan_id = :plan AND state = 'submitted'`` (``rollout.api.pages.units``); the partial
  ``ix_trackedtask_submitted`` on ``plan_id`` over submitted tasks serves that, and the sweep
  never writes a submitted task, so it costs the sweep nothing.
- ``ix_trackedtask_milestone_id``: milestones are never deleted (no foreign-key check to
  serve); lookups by milestone also filter by owner or unit (``ix_trackedtask_org_milestone_state``,
  ``ix_trackedtask_unit_code``), and one milestone's tasks are a large share of the table, read
  as fast by a scan.

Plain index operations, no batch mode: a SQLite batch rebuild of ``trackedtask`` would drop the
triggers of migration 0014.
"""
import sqlalchemy as sa
from alembic import op

revision = '0016_sweep'
down_revision = '0015'
branch_labels = None
depends_on = None

SUBMITTED = "state = 'submitted'"


def upgrade() -> None:
    op.drop_index('ix_trackedtask_state', table_name='trackedtask')
    op.drop_index('ix_trackedtask_milestone_id', table_name='trackedtask')
    op.create_index('ix_trackedtask_submitted', 'trackedtask', ['plan_id'], unique=False,
                    postgresql_where=sa.text(SUBMITTED), sqlite_where=sa.text(SUBMITTED))


def downgrade() -> None:
    op.drop_index('ix_trackedtask_submitted', table_name='trackedtask')
    op.create_index('ix_trackedtask_milestone_id', 'trackedtask', ['milestone_id'], unique=False)
    op.create_index('ix_trackedtask_state', 'trackedtask', ['state'], unique=False)
