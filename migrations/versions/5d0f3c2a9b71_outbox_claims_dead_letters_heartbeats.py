"""Outbox claims, backoff and dead letters; worker and beat heartbeats

Revision ID: 5d0f3c2a9b71
Revises: 5544c24a3bcc
Create Date: 2026-11-29 10:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '5d0f3c2a9b71'
down_revision = '5544c24a3bcc'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('task_outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('claim_token', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('claimed_until', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('dead_at', sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_task_outbox_dead_at'), ['dead_at'], unique=False)
    op.create_table('service_heartbeats',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('seen_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_service_heartbeats'))
    )


def downgrade():
    op.drop_table('service_heartbeats')
    with op.batch_alter_table('task_outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_outbox_dead_at'))
        batch_op.drop_column('dead_at')
        batch_op.drop_column('claimed_until')
        batch_op.drop_column('claim_token')
        batch_op.drop_column('next_attempt_at')
