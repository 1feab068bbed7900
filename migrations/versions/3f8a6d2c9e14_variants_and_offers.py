"""product variants and offers per distribution

Revision ID: 3f8a6d2c9e14
Revises: 8d1f4b6a2c37
Create Date: 2026-11-29 15:30:00.000000

Every existing product becomes a single-variant product: one variant (label "", position 0) made from its
unit, price, VAT and estimated weight. Cart items and order lines point at it (variant_id); order lines keep
every stored snapshot (name, unit, price, VAT, quantity, weights, amounts) untouched, their new
variant_label is "" and offer_id NULL (their units were taken from the product's own stock, and are given
back there). No distribution gets offers: until a producer declares what they bring to a distribution
(distribution_producers.offers_set_at), their active variants are sold there from the product's stock, as
before the migration.
"""
import sqlalchemy as sa
from alembic import op

revision = '3f8a6d2c9e14'
down_revision = '8d1f4b6a2c37'
branch_labels = None
depends_on = None

UNIT = sa.Enum('kg', 'piece', 'litre', 'bunch', 'box', name='unit', native_enum=False, length=32)
FIRST_VARIANT = ("(SELECT v.id FROM product_variants v WHERE v.product_id = {table}.product_id "
                 "AND v.position = 0)")


def upgrade():
    op.create_table(
        'product_variants',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('product_id', sa.Integer(), nullable=False),
        sa.Column('label', sa.String(length=60), server_default='', nullable=False),
        sa.Column('unit', UNIT, nullable=False),
        sa.Column('price_cents', sa.Integer(), nullable=False),
        sa.Column('vat_rate_bp', sa.Integer(), nullable=False),
        sa.Column('is_weight_priced', sa.Boolean(), nullable=False),
        sa.Column('estimated_weight_g', sa.Integer(), nullable=True),
        sa.Column('position', sa.Integer(), server_default='0', nullable=False),
        sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint('price_cents > 0', name=op.f('ck_product_variants_variant_price_positive')),
        sa.CheckConstraint('vat_rate_bp >= 0 AND vat_rate_bp <= 10000', name=op.f('ck_product_variants_variant_vat_range')),
        sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_variants_product_id_products')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_product_variants')),
    )
    with op.batch_alter_table('product_variants') as batch:
        batch.create_index(batch.f('ix_product_variants_product_id'), ['product_id'], unique=False)
    op.execute("INSERT INTO product_variants (product_id, label, unit, price_cents, vat_rate_bp, is_weight_priced, "
               "estimated_weight_g, position, active, created_at) SELECT id, '', unit, price_cents, vat_rate_bp, "
               "is_weight_priced, estimated_weight_g, 0, true, created_at FROM products ORDER BY id")

    op.create_table(
        'distribution_offers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('distribution_id', sa.Integer(), nullable=False),
        sa.Column('variant_id', sa.Integer(), nullable=False),
        sa.Column('quantity', sa.Integer(), nullable=True),
        sa.Column('reserved', sa.Integer(), server_default='0', nullable=False),
        sa.Column('price_cents', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint('quantity IS NULL OR quantity >= 0',
                           name=op.f('ck_distribution_offers_offer_quantity_not_negative')),
        sa.CheckConstraint('reserved >= 0', name=op.f('ck_distribution_offers_offer_reserved_not_negative')),
        sa.CheckConstraint('quantity IS NULL OR reserved <= quantity',
                           name=op.f('ck_distribution_offers_offer_not_oversold')),
        sa.CheckConstraint('price_cents IS NULL OR price_cents > 0',
                           name=op.f('ck_distribution_offers_offer_price_positive')),
        sa.ForeignKeyConstraint(['distribution_id'], ['distributions.id'],
                                name=op.f('fk_distribution_offers_distribution_id_distributions'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['variant_id'], ['product_variants.id'],
                                name=op.f('fk_distribution_offers_variant_id_product_variants')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_distribution_offers')),
        sa.UniqueConstraint('distribution_id', 'variant_id', name='uq_distribution_offers_distribution_variant'),
    )
    with op.batch_alter_table('distribution_offers') as batch:
        batch.create_index(batch.f('ix_distribution_offers_distribution_id'), ['distribution_id'], unique=False)
        batch.create_index(batch.f('ix_distribution_offers_variant_id'), ['variant_id'], unique=False)

    with op.batch_alter_table('distribution_producers') as batch:
        batch.add_column(sa.Column('offers_set_at', sa.DateTime(), nullable=True))

    with op.batch_alter_table('cart_items') as batch:
        batch.add_column(sa.Column('variant_id', sa.Integer(), nullable=True))
    op.execute("UPDATE cart_items SET variant_id = " + FIRST_VARIANT.format(table='cart_items'))
    with op.batch_alter_table('cart_items') as batch:
        batch.alter_column('variant_id', existing_type=sa.Integer(), nullable=False)
        batch.drop_constraint('uq_cart_items_cart_product', type_='unique')
        batch.create_unique_constraint('uq_cart_items_cart_variant', ['cart_id', 'variant_id'])
        batch.create_foreign_key(batch.f('fk_cart_items_variant_id_product_variants'), 'product_variants',
                                 ['variant_id'], ['id'])
        batch.create_index(batch.f('ix_cart_items_variant_id'), ['variant_id'], unique=False)

    with op.batch_alter_table('order_lines') as batch:
        batch.add_column(sa.Column('variant_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('offer_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('variant_label', sa.String(length=60), server_default='', nullable=False))
    op.execute("UPDATE order_lines SET variant_id = " + FIRST_VARIANT.format(table='order_lines'))
    with op.batch_alter_table('order_lines') as batch:
        batch.alter_column('variant_id', existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key(batch.f('fk_order_lines_variant_id_product_variants'), 'product_variants',
                                 ['variant_id'], ['id'])
        batch.create_foreign_key(batch.f('fk_order_lines_offer_id_distribution_offers'), 'distribution_offers',
                                 ['offer_id'], ['id'])
        batch.create_index(batch.f('ix_order_lines_variant_id'), ['variant_id'], unique=False)
        batch.create_index(batch.f('ix_order_lines_offer_id'), ['offer_id'], unique=False)


def downgrade():
    with op.batch_alter_table('order_lines') as batch:
        batch.drop_index(batch.f('ix_order_lines_offer_id'))
        batch.drop_index(batch.f('ix_order_lines_variant_id'))
        batch.drop_constraint(batch.f('fk_order_lines_offer_id_distribution_offers'), type_='foreignkey')
        batch.drop_constraint(batch.f('fk_order_lines_variant_id_product_variants'), type_='foreignkey')
        batch.drop_column('variant_label')
        batch.drop_column('offer_id')
        batch.drop_column('variant_id')
    # Two variants of one product in a cart become one line again: keep the first.
    op.execute("DELETE FROM cart_items WHERE id NOT IN (SELECT MIN(id) FROM cart_items GROUP BY cart_id, product_id)")
    with op.batch_alter_table('cart_items') as batch:
        batch.drop_index(batch.f('ix_cart_items_variant_id'))
        batch.drop_constraint(batch.f('fk_cart_items_variant_id_product_variants'), type_='foreignkey')
        batch.drop_constraint('uq_cart_items_cart_variant', type_='unique')
        batch.create_unique_constraint('uq_cart_items_cart_product', ['cart_id', 'product_id'])
        batch.drop_column('variant_id')
    with op.batch_alter_table('distribution_producers') as batch:
        batch.drop_column('offers_set_at')
    with op.batch_alter_table('distribution_offers') as batch:
        batch.drop_index(batch.f('ix_distribution_offers_variant_id'))
        batch.drop_index(batch.f('ix_distribution_offers_distribution_id'))
    op.drop_table('distribution_offers')
    with op.batch_alter_table('product_variants') as batch:
        batch.drop_index(batch.f('ix_product_variants_product_id'))
    op.drop_table('product_variants')
