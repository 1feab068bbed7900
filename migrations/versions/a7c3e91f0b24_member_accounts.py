"""member accounts: an append-only ledger per member

Revision ID: a7c3e91f0b24
Revises: 7c3e1a9d5f20
Create Date: 2026-11-29 12:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a7c3e91f0b24'
down_revision = '7c3e1a9d5f20'
branch_labels = None
depends_on = None

# Kept in step with marketplace.accounts.models (a migration must not import the app).
FIXED_COLUMNS = ("id", "user_id", "kind", "amount_cents", "means", "order_id", "actor_id", "key", "created_at")
PG_FUNCTION = """
CREATE OR REPLACE FUNCTION account_movements_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' OR """ + " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in FIXED_COLUMNS) + """ THEN
        RAISE EXCEPTION 'account movements are append-only: post a correcting movement';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql
"""
SQLITE_TRIGGERS = [
    "CREATE TRIGGER account_movements_no_update BEFORE UPDATE OF " + ", ".join(FIXED_COLUMNS)
    + " ON account_movements BEGIN SELECT RAISE(ABORT, 'account movements are append-only'); END",
    "CREATE TRIGGER account_movements_no_delete BEFORE DELETE ON account_movements "
    "BEGIN SELECT RAISE(ABORT, 'account movements are append-only'); END",
]


def upgrade():
    op.create_table('member_accounts',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('payback_requested_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_member_accounts_user_id_users')),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_member_accounts'))
    )
    op.create_table('account_movements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('dispute_credit', 'rejected_line_credit', 'top_up', 'order_payment',
                              'refund_to_account', 'adjustment', 'payback', 'carry_over', name='movementkind',
                              native_enum=False, length=32), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('means', sa.Enum('card', 'cash', 'cheque', 'bank_transfer', name='means', native_enum=False,
                               length=32), nullable=True),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('key', sa.String(length=120), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('amount_cents <> 0', name=op.f('ck_account_movements_movement_not_zero')),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_account_movements_actor_id_users')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_account_movements_order_id_orders')),
    sa.ForeignKeyConstraint(['user_id'], ['member_accounts.user_id'],
                            name=op.f('fk_account_movements_user_id_member_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account_movements')),
    sa.UniqueConstraint('key', name=op.f('uq_account_movements_key'))
    )
    with op.batch_alter_table('account_movements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_account_movements_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_account_movements_user_id'), ['user_id'], unique=False)
    op.create_table('card_top_ups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('open', 'paid', 'expired', name='topupstatus', native_enum=False, length=32),
              nullable=False),
    sa.Column('checkout_params', sa.Text(), nullable=False),
    sa.Column('session_id', sa.String(length=120), nullable=True),
    sa.Column('session_url', sa.Text(), nullable=False),
    sa.Column('payment_intent_id', sa.String(length=120), nullable=True),
    sa.Column('charge_id', sa.String(length=120), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('paid_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint('amount_cents > 0', name=op.f('ck_card_top_ups_top_up_positive')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_card_top_ups_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_card_top_ups')),
    sa.UniqueConstraint('session_id', name=op.f('uq_card_top_ups_session_id'))
    )
    with op.batch_alter_table('card_top_ups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_card_top_ups_user_id'), ['user_id'], unique=False)
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute("CREATE TRIGGER account_movements_append_only BEFORE UPDATE OR DELETE ON account_movements "
                   "FOR EACH ROW EXECUTE FUNCTION account_movements_append_only()")
    elif dialect == "sqlite":
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS account_movements_append_only ON account_movements")
        op.execute("DROP FUNCTION IF EXISTS account_movements_append_only()")
    elif dialect == "sqlite":
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS account_movements_no_{verb}")
    with op.batch_alter_table('account_movements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_account_movements_user_id'))
        batch_op.drop_index(batch_op.f('ix_account_movements_order_id'))
    with op.batch_alter_table('card_top_ups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_card_top_ups_user_id'))
    op.drop_table('card_top_ups')
    op.drop_table('account_movements')
    op.drop_table('member_accounts')
