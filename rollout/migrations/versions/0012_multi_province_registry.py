"""multi-province registry: organization.province_code; domain.department_code -> department_key

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 12:40:00

``organization.province_code`` (indexed) is backfilled from each row's code: a division code
(``220102``, a 9-digit township) or a ``<prov>.<kind>.<key>`` code (``220000.dept.education``)
starts with the province's two digits, so the province is those + ``0000``.

``domain.department_key`` is the department's registry key, the part of the old
``department_code`` after ``.dept.`` (``220000.dept.education`` -> ``education``); the old
column (a foreign key to one province's department) is dropped. Batch mode, so SQLite works.
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('organization', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('province_code', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=True)
        )
        batch_op.create_index(batch_op.f('ix_organization_province_code'), ['province_code'], unique=False)
    op.execute("UPDATE organization SET province_code = substr(code, 1, 2) || '0000'")

    with op.batch_alter_table('domain', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('department_key', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True)
        )
    conn = op.get_bind()
    domain = sa.table('domain', sa.column('key', sa.String), sa.column('department_code', sa.String),
                      sa.column('department_key', sa.String))
    rows = conn.execute(sa.select(domain.c.key, domain.c.department_code)).all()
    for key, code in rows:
        dept_key = code.split('.dept.', 1)[1] if '.dept.' in code else code
        conn.execute(domain.update().where(domain.c.key == key).values(department_key=dept_key))
    with op.batch_alter_table('domain', schema=None) as batch_op:
        batch_op.alter_column('department_key', existing_type=sqlmodel.sql.sqltypes.AutoString(length=60),
                              nullable=False)
        batch_op.drop_index(batch_op.f('ix_domain_department_code'))
        batch_op.drop_column('department_code')


def downgrade() -> None:
    with op.batch_alter_table('domain', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('department_code', sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
    conn = op.get_bind()
    org = sa.table('organization', sa.column('code', sa.String), sa.column('kind', sa.String))
    domain = sa.table('domain', sa.column('key', sa.String), sa.column('department_code', sa.String),
                      sa.column('department_key', sa.String))
    offices = [c for (c,) in conn.execute(sa.select(org.c.code).where(org.c.kind == 'office'))]
    prov = offices[0][:6] if offices else '000000'
    for key, dept_key in conn.execute(sa.select(domain.c.key, domain.c.department_key)).all():
        conn.execute(domain.update().where(domain.c.key == key)
                     .values(department_code=f'{prov}.dept.{dept_key}'))
    with op.batch_alter_table('domain', schema=None) as batch_op:
        batch_op.alter_column('department_code', existing_type=sqlmodel.sql.sqltypes.AutoString(),
                              nullable=False)
        batch_op.create_foreign_key('fk_domain_department_code_organization', 'organization',
                                    ['department_code'], ['code'])
        batch_op.create_index(batch_op.f('ix_domain_department_code'), ['department_code'], unique=False)
        batch_op.drop_column('department_key')

    with op.batch_alter_table('organization', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_organization_province_code'))
        batch_op.drop_column('province_code')
