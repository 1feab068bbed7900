"""account security: per-user session secret, e-mail confirmation, failed log-ins

Revision ID: 5e2a9c4d7b10
Revises: c1372f83a79e
Create Date: 2026-11-30 10:00:00

Existing accounts are taken as confirmed (they were opened before confirmation existed) and each gets
its own random session secret, so that every session and remember-me cookie issued before is ended.
"""
import secrets

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5e2a9c4d7b10'
down_revision = 'c1372f83a79e'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_secret', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('email_confirmed_at', sa.DateTime(), nullable=True))
    users = sa.table('users', sa.column('id', sa.Integer), sa.column('session_secret', sa.String),
                     sa.column('email_confirmed_at', sa.DateTime), sa.column('created_at', sa.DateTime))
    connection = op.get_bind()
    for (user_id,) in connection.execute(sa.select(users.c.id)).fetchall():
        connection.execute(users.update().where(users.c.id == user_id)
                           .values(session_secret=secrets.token_urlsafe(32)))
    connection.execute(users.update().values(email_confirmed_at=users.c.created_at))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('session_secret', existing_type=sa.String(length=64), nullable=False)

    op.create_table('auth_failures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('login', 'password_reset', 'api_token', name='attemptkind', native_enum=False,
                              length=32), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('client_address', sa.String(length=64), nullable=False),
    sa.Column('throttled', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_auth_failures_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auth_failures'))
    )
    with op.batch_alter_table('auth_failures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_auth_failures_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_auth_failures_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('auth_failures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_auth_failures_user_id'))
        batch_op.drop_index(batch_op.f('ix_auth_failures_created_at'))
    op.drop_table('auth_failures')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('email_confirmed_at')
        batch_op.drop_column('session_secret')
