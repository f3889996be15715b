"""taskschedule: the reminder schedule moves out of trackedtask into a narrow table

Revision ID: 0017_schedule
Revises: 0016_sweep
Create Date: 2026-11-29 19:00:00

Each day's sweep moves ``next_action_at`` (and the latest step) of every task it advances. On
``trackedtask`` that is a wide row with nine indexes, and never a HOT update (the column is
indexed), so each advanced task costs a new row version and an entry in every index. Measured in
psql on 1,215,157 tasks (the 74,100 tasks due 2020-09-25): that UPDATE took 1.31 s (1.34 s with
the dashboard-count trigger enabled: the trigger is not the cost); the same UPDATE of a narrow
table (task id, next action, latest step; primary key plus one partial index) 0.20 s.

So the three columns move to ``taskschedule`` (one row per task). ``schedule_note`` stays on
``trackedtask``: the dashboard counts (migration 0014) read it, and the sweep changes it only
when a task starts or stops waiting for holiday data. A task that is no longer open keeps no next
action (``rollout.schedules``); rows copied here follow that rule. ``ix_trackedtask_waiting``
now has the predicate ``schedule_note IS NOT NULL`` (a note is only ever set with no next
action).

Plain operations, no batch mode: a SQLite batch rebuild of ``trackedtask`` would drop the
triggers of migration 0014 (SQLite 3.35+ drops a column in place).
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import rollout.models.types

revision = '0017_schedule'
down_revision = '0016_sweep'
branch_labels = None
depends_on = None

OPEN = "state IN ('in_progress', 'pending', 'returned')"
SCHEDULED = "next_action_at IS NOT NULL"
WAITING = "schedule_note IS NOT NULL"
OLD_WAITING = "next_action_at IS NULL AND schedule_note IS NOT NULL"
COLUMNS = ("next_action_at", "last_step_key", "last_step_at")


def upgrade() -> None:
    op.create_table(
        'taskschedule',
        sa.Column('task_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('next_action_at', rollout.models.types.AwareDateTime(timezone=True),
                  nullable=True),
        sa.Column('last_step_key', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column('last_step_at', rollout.models.types.AwareDateTime(timezone=True),
                  nullable=True),
        sa.ForeignKeyConstraint(['task_id'], ['trackedtask.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('task_id'),
    )
    op.execute(
        "INSERT INTO taskschedule (task_id, next_action_at, last_step_key, last_step_at) "
        f"SELECT id, CASE WHEN {OPEN} THEN next_action_at END, last_step_key, last_step_at "
        "FROM trackedtask"
    )
    op.create_index('ix_taskschedule_due', 'taskschedule', ['next_action_at'], unique=False,
                    postgresql_where=sa.text(SCHEDULED), sqlite_where=sa.text(SCHEDULED))
    op.drop_index('ix_trackedtask_due', table_name='trackedtask')
    op.drop_index('ix_trackedtask_waiting', table_name='trackedtask')
    op.create_index('ix_trackedtask_waiting', 'trackedtask', ['id'], unique=False,
                    postgresql_where=sa.text(WAITING), sqlite_where=sa.text(WAITING))
    for name in COLUMNS:
        op.drop_column('trackedtask', name)


def downgrade() -> None:
    op.add_column('trackedtask', sa.Column(
        'next_action_at', rollout.models.types.AwareDateTime(timezone=True), nullable=True))
    op.add_column('trackedtask', sa.Column(
        'last_step_key', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))
    op.add_column('trackedtask', sa.Column(
        'last_step_at', rollout.models.types.AwareDateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE trackedtask SET "
        + ", ".join(f"{c} = (SELECT s.{c} FROM taskschedule s WHERE s.task_id = trackedtask.id)"
                    for c in COLUMNS)
    )
    op.drop_index('ix_trackedtask_waiting', table_name='trackedtask')
    op.create_index('ix_trackedtask_waiting', 'trackedtask', ['id'], unique=False,
                    postgresql_where=sa.text(OLD_WAITING), sqlite_where=sa.text(OLD_WAITING))
    op.create_index('ix_trackedtask_due', 'trackedtask', ['next_action_at'], unique=False,
                    postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN))
    op.drop_index('ix_taskschedule_due', table_name='taskschedule')
    op.drop_table('taskschedule')
