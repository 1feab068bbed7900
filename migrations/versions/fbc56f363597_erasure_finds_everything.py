"""Erasure finds everything: earlier identifiers, erasable drop-offs, audit text redaction

Members' earlier names, e-mail addresses, phones and addresses (member_former_identifiers); drop-off
coordinates that an erasure can blank; the audit log's trigger accepts one announced redaction of texts.

Revision ID: fbc56f363597
Revises: 5e2a9c4d7b10
Create Date: 2026-12-01 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'fbc56f363597'
down_revision = '5e2a9c4d7b10'
branch_labels = None
depends_on = None

# Kept in step with marketplace.audit.models.PG_TRIGGER_FUNCTION (a migration must not import the app).
REDACTABLE_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('marketplace.audit_redaction', true) = 'on'
       AND NEW.id = OLD.id AND NEW.created_at = OLD.created_at
       AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id AND NEW.action = OLD.action
       AND NEW.subject_type = OLD.subject_type AND NEW.subject_id = OLD.subject_id THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$ LANGUAGE plpgsql"""
STRICT_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$ LANGUAGE plpgsql"""


def upgrade():
    op.create_table('member_former_identifiers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('value', sa.String(length=300), nullable=False),
    sa.Column('replaced_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_member_former_identifiers_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_former_identifiers'))
    )
    with op.batch_alter_table('member_former_identifiers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_member_former_identifiers_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('courier_run_stops', schema=None) as batch_op:
        batch_op.alter_column('latitude', existing_type=sa.Float(), nullable=True)
        batch_op.alter_column('longitude', existing_type=sa.Float(), nullable=True)

    if op.get_bind().dialect.name == "postgresql":
        op.execute(REDACTABLE_FUNCTION)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(STRICT_FUNCTION)
    # Erased drop-offs have no coordinates any more: the older schema gets 0, 0 for them.
    op.execute("UPDATE courier_run_stops SET latitude = 0, longitude = 0 WHERE latitude IS NULL OR longitude IS NULL")
    with op.batch_alter_table('courier_run_stops', schema=None) as batch_op:
        batch_op.alter_column('longitude', existing_type=sa.Float(), nullable=False)
        batch_op.alter_column('latitude', existing_type=sa.Float(), nullable=False)

    with op.batch_alter_table('member_former_identifiers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_member_former_identifiers_user_id'))
    op.drop_table('member_former_identifiers')
