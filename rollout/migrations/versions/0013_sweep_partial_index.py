"""trackedtask: partial indexes for the deadline sweep's two selects

Revision ID: 0013
Revises: 0011
Create Date: 2026-11-29 12:45:00

``ix_trackedtask_due`` on ``next_action_at`` over open tasks only (``state IN ('in_progress',
'pending', 'returned')``): the sweep's ``state IN open AND next_action_at <= now`` reads the few
due rows of a million without touching the closed ones. ``ix_trackedtask_waiting`` on ``id`` over
the tasks waiting for holiday data (``next_action_at IS NULL AND schedule_note IS NOT NULL``),
the sweep's second select.

Three indexes go, because every index costs each row the sweep writes one insertion (its
UPDATE of ``next_action_at``, an indexed column, is never a HOT update): the full
``ix_trackedtask_next_action_at`` (the sweep was its only reader), and two that the leading
column of a UNIQUE constraint already serves: ``ix_trackedtask_plan_id`` (UNIQUE (plan_id, key))
and ``ix_outboxmessage_task_id`` (UNIQUE (task_id, due_on, step_key, channel)).

The new indexes are partial on PostgreSQL and SQLite alike (issue 6,
item 2). The literal predicates must stay identical to ``rollout.models.task.OPEN_STATES_SQL``
and ``WAITING_SQL``, which the sweep's query uses.
"""
import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0011'
branch_labels = None
depends_on = None

OPEN = "state IN ('in_progress', 'pending', 'returned')"
WAITING = "next_action_at IS NULL AND schedule_note IS NOT NULL"


def upgrade() -> None:
    # plain index operations, no batch mode: a SQLite batch that recreates the table would drop
    # its triggers (migration 0014)
    op.drop_index('ix_trackedtask_next_action_at', table_name='trackedtask')
    op.drop_index('ix_trackedtask_plan_id', table_name='trackedtask')
    op.drop_index('ix_outboxmessage_task_id', table_name='outboxmessage')
    op.create_index('ix_trackedtask_due', 'trackedtask', ['next_action_at'], unique=False,
                    postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN))
    op.create_index('ix_trackedtask_waiting', 'trackedtask', ['id'], unique=False,
                    postgresql_where=sa.text(WAITING), sqlite_where=sa.text(WAITING))


def downgrade() -> None:
    op.drop_index('ix_trackedtask_waiting', table_name='trackedtask')
    op.drop_index('ix_trackedtask_due', table_name='trackedtask')
    op.create_index('ix_outboxmessage_task_id', 'outboxmessage', ['task_id'], unique=False)
    op.create_index('ix_trackedtask_plan_id', 'trackedtask', ['plan_id'], unique=False)
    op.create_index('ix_trackedtask_next_action_at', 'trackedtask', ['next_action_at'],
                    unique=False)
