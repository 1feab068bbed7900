"""payment alerts keep their composer and values, worded in each reader's language

Revision ID: 8d1f4b6a2c37
Revises: a7c3e91f0b24
Create Date: 2026-11-29 13:30:00.000000

Alerts raised before keep their stored subject and body (shown as they are).
"""
import sqlalchemy as sa
from alembic import op

revision = '8d1f4b6a2c37'
down_revision = 'a7c3e91f0b24'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('payment_alerts') as batch:
        batch.add_column(sa.Column('template', sa.String(length=80), server_default='', nullable=False))
        batch.add_column(sa.Column('values_json', sa.Text(), server_default='{}', nullable=False))


def downgrade():
    with op.batch_alter_table('payment_alerts') as batch:
        batch.drop_column('values_json')
        batch.drop_column('template')
