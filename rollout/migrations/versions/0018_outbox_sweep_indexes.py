"""outboxmessage: the digest id index only over rows that have a digest

Revision ID: 0018
Revises: 0017_schedule
Create Date: 2026-11-29 19:00:00

The sweep writes one outbox row per notice, 74,100 on the national day of 2020-09-25, every one
of them without a digest (``digest_id IS NULL``: the dispatcher groups them later). The full
``ix_outboxmessage_digest_id`` took an entry for each. Its readers:

- ``digest_id = :id`` (``record_failure``) and ``digest_id = ANY(:ids)`` (``load_contents``,
  ``record_sent``) imply ``digest_id IS NOT NULL``, so PostgreSQL and SQLite use the partial
  index for them as they did the full one.
- The dispatcher's first keys of a slice (``status = 'pending' AND digest_id IS NULL``, ordered
  by address, day, channel; ``rollout.notifications.digest_build``) went through the full
  index's NULL entries, read all 74,100 of the day's rows and sorted them: 51–68 ms a round.
  Without that path PostgreSQL walks ``ix_outboxmessage_status_address`` in its order and stops
  after the slice: 7–8 ms. (Once every pending row has a digest, the same query reads them
  through ``status_address`` to find none: 16 ms at 74,100 such rows, instead of ~0.)

Measured in psql on a clone of the 1,215,157-task database with 1.48M earlier outbox rows (20
days, sent), 12 alternated runs each: the INSERT … SELECT FROM jsonb_array_elements … ON CONFLICT
DO NOTHING RETURNING of the day's 74,100 rows, 1.43 s with the full index, 1.41 s with the
partial one (median; the NULL entries, deduplicated at the index's right edge, were cheap).
The rest of the 1.4 s stays, for what it buys: the four foreign-key triggers, 0.66 s (plan .18,
recipient organization .22, task .23, digest .04: it fires on a NULL digest id too), integrity;
``ix_outboxmessage_recipient_org_code`` .07 s, the unit and outbox pages' read of one
organization's rows (without it a scan of the whole outbox: 148 ms instead of 0.8 at 1.5M
rows, growing with it); ``ix_outboxmessage_status_address`` .09 s, the dispatcher's slices;
UNIQUE (plan_id, notice_number) .09 s and ON CONFLICT .06 s, the outbox's guarantees; reading
the JSON .15 s.

Plain index operations, no batch mode, as 0013 and 0016.
"""
import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017_schedule'
branch_labels = None
depends_on = None

DIGESTED = "digest_id IS NOT NULL"  # rollout.models.outbox.DIGESTED_SQL


def upgrade() -> None:
    op.drop_index('ix_outboxmessage_digest_id', table_name='outboxmessage')
    op.create_index('ix_outboxmessage_digest_id', 'outboxmessage', ['digest_id'], unique=False,
                    postgresql_where=sa.text(DIGESTED), sqlite_where=sa.text(DIGESTED))


def downgrade() -> None:
    op.drop_index('ix_outboxmessage_digest_id', table_name='outboxmessage')
    op.create_index('ix_outboxmessage_digest_id', 'outboxmessage', ['digest_id'], unique=False)
