"""catalogue: producer name and folded search text on products, the catalogue's order as an index, trigram search

Revision ID: 7c4e1f2a8d90
Revises: 5b7d2c41a9f3
Create Date: 2026-11-29 12:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7c4e1f2a8d90'
down_revision = '5b7d2c41a9f3'
branch_labels = None
depends_on = None

ON_SALE = "status = 'active' AND hidden_reason IS NULL"


def upgrade():
    bind = op.get_bind()
    trigrams = bind.dialect.name != "postgresql" or _create_pg_trgm(bind)
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('producer_name', sa.String(length=120), server_default='', nullable=False))
        batch_op.add_column(sa.Column('search_text', sa.Text(), server_default='', nullable=False))
    _backfill(bind)
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.create_index('ix_products_catalogue_order', ['producer_name', 'name', 'id'], unique=False,
                              postgresql_where=sa.text(ON_SALE), sqlite_where=sa.text(ON_SALE))
        batch_op.create_index('ix_products_category_order', ['category_id', 'producer_name', 'name', 'id'],
                              unique=False, postgresql_where=sa.text(ON_SALE), sqlite_where=sa.text(ON_SALE))
        if trigrams:
            batch_op.create_index('ix_products_search_text', ['search_text'], unique=False,
                                  postgresql_using='gin', postgresql_ops={'search_text': 'gin_trgm_ops'})


def _create_pg_trgm(bind) -> bool:
    """pg_trgm where the database role may create it; without it search works, unindexed."""
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        return True
    except sa.exc.DBAPIError as exc:
        print(f"pg_trgm could not be created ({exc.orig}); catalogue search will run without its index. "
              "A superuser can run CREATE EXTENSION pg_trgm, then CREATE INDEX ix_products_search_text "
              "ON products USING gin (search_text gin_trgm_ops).")
        return False


def _backfill(bind):
    """Existing products get their producer's name and their folded search text (catalog.search.fold)."""
    from marketplace.catalog.search import search_text

    rows = bind.execute(sa.text(
        "SELECT p.id, p.name, pr.name, p.description FROM products p JOIN producers pr ON pr.id = p.producer_id"))
    updates = [{"id": pid, "producer_name": producer, "search_text": search_text(name, producer, description or "")}
               for pid, name, producer, description in rows]
    if updates:
        bind.execute(sa.text("UPDATE products SET producer_name = :producer_name, search_text = :search_text "
                             "WHERE id = :id"), updates)


def downgrade():
    op.drop_index('ix_products_search_text', table_name='products', if_exists=True)
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_index('ix_products_category_order', sqlite_where=sa.text(ON_SALE),
                            postgresql_where=sa.text(ON_SALE))
        batch_op.drop_index('ix_products_catalogue_order', sqlite_where=sa.text(ON_SALE),
                            postgresql_where=sa.text(ON_SALE))
        batch_op.drop_column('search_text')
        batch_op.drop_column('producer_name')
