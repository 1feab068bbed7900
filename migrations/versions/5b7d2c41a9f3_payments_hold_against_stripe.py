"""payments: chargebacks, admin alerts, requests decided before their first call, waiting payouts

Revision ID: 5b7d2c41a9f3
Revises: 5d0f3c2a9b71
Create Date: 2026-11-27 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5b7d2c41a9f3'
down_revision = '5d0f3c2a9b71'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('payment_chargebacks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('stripe_dispute_id', sa.String(length=120), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('charge_id', sa.String(length=120), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('fee_cents', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('due_by', sa.DateTime(), nullable=True),
    sa.Column('rule', sa.String(length=32), nullable=False),
    sa.Column('recovered_cents', sa.Integer(), nullable=False),
    sa.Column('absorbed_cents', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_payment_chargebacks_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_chargebacks')),
    sa.UniqueConstraint('stripe_dispute_id', name=op.f('uq_payment_chargebacks_stripe_dispute_id'))
    )
    with op.batch_alter_table('payment_chargebacks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_chargebacks_order_id'), ['order_id'], unique=False)

    op.create_table('payment_alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=True),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('resolved_at', sa.DateTime(), nullable=True),
    sa.Column('resolved_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_payment_alerts_order_id_orders')),
    sa.ForeignKeyConstraint(['resolved_by_id'], ['users.id'], name=op.f('fk_payment_alerts_resolved_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_alerts')),
    sa.UniqueConstraint('key', name=op.f('uq_payment_alerts_key'))
    )
    with op.batch_alter_table('payment_alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_alerts_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_payment_alerts_resolved_at'), ['resolved_at'], unique=False)

    with op.batch_alter_table('card_payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('checkout_params', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('checkout_attempt', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('capture_cents', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('capture_attempt', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('capture_before', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('synced_at', sa.DateTime(), nullable=True))

    with op.batch_alter_table('payouts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('withholding_released_cents', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'))

    with op.batch_alter_table('payment_credits', schema=None) as batch_op:
        batch_op.add_column(sa.Column('refund_status', sa.String(length=32), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('refund_attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('reversal_cents', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('reversal_attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('withholding_released_cents', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('chargeback_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('error', sa.Text(), nullable=False, server_default=''))
        batch_op.create_foreign_key(batch_op.f('fk_payment_credits_chargeback_id_payment_chargebacks'),
                                    'payment_chargebacks', ['chargeback_id'], ['id'])

    # The server defaults only fill existing rows; the models set the values from now on.
    for table, columns in (('card_payments', ('checkout_params', 'checkout_attempt', 'capture_attempt')),
                           ('payouts', ('withholding_released_cents', 'attempts')),
                           ('payment_credits', ('refund_status', 'refund_attempts', 'reversal_attempts',
                                                'withholding_released_cents', 'error'))):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.alter_column(column, server_default=None)


def downgrade():
    with op.batch_alter_table('payment_credits', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_payment_credits_chargeback_id_payment_chargebacks'),
                                 type_='foreignkey')
        for column in ('error', 'chargeback_id', 'withholding_released_cents', 'reversal_attempts',
                       'reversal_cents', 'refund_attempts', 'refund_status'):
            batch_op.drop_column(column)

    with op.batch_alter_table('payouts', schema=None) as batch_op:
        batch_op.drop_column('attempts')
        batch_op.drop_column('withholding_released_cents')

    with op.batch_alter_table('card_payments', schema=None) as batch_op:
        for column in ('synced_at', 'capture_before', 'capture_attempt', 'capture_cents', 'checkout_attempt',
                       'checkout_params'):
            batch_op.drop_column(column)

    with op.batch_alter_table('payment_alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_alerts_resolved_at'))
        batch_op.drop_index(batch_op.f('ix_payment_alerts_order_id'))
    op.drop_table('payment_alerts')

    with op.batch_alter_table('payment_chargebacks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_chargebacks_order_id'))
    op.drop_table('payment_chargebacks')
