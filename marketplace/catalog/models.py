"""Producers' public profiles and their products."""
from __future__ import annotations

import enum

from sqlalchemy.orm import object_session

from marketplace.core.legal import LegalIdentityMixin
from marketplace.core.types import enum_type
from marketplace.extensions import db
from marketplace.money import weighed_amount_cents
from marketplace.timeutil import utcnow

ON_SALE_SQL = "status = 'active' AND hidden_reason IS NULL"


class Unit(str, enum.Enum):
    KG = "kg"
    PIECE = "piece"
    LITRE = "litre"
    BUNCH = "bunch"
    BOX = "box"


class ProductStatus(str, enum.Enum):
    ACTIVE = "active"
    ARCHIVED = "archived"


class ProducerProfile(LegalIdentityMixin, db.Model):
    """A producer's public profile; LegalIdentityMixin holds the seller identity printed on invoices."""

    __tablename__ = "producers"
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=False, unique=True)
    name = db.Column(db.String(120), nullable=False)
    description = db.Column(db.Text, nullable=False, default="")
    town = db.Column(db.String(120), nullable=False, default="")
    postcode = db.Column(db.String(16), nullable=False, default="")
    pickup_address = db.Column(db.String(300), nullable=False, default="")
    latitude = db.Column(db.Float)
    longitude = db.Column(db.Float)
    # Below this total (all buyers of one distribution) the producer does not harvest.
    min_order_cents = db.Column(db.Integer, nullable=False, default=0)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    __table_args__ = (db.CheckConstraint("min_order_cents >= 0", name="min_order_not_negative"),)

    user = db.relationship("User", backref=db.backref("producer_profile", uselist=False))
    products = db.relationship("Product", back_populates="producer", lazy="dynamic")


class Category(db.Model):
    __tablename__ = "categories"
    id = db.Column(db.Integer, primary_key=True)
    slug = db.Column(db.String(60), nullable=False, unique=True)
    name_en = db.Column(db.String(80), nullable=False)
    name_fr = db.Column(db.String(80), nullable=False)

    def label(self, locale: str) -> str:
        return self.name_fr if str(locale).startswith("fr") else self.name_en


class Product(db.Model):
    __tablename__ = "products"
    id = db.Column(db.Integer, primary_key=True)
    producer_id = db.Column(db.Integer, db.ForeignKey("producers.id"), nullable=False, index=True)
    category_id = db.Column(db.Integer, db.ForeignKey("categories.id"), nullable=False, index=True)
    name = db.Column(db.String(120), nullable=False)
    description = db.Column(db.Text, nullable=False, default="")
    # Optional words for English-speaking members; the name and description above are the coop's language.
    name_en = db.Column(db.String(120), nullable=False, default="", server_default="")
    description_en = db.Column(db.Text, nullable=False, default="", server_default="")
    unit = db.Column(enum_type(Unit), nullable=False, default=Unit.PIECE)
    # Price per unit, VAT included; for weight-priced products, the price per kg.
    price_cents = db.Column(db.Integer, nullable=False)
    vat_rate_bp = db.Column(db.Integer, nullable=False, default=550)  # basis points: 550 = 5.5 %
    # NULL = unlimited stock.
    stock = db.Column(db.Integer)
    is_weight_priced = db.Column(db.Boolean, nullable=False, default=False)
    estimated_weight_g = db.Column(db.Integer)  # per piece, for weight-priced products
    photo_filename = db.Column(db.String(120))
    status = db.Column(enum_type(ProductStatus), nullable=False, default=ProductStatus.ACTIVE, index=True)
    hidden_reason = db.Column(db.Text)  # set by an admin when a product breaks the charter
    # Kept by catalog.services (index_product) so the catalogue sorts and searches one table:
    # the producer's name (the catalogue's first sort key) and the folded search text
    # (catalog.search.fold of name, producer name and description).
    producer_name = db.Column(db.String(120), nullable=False, default="", server_default="")
    search_text = db.Column(db.Text, nullable=False, default="", server_default="")
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        db.CheckConstraint("price_cents > 0", name="price_positive"),
        db.CheckConstraint("stock IS NULL OR stock >= 0", name="stock_not_negative"),
        db.CheckConstraint("vat_rate_bp >= 0 AND vat_rate_bp <= 10000", name="vat_range"),
        # The catalogue's order, read from an index (no sort, no join): all products, then by category.
        db.Index("ix_products_catalogue_order", "producer_name", "name", "id",
                 postgresql_where=db.text(ON_SALE_SQL), sqlite_where=db.text(ON_SALE_SQL)),
        db.Index("ix_products_category_order", "category_id", "producer_name", "name", "id",
                 postgresql_where=db.text(ON_SALE_SQL), sqlite_where=db.text(ON_SALE_SQL)),
        # Substring search ("%pomme%") served by trigrams on PostgreSQL (pg_trgm, see install_search_ddl).
        db.Index("ix_products_search_text", "search_text", postgresql_using="gin",
                 postgresql_ops={"search_text": "gin_trgm_ops"}),
    )

    producer = db.relationship("ProducerProfile", back_populates="products")
    category = db.relationship("Category")
    variants = db.relationship("ProductVariant", back_populates="product",
                               order_by="(ProductVariant.position, ProductVariant.id)")

    def name_for(self, locale: str) -> str:
        """The name a reader of `locale` sees: the English one for English readers when the producer gave it."""
        return self.name_en if str(locale).startswith("en") and self.name_en else self.name

    def description_for(self, locale: str) -> str:
        return self.description_en if str(locale).startswith("en") and self.description_en else self.description

    @property
    def is_available(self) -> bool:
        return self.status == ProductStatus.ACTIVE and self.hidden_reason is None

    def estimated_line_cents(self, quantity: int) -> int:
        """What `quantity` of this product is expected to cost (weight-priced: by estimate)."""
        if self.is_weight_priced:
            return weighed_amount_cents(quantity * (self.estimated_weight_g or 0), self.price_cents)
        return quantity * self.price_cents


class ProductVariant(db.Model):
    """One way a product is sold (500 g, 1 kg, a case of 6): its own unit, price, VAT and estimated weight.

    Every product has at least one; the product's own unit/price/VAT/weight columns mirror its first
    variant (position 0), kept by catalog.services, so pages that show one price show that one.
    """

    __tablename__ = "product_variants"
    id = db.Column(db.Integer, primary_key=True)
    product_id = db.Column(db.Integer, db.ForeignKey("products.id"), nullable=False, index=True)
    label = db.Column(db.String(60), nullable=False, default="", server_default="")  # "" = the product itself
    unit = db.Column(enum_type(Unit), nullable=False, default=Unit.PIECE)
    # Price per unit, VAT included; for weight-priced variants, the price per kg.
    price_cents = db.Column(db.Integer, nullable=False)
    vat_rate_bp = db.Column(db.Integer, nullable=False, default=550)
    is_weight_priced = db.Column(db.Boolean, nullable=False, default=False)
    estimated_weight_g = db.Column(db.Integer)  # per piece, for weight-priced variants
    position = db.Column(db.Integer, nullable=False, default=0, server_default="0")
    active = db.Column(db.Boolean, nullable=False, default=True, server_default=db.true())
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    __table_args__ = (
        db.CheckConstraint("price_cents > 0", name="variant_price_positive"),
        db.CheckConstraint("vat_rate_bp >= 0 AND vat_rate_bp <= 10000", name="variant_vat_range"),
    )

    product = db.relationship("Product", back_populates="variants")

    def estimated_line_cents(self, quantity: int, price_cents: int | None = None) -> int:
        """What `quantity` of this variant is expected to cost at `price_cents` (default: its own price)."""
        price = self.price_cents if price_cents is None else price_cents
        if self.is_weight_priced:
            return weighed_amount_cents(quantity * (self.estimated_weight_g or 0), price)
        return quantity * price


class DistributionOffer(db.Model):
    """What a producer brings to one distribution: a variant, how many (NULL = unlimited), at what price.

    `reserved` counts the units of active order lines taken from this offer; checkouts raise it with one
    conditional UPDATE (orders.services.stock), so `reserved <= quantity` always holds.
    """

    __tablename__ = "distribution_offers"
    id = db.Column(db.Integer, primary_key=True)
    distribution_id = db.Column(db.Integer, db.ForeignKey("distributions.id", ondelete="CASCADE"),
                                nullable=False, index=True)
    variant_id = db.Column(db.Integer, db.ForeignKey("product_variants.id"), nullable=False, index=True)
    quantity = db.Column(db.Integer)  # NULL = unlimited
    reserved = db.Column(db.Integer, nullable=False, default=0, server_default="0")
    price_cents = db.Column(db.Integer)  # NULL = the variant's price
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        db.UniqueConstraint("distribution_id", "variant_id", name="uq_distribution_offers_distribution_variant"),
        db.CheckConstraint("quantity IS NULL OR quantity >= 0", name="offer_quantity_not_negative"),
        db.CheckConstraint("reserved >= 0", name="offer_reserved_not_negative"),
        db.CheckConstraint("quantity IS NULL OR reserved <= quantity", name="offer_not_oversold"),
        db.CheckConstraint("price_cents IS NULL OR price_cents > 0", name="offer_price_positive"),
    )

    variant = db.relationship("ProductVariant")
    distribution = db.relationship("Distribution")

    @property
    def unit_price_cents(self) -> int:
        return self.variant.price_cents if self.price_cents is None else self.price_cents

    @property
    def remaining(self) -> int | None:
        """Units still for sale (None = unlimited)."""
        return offer_remaining(self.quantity, self.reserved)


def offer_remaining(quantity: int | None, reserved: int) -> int | None:
    """Units of an offer still for sale (None = unlimited), from its columns."""
    return None if quantity is None else quantity - reserved


# A product's unit, price, VAT and weight are its first variant's: whoever sets them on the product (a
# service, the admin, a script) sets them on that variant too, so the two never disagree.
MIRRORED_ON_FIRST_VARIANT = ("unit", "price_cents", "vat_rate_bp", "is_weight_priced", "estimated_weight_g")


def _mirror_to_first_variant(name: str):
    def on_set(product: Product, value, _old, _initiator) -> None:
        session = object_session(product)
        if session is not None:
            with session.no_autoflush:
                variants = product.variants
        else:
            variants = product.variants
        if variants:
            setattr(variants[0], name, value)
    return on_set


for _name in MIRRORED_ON_FIRST_VARIANT:
    db.event.listen(getattr(Product, _name), "set", _mirror_to_first_variant(_name))


# The trigram operator class must exist before the search index; the Alembic revision does the same.
db.event.listen(Product.__table__, "before_create",
                db.DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm").execute_if(dialect="postgresql"))
