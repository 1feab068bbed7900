"""AMAP/CSA contracts and standing orders: what a member committed to, and what happened each distribution.

A `Subscription` is the one machinery: a member's basket repeated on every distribution of a series. With a
`contract` it is an AMAP/CSA commitment (text accepted, price per delivery, instalments, absences); without,
it is a standing order ("this basket every week until I stop it"), priced and paid like any order.
`SubscriptionDelivery` is the claim that makes order creation happen exactly once per distribution.
"""
from __future__ import annotations

import enum

from marketplace.core.types import enum_type
from marketplace.extensions import db
from marketplace.timeutil import utcnow


class ContractStatus(str, enum.Enum):
    OPEN = "open"      # members may subscribe
    CLOSED = "closed"  # no new subscriber; running subscriptions go on


class PaymentMeans(str, enum.Enum):
    """How a contract's instalments are paid: recorded by the coop, or taken from the member account."""

    CARD = "card"
    CHEQUE = "cheque"
    BANK_TRANSFER = "bank_transfer"
    ACCOUNT = "account"


class SubscriptionStatus(str, enum.Enum):
    ACTIVE = "active"
    STOPPED = "stopped"


class DeliveryOutcome(str, enum.Enum):
    ORDERED = "ordered"    # the order was created
    ABSENT = "absent"      # absence declared: no basket prepared
    ABSENT_OWED = "absent_owed"  # absent beyond the allowance: the basket is prepared, owed, not collected
    NOTHING = "nothing"    # nothing to order (0 baskets, or nothing could be served)


class Contract(db.Model):
    __tablename__ = "contracts"
    id = db.Column(db.Integer, primary_key=True)
    title = db.Column(db.String(160), nullable=False)
    # The producer who runs it (a contract may hold several producers' variants: see producer_ids).
    producer_id = db.Column(db.Integer, db.ForeignKey("producers.id"), index=True)
    series_key = db.Column(db.String(40), nullable=False, index=True)  # the season: a distribution series
    content = db.Column(db.Text, nullable=False, default="")  # a fixed basket's description ("seasonal vegetables")
    price_per_delivery_cents = db.Column(db.Integer, nullable=False)
    instalments = db.Column(db.Integer, nullable=False, default=1)
    payment_means = db.Column(db.String(80), nullable=False, default="cheque")  # comma-separated PaymentMeans
    allowed_absences = db.Column(db.Integer, nullable=False, default=0)
    quantities_changeable = db.Column(db.Boolean, nullable=False, default=False)
    text = db.Column(db.Text, nullable=False, default="")
    text_version = db.Column(db.Integer, nullable=False, default=1)
    status = db.Column(enum_type(ContractStatus), nullable=False, default=ContractStatus.OPEN)
    created_by_id = db.Column(db.Integer, db.ForeignKey("users.id"))
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    __table_args__ = (
        db.CheckConstraint("price_per_delivery_cents > 0", name="contract_price_positive"),
        db.CheckConstraint("instalments >= 1 AND instalments <= 52", name="contract_instalments_range"),
        db.CheckConstraint("allowed_absences >= 0", name="contract_absences_not_negative"),
    )

    producer = db.relationship("ProducerProfile")
    items = db.relationship("ContractItem", back_populates="contract", order_by="ContractItem.id",
                            cascade="all, delete-orphan")
    versions = db.relationship("ContractTextVersion", back_populates="contract",
                               order_by="ContractTextVersion.version", cascade="all, delete-orphan")

    @property
    def means(self) -> list[PaymentMeans]:
        return [PaymentMeans(m) for m in self.payment_means.split(",") if m]


class ContractTextVersion(db.Model):
    """Every version of a contract's text, kept: a subscriber accepted one of them."""

    __tablename__ = "contract_text_versions"
    id = db.Column(db.Integer, primary_key=True)
    contract_id = db.Column(db.Integer, db.ForeignKey("contracts.id", ondelete="CASCADE"), nullable=False)
    version = db.Column(db.Integer, nullable=False)
    text = db.Column(db.Text, nullable=False)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    __table_args__ = (db.UniqueConstraint("contract_id", "version", name="uq_contract_text_versions"),)

    contract = db.relationship("Contract", back_populates="versions")


class ContractItem(db.Model):
    """The basket: a default quantity of a variant per delivery (per share)."""

    __tablename__ = "contract_items"
    id = db.Column(db.Integer, primary_key=True)
    contract_id = db.Column(db.Integer, db.ForeignKey("contracts.id", ondelete="CASCADE"), nullable=False)
    variant_id = db.Column(db.Integer, db.ForeignKey("product_variants.id"), nullable=False)
    quantity = db.Column(db.Integer, nullable=False)

    __table_args__ = (db.UniqueConstraint("contract_id", "variant_id", name="uq_contract_items_variant"),
                      db.CheckConstraint("quantity > 0", name="contract_item_quantity_positive"))

    contract = db.relationship("Contract", back_populates="items")
    variant = db.relationship("ProductVariant")


class Subscription(db.Model):
    __tablename__ = "subscriptions"
    id = db.Column(db.Integer, primary_key=True)
    member_id = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=False, index=True)
    contract_id = db.Column(db.Integer, db.ForeignKey("contracts.id"), index=True)  # NULL: a standing order
    series_key = db.Column(db.String(40), nullable=False, index=True)
    share = db.Column(db.Integer, nullable=False, default=1)  # baskets per delivery
    status = db.Column(enum_type(SubscriptionStatus), nullable=False, default=SubscriptionStatus.ACTIVE)
    accepted_version = db.Column(db.Integer)   # the contract text's version the member accepted
    # When the contract's text was accepted; for a standing order, when it starts. Deliveries are the
    # series' distributions whose cut-off comes after it.
    accepted_at = db.Column(db.DateTime)
    payment_means = db.Column(enum_type(PaymentMeans))
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    stopped_at = db.Column(db.DateTime)
    stop_reason = db.Column(db.String(300), nullable=False, default="", server_default="")

    __table_args__ = (db.UniqueConstraint("member_id", "contract_id", name="uq_subscriptions_member_contract"),
                      db.CheckConstraint("share >= 1 AND share <= 10", name="subscription_share_range"))

    member = db.relationship("User")
    contract = db.relationship("Contract")
    lines = db.relationship("SubscriptionLine", back_populates="subscription", order_by="SubscriptionLine.id",
                            cascade="all, delete-orphan")
    instalment_rows = db.relationship("Instalment", back_populates="subscription", order_by="Instalment.number",
                                      cascade="all, delete-orphan")


class SubscriptionLine(db.Model):
    """What each delivery's order holds (per share): the contract's basket, or the standing order's."""

    __tablename__ = "subscription_lines"
    id = db.Column(db.Integer, primary_key=True)
    subscription_id = db.Column(db.Integer, db.ForeignKey("subscriptions.id", ondelete="CASCADE"), nullable=False)
    variant_id = db.Column(db.Integer, db.ForeignKey("product_variants.id"), nullable=False)
    quantity = db.Column(db.Integer, nullable=False)

    __table_args__ = (db.UniqueConstraint("subscription_id", "variant_id", name="uq_subscription_lines_variant"),
                      db.CheckConstraint("quantity > 0", name="subscription_line_quantity_positive"))

    subscription = db.relationship("Subscription", back_populates="lines")
    variant = db.relationship("ProductVariant")


class DeliveryChoice(db.Model):
    """A member's choice for one distribution, made before its cut-off: absent, handed over, or other baskets."""

    __tablename__ = "subscription_choices"
    id = db.Column(db.Integer, primary_key=True)
    subscription_id = db.Column(db.Integer, db.ForeignKey("subscriptions.id", ondelete="CASCADE"), nullable=False)
    distribution_id = db.Column(db.Integer, db.ForeignKey("distributions.id"), nullable=False, index=True)
    absent = db.Column(db.Boolean, nullable=False, default=False)
    handover_to = db.Column(db.String(120), nullable=False, default="")  # someone else collects the basket
    baskets = db.Column(db.Integer)  # an amendment: this many baskets this time (NULL: the share)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    __table_args__ = (db.UniqueConstraint("subscription_id", "distribution_id", name="uq_subscription_choices"),
                      db.CheckConstraint("baskets IS NULL OR (baskets >= 0 AND baskets <= 10)",
                                         name="choice_baskets_range"))

    subscription = db.relationship("Subscription")
    distribution = db.relationship("Distribution")


class SubscriptionDelivery(db.Model):
    """The claim: one row per subscription and distribution, inserted with the order it created.

    The unique constraint is what makes order creation exactly-once: a second run, a run after a crash, or
    a concurrent worker finds the row (or fails to insert it) and creates nothing."""

    __tablename__ = "subscription_deliveries"
    id = db.Column(db.Integer, primary_key=True)
    subscription_id = db.Column(db.Integer, db.ForeignKey("subscriptions.id", ondelete="CASCADE"), nullable=False)
    distribution_id = db.Column(db.Integer, db.ForeignKey("distributions.id"), nullable=False, index=True)
    order_id = db.Column(db.Integer, db.ForeignKey("orders.id"), index=True)
    outcome = db.Column(enum_type(DeliveryOutcome), nullable=False)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    __table_args__ = (db.UniqueConstraint("subscription_id", "distribution_id", name="uq_subscription_deliveries"),)

    subscription = db.relationship("Subscription")
    order = db.relationship("Order")


class Instalment(db.Model):
    """One instalment of a contract's payment schedule; `paid_cents` set when the coop records it."""

    __tablename__ = "contract_instalments"
    id = db.Column(db.Integer, primary_key=True)
    subscription_id = db.Column(db.Integer, db.ForeignKey("subscriptions.id", ondelete="CASCADE"), nullable=False)
    number = db.Column(db.Integer, nullable=False)  # 1, 2, ...
    due_on = db.Column(db.Date, nullable=False)
    amount_cents = db.Column(db.Integer, nullable=False)  # negative: a credit owed to the member (settlement)
    paid_cents = db.Column(db.Integer)
    paid_at = db.Column(db.DateTime)
    means = db.Column(enum_type(PaymentMeans))
    recorded_by_id = db.Column(db.Integer, db.ForeignKey("users.id"))

    __table_args__ = (db.UniqueConstraint("subscription_id", "number", name="uq_contract_instalments_number"),)

    subscription = db.relationship("Subscription", back_populates="instalment_rows")
