"""contract order lines carry their share of the basket price; a stopped subscription keeps why

Revision ID: c7d2e91f4a30
Revises: b5c17e0a4d21
Create Date: 2026-11-29 16:05:00.000000

Two nullable/defaulted columns: every existing order line keeps its amount (agreed_cents NULL: quantity ×
unit price as before), every existing subscription an empty stop reason.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c7d2e91f4a30'
down_revision = 'b5c17e0a4d21'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('agreed_cents', sa.Integer(), nullable=True))
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stop_reason', sa.String(length=300), nullable=False, server_default=''))


def downgrade():
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_column('stop_reason')
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.drop_column('agreed_cents')
