"""Carts and orders: one order per buyer and distribution, one part per producer."""
from __future__ import annotations

from marketplace.core.types import enum_type
from marketplace.extensions import db
from marketplace.money import weighed_amount_cents
from marketplace.orders.states import Fulfilment, LineStatus, PartStatus, PaymentMethod, PaymentStatus, order_status
from marketplace.timeutil import utcnow


class Cart(db.Model):
    __tablename__ = "carts"
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=False, unique=True)
    distribution_id = db.Column(db.Integer, db.ForeignKey("distributions.id"))
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    items = db.relationship("CartItem", back_populates="cart", cascade="all, delete-orphan",
                            order_by="CartItem.id")
    distribution = db.relationship("Distribution")


class CartItem(db.Model):
    __tablename__ = "cart_items"
    id = db.Column(db.Integer, primary_key=True)
    cart_id = db.Column(db.Integer, db.ForeignKey("carts.id", ondelete="CASCADE"), nullable=False)
    product_id = db.Column(db.Integer, db.ForeignKey("products.id"), nullable=False)
    variant_id = db.Column(db.Integer, db.ForeignKey("product_variants.id"), nullable=False, index=True)
    quantity = db.Column(db.Integer, nullable=False)

    __table_args__ = (db.UniqueConstraint("cart_id", "variant_id", name="uq_cart_items_cart_variant"),
                      db.CheckConstraint("quantity > 0", name="quantity_positive"))

    cart = db.relationship("Cart", back_populates="items")
    product = db.relationship("Product")
    variant = db.relationship("ProductVariant")


class Order(db.Model):
    __tablename__ = "orders"
    id = db.Column(db.Integer, primary_key=True)
    reference = db.Column(db.String(32), nullable=False, unique=True)
    buyer_id = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=False, index=True)
    distribution_id = db.Column(db.Integer, db.ForeignKey("distributions.id"), nullable=False, index=True)
    fulfilment = db.Column(enum_type(Fulfilment), nullable=False, default=Fulfilment.PICKUP)
    delivery_address = db.Column(db.String(300), nullable=False, default="")
    delivery_postcode = db.Column(db.String(16), nullable=False, default="")
    delivery_town = db.Column(db.String(120), nullable=False, default="")
    delivery_zone_id = db.Column(db.Integer, db.ForeignKey("delivery_zones.id"))
    delivery_slot_id = db.Column(db.Integer, db.ForeignKey("delivery_slots.id"))
    delivery_fee_cents = db.Column(db.Integer, nullable=False, default=0)
    delivery_code = db.Column(db.String(4), nullable=False, default="")
    payment_method = db.Column(enum_type(PaymentMethod), nullable=False, default=PaymentMethod.PAY_AT_PICKUP)
    payment_status = db.Column(enum_type(PaymentStatus), nullable=False, default=PaymentStatus.DUE)
    note = db.Column(db.Text, nullable=False, default="")
    # Made by a subscription (contracts): "contract" (paid by the contract's instalments) or "standing".
    origin = db.Column(db.String(16), nullable=False, default="", server_default="")
    # A contract's basket: changed on the contract's page (baskets, absence), not line by line.
    quantities_locked = db.Column(db.Boolean, nullable=False, default=False, server_default=db.false())
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    buyer = db.relationship("User")
    distribution = db.relationship("Distribution")
    delivery_zone = db.relationship("DeliveryZone")
    delivery_slot = db.relationship("DeliverySlot")
    parts = db.relationship("OrderPart", back_populates="order", order_by="OrderPart.id",
                            cascade="all, delete-orphan")
    events = db.relationship("OrderEvent", back_populates="order", order_by="OrderEvent.id",
                             cascade="all, delete-orphan")

    @property
    def status(self) -> str:
        return order_status([p.status for p in self.parts])

    @property
    def goods_estimated_cents(self) -> int:
        return sum(p.estimated_cents for p in self.parts if p.status != PartStatus.CANCELLED)

    @property
    def goods_final_cents(self) -> int:
        return sum(p.final_cents for p in self.parts if p.status != PartStatus.CANCELLED)

    @property
    def total_due_cents(self) -> int:
        """What the buyer owes now: final amounts where weighed, estimates elsewhere, plus delivery."""
        fee = self.delivery_fee_cents if self.goods_final_cents > 0 else 0
        return self.goods_final_cents + fee

    @property
    def is_fully_weighed(self) -> bool:
        return all(line.is_priced for p in self.parts for line in p.lines if p.status != PartStatus.CANCELLED)


class OrderPart(db.Model):
    """One producer's share of an order: the producer accepts, weighs, packs it."""

    __tablename__ = "order_parts"
    id = db.Column(db.Integer, primary_key=True)
    order_id = db.Column(db.Integer, db.ForeignKey("orders.id", ondelete="CASCADE"), nullable=False, index=True)
    producer_id = db.Column(db.Integer, db.ForeignKey("producers.id"), nullable=False, index=True)
    status = db.Column(enum_type(PartStatus), nullable=False, default=PartStatus.PLACED, index=True)
    status_changed_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    cancel_reason = db.Column(db.Text, nullable=False, default="")

    __table_args__ = (db.UniqueConstraint("order_id", "producer_id", name="uq_order_parts_order_producer"),)

    order = db.relationship("Order", back_populates="parts")
    producer = db.relationship("ProducerProfile")
    lines = db.relationship("OrderLine", back_populates="part", order_by="OrderLine.id",
                            cascade="all, delete-orphan")

    @property
    def estimated_cents(self) -> int:
        return sum(line.estimated_cents for line in self.lines if line.status == LineStatus.ACTIVE)

    @property
    def final_cents(self) -> int:
        return sum(line.final_cents for line in self.lines)


class OrderLine(db.Model):
    __tablename__ = "order_lines"
    id = db.Column(db.Integer, primary_key=True)
    part_id = db.Column(db.Integer, db.ForeignKey("order_parts.id", ondelete="CASCADE"), nullable=False, index=True)
    product_id = db.Column(db.Integer, db.ForeignKey("products.id"), nullable=False, index=True)
    variant_id = db.Column(db.Integer, db.ForeignKey("product_variants.id"), nullable=False, index=True)
    # Where the units were reserved: this offer, or (NULL) the product's own stock. Released to the same place.
    offer_id = db.Column(db.Integer, db.ForeignKey("distribution_offers.id"), index=True)
    # Snapshots: what the buyer agreed to, even if the producer edits the product later.
    product_name = db.Column(db.String(120), nullable=False)
    variant_label = db.Column(db.String(60), nullable=False, default="", server_default="")
    unit = db.Column(db.String(16), nullable=False)
    unit_price_cents = db.Column(db.Integer, nullable=False)
    vat_rate_bp = db.Column(db.Integer, nullable=False)
    quantity = db.Column(db.Integer, nullable=False)
    is_weight_priced = db.Column(db.Boolean, nullable=False, default=False)
    estimated_weight_g = db.Column(db.Integer)   # per piece
    weighed_grams = db.Column(db.Integer)        # total for the line, entered by the producer
    status = db.Column(enum_type(LineStatus), nullable=False, default=LineStatus.ACTIVE)
    rejection_reason = db.Column(db.Text, nullable=False, default="")
    credited_cents = db.Column(db.Integer, nullable=False, default=0)
    # A contract's line: its share of the basket's price (contracts.rules), whatever the quantity or weight.
    agreed_cents = db.Column(db.Integer)

    __table_args__ = (db.CheckConstraint("quantity > 0", name="line_quantity_positive"),
                      db.CheckConstraint("weighed_grams IS NULL OR weighed_grams > 0", name="weight_positive"))

    part = db.relationship("OrderPart", back_populates="lines")
    product = db.relationship("Product")
    variant = db.relationship("ProductVariant")

    @property
    def display_name(self) -> str:
        """ "Tomatoes — 500 g"; lines of a product's unnamed variant (all lines before variants) keep the name."""
        return f"{self.product_name} — {self.variant_label}" if self.variant_label else self.product_name

    @property
    def estimated_weight_total_g(self) -> int:
        return self.quantity * (self.estimated_weight_g or 0)

    @property
    def estimated_cents(self) -> int:
        if self.agreed_cents is not None:
            return self.agreed_cents
        if self.is_weight_priced:
            return weighed_amount_cents(self.estimated_weight_total_g, self.unit_price_cents)
        return self.quantity * self.unit_price_cents

    @property
    def is_priced(self) -> bool:
        return (not self.is_weight_priced or self.agreed_cents is not None or self.weighed_grams is not None
                or self.status == LineStatus.REJECTED)

    @property
    def final_cents(self) -> int:
        """Amount due for this line: 0 if rejected, weighed amount x price if weighed, else the estimate."""
        if self.status == LineStatus.REJECTED or self.part.status == PartStatus.CANCELLED:
            return 0
        if self.is_weight_priced and self.weighed_grams is not None and self.agreed_cents is None:
            return weighed_amount_cents(self.weighed_grams, self.unit_price_cents)
        return self.estimated_cents


class OrderEvent(db.Model):
    """History of an order, shown to the buyer and the producers."""

    __tablename__ = "order_events"
    id = db.Column(db.Integer, primary_key=True)
    order_id = db.Column(db.Integer, db.ForeignKey("orders.id", ondelete="CASCADE"), nullable=False, index=True)
    part_id = db.Column(db.Integer, db.ForeignKey("order_parts.id", ondelete="CASCADE"))
    actor_id = db.Column(db.Integer, db.ForeignKey("users.id"))
    kind = db.Column(db.String(40), nullable=False)  # a code, worded when shown (orders.events)
    detail = db.Column(db.Text, nullable=False, default="")  # data only: product names, reasons, grams
    amount_cents = db.Column(db.Integer)  # the amount the event is about, formatted in the reader's language
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    order = db.relationship("Order", back_populates="events")
    part = db.relationship("OrderPart")
