"""Stripe Connect records: connected accounts, card payments, payouts, refunds, events and the ledger.

Money is integer cents. Every row that leads to a POST to Stripe is written (and committed) before
the call, and its id is the idempotency key, so a retried task replays the same request.
"""
from __future__ import annotations

import enum
import json

from marketplace.core.types import enum_type
from marketplace.extensions import db
from marketplace.timeutil import utcnow


class CardPaymentStatus(str, enum.Enum):
    OPEN = "open"              # Checkout Session created, not paid
    AUTHORISED = "authorised"  # card held (manual capture)
    CAPTURED = "captured"
    RELEASED = "released"      # authorisation cancelled: nothing was charged
    EXPIRED = "expired"        # session expired unpaid
    LAPSED = "lapsed"          # the card network dropped the hold before capture: collect another way


class PayoutKind(str, enum.Enum):
    PRODUCER = "producer"  # one per order part
    COURIER = "courier"    # one per delivery run and source order


class PayoutStatus(str, enum.Enum):
    PENDING = "pending"
    PAID = "paid"
    BLOCKED = "blocked"    # the member's Stripe account cannot receive transfers yet, or Stripe refused it
    WAITING = "waiting"    # the coop's Stripe balance cannot cover it yet: retried when funds are available


class CreditKind(str, enum.Enum):
    DISPUTE = "dispute"    # admin decision after payment: refund + reversal from the producer
    REBALANCE = "rebalance"  # captured more than now due (cancelled part, rejected line, excess hold)
    CHARGEBACK = "chargeback"  # a lost chargeback taken back from a producer: no refund, the bank took it


class CreditStatus(str, enum.Enum):
    PENDING = "pending"    # the refund (or reversal) is not final at Stripe yet
    DONE = "done"
    FAILED = "failed"      # the refund failed at Stripe: an admin must give the money back another way


class LedgerKind(str, enum.Enum):
    CHARGE = "charge"              # captured from the buyer's card
    FEE = "fee"                    # Stripe's processing fee: a coop cost, not in the order balance
    TRANSFER = "transfer"          # to a producer for an order part
    COURIER_TRANSFER = "courier_transfer"
    REVERSAL = "reversal"          # taken back from a producer's transfer
    REFUND = "refund"              # back to the buyer's card
    WITHHOLDING = "withholding"    # member's at-cost fees kept from a transfer
    WITHHOLDING_RELEASED = "withholding_released"  # a withholding given back (its line was refunded)
    REFUND_FAILED = "refund_failed"  # a refund the card network returned to the coop's balance
    DISPUTE = "dispute"            # taken from the coop's balance by a chargeback
    DISPUTE_REINSTATED = "dispute_reinstated"  # given back when the coop won the chargeback
    COOP_COST = "coop_cost"        # a loss the coop bears as a running cost (a lost chargeback)


class EventStatus(str, enum.Enum):
    RECEIVED = "received"
    PROCESSED = "processed"
    IGNORED = "ignored"      # a type we do not act on: acknowledged
    UNMATCHED = "unmatched"  # about an object we do not know: flagged for an admin
    FAILED = "failed"


class ConnectedAccount(db.Model):
    """A producer's or courier's Stripe Express account, as last reported by Stripe."""

    __tablename__ = "payment_accounts"
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=False, unique=True)
    stripe_account_id = db.Column(db.String(64), nullable=False, unique=True)
    charges_enabled = db.Column(db.Boolean, nullable=False, default=False)
    payouts_enabled = db.Column(db.Boolean, nullable=False, default=False)
    transfers_active = db.Column(db.Boolean, nullable=False, default=False)
    details_submitted = db.Column(db.Boolean, nullable=False, default=False)
    requirements_json = db.Column(db.Text, nullable=False, default="[]")
    disabled_reason = db.Column(db.String(120), nullable=False, default="")
    links_created = db.Column(db.Integer, nullable=False, default=0)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    synced_at = db.Column(db.DateTime)

    user = db.relationship("User")

    @property
    def requirements(self) -> list[str]:
        return json.loads(self.requirements_json or "[]")

    @property
    def can_receive_transfers(self) -> bool:
        return self.transfers_active and self.payouts_enabled


class CardPayment(db.Model):
    """The one Checkout Session / PaymentIntent that pays an order."""

    __tablename__ = "card_payments"
    id = db.Column(db.Integer, primary_key=True)
    order_id = db.Column(db.Integer, db.ForeignKey("orders.id"), nullable=False, unique=True)
    session_id = db.Column(db.String(120), unique=True)
    session_url = db.Column(db.Text, nullable=False, default="")
    payment_intent_id = db.Column(db.String(120), unique=True)
    charge_id = db.Column(db.String(120), unique=True)
    status = db.Column(enum_type(CardPaymentStatus), nullable=False, default=CardPaymentStatus.OPEN)
    requested_cents = db.Column(db.Integer, nullable=False, default=0)   # the hold asked at checkout
    authorised_cents = db.Column(db.Integer, nullable=False, default=0)
    captured_cents = db.Column(db.Integer, nullable=False, default=0)
    authorised_at = db.Column(db.DateTime)
    captured_at = db.Column(db.DateTime)
    captured_early = db.Column(db.Boolean, nullable=False, default=False)
    # Decided and stored before the first call, so every retry sends the very same request.
    checkout_params = db.Column(db.Text, nullable=False, default="")
    checkout_attempt = db.Column(db.Integer, nullable=False, default=0)
    capture_cents = db.Column(db.Integer)
    capture_attempt = db.Column(db.Integer, nullable=False, default=0)
    capture_before = db.Column(db.DateTime)  # when the card network drops the hold (from the charge)
    synced_at = db.Column(db.DateTime)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    __table_args__ = (db.CheckConstraint("requested_cents >= 0 AND authorised_cents >= 0 AND captured_cents >= 0",
                                         name="card_amounts_not_negative"),)

    order = db.relationship("Order", backref=db.backref("card_payment", uselist=False))


class Payout(db.Model):
    """Money owed to a member for one order part (producer) or one run's order (courier)."""

    __tablename__ = "payouts"
    id = db.Column(db.Integer, primary_key=True)
    kind = db.Column(enum_type(PayoutKind), nullable=False)
    reference = db.Column(db.String(160), nullable=False, unique=True)  # the idempotency key
    user_id = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=False, index=True)
    order_id = db.Column(db.Integer, db.ForeignKey("orders.id"), index=True)
    part_id = db.Column(db.Integer, db.ForeignKey("order_parts.id"), unique=True)
    gross_cents = db.Column(db.Integer, nullable=False)
    withheld_cents = db.Column(db.Integer, nullable=False, default=0)
    status = db.Column(enum_type(PayoutStatus), nullable=False, default=PayoutStatus.PENDING)
    stripe_transfer_id = db.Column(db.String(120), unique=True)
    reversed_cents = db.Column(db.Integer, nullable=False, default=0)
    withholding_released_cents = db.Column(db.Integer, nullable=False, default=0)
    error = db.Column(db.Text, nullable=False, default="")
    attempts = db.Column(db.Integer, nullable=False, default=0)  # Stripe refusals so far: a new key each
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    paid_at = db.Column(db.DateTime)

    __table_args__ = (db.CheckConstraint("gross_cents >= 0 AND withheld_cents >= 0 AND withheld_cents <= gross_cents",
                                         name="payout_amounts"),)

    user = db.relationship("User")
    order = db.relationship("Order")
    part = db.relationship("OrderPart")

    @property
    def net_cents(self) -> int:
        return self.gross_cents - self.withheld_cents

    @property
    def idempotency_key(self) -> str:
        """The reference; after a refusal by Stripe (saved under the old key) a new key per attempt."""
        return self.reference if not self.attempts else f"{self.reference}:attempt-{self.attempts}"


class Credit(db.Model):
    """Money going back to a buyer: a refund, with a reversal from the producer when already paid."""

    __tablename__ = "payment_credits"
    id = db.Column(db.Integer, primary_key=True)
    kind = db.Column(enum_type(CreditKind), nullable=False)
    order_id = db.Column(db.Integer, db.ForeignKey("orders.id"), nullable=False, index=True)
    part_id = db.Column(db.Integer, db.ForeignKey("order_parts.id"))
    line_id = db.Column(db.Integer, db.ForeignKey("order_lines.id"))
    amount_cents = db.Column(db.Integer, nullable=False)
    reversed_cents = db.Column(db.Integer, nullable=False, default=0)
    reason = db.Column(db.Text, nullable=False, default="")
    status = db.Column(enum_type(CreditStatus), nullable=False, default=CreditStatus.PENDING)
    stripe_refund_id = db.Column(db.String(120), unique=True)
    refund_status = db.Column(db.String(32), nullable=False, default="")  # Stripe's: pending, succeeded...
    refund_attempts = db.Column(db.Integer, nullable=False, default=0)  # Stripe refusals: a new key each
    stripe_reversal_id = db.Column(db.String(120), unique=True)
    # Decided before the reversal's first call (its idempotency key must always carry the same amount).
    reversal_cents = db.Column(db.Integer)
    reversal_attempts = db.Column(db.Integer, nullable=False, default=0)
    withholding_released_cents = db.Column(db.Integer, nullable=False, default=0)
    chargeback_id = db.Column(db.Integer, db.ForeignKey("payment_chargebacks.id"))
    error = db.Column(db.Text, nullable=False, default="")
    actor_id = db.Column(db.Integer, db.ForeignKey("users.id"))
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    __table_args__ = (db.CheckConstraint("amount_cents > 0", name="credit_positive"),)

    order = db.relationship("Order")
    part = db.relationship("OrderPart")

    @property
    def refund_key(self) -> str:
        return f"refund:{self.id}" + (f":attempt-{self.refund_attempts}" if self.refund_attempts else "")

    @property
    def reversal_key(self) -> str:
        return f"reversal:{self.id}" + (f":attempt-{self.reversal_attempts}" if self.reversal_attempts else "")


class Chargeback(db.Model):
    """A Stripe dispute (chargeback) on an order's charge, as last reported by Stripe, and our rule's outcome."""

    __tablename__ = "payment_chargebacks"
    id = db.Column(db.Integer, primary_key=True)
    stripe_dispute_id = db.Column(db.String(120), nullable=False, unique=True)
    order_id = db.Column(db.Integer, db.ForeignKey("orders.id"), index=True)
    charge_id = db.Column(db.String(120), nullable=False, default="")
    amount_cents = db.Column(db.Integer, nullable=False, default=0)
    fee_cents = db.Column(db.Integer, nullable=False, default=0)
    reason = db.Column(db.String(64), nullable=False, default="")
    status = db.Column(db.String(32), nullable=False, default="")  # Stripe's: needs_response, won, lost...
    due_by = db.Column(db.DateTime)
    rule = db.Column(db.String(32), nullable=False, default="")  # the published rule applied when lost
    recovered_cents = db.Column(db.Integer, nullable=False, default=0)  # taken back from producers
    absorbed_cents = db.Column(db.Integer, nullable=False, default=0)   # borne by the coop
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    closed_at = db.Column(db.DateTime)

    order = db.relationship("Order")

    @property
    def is_open(self) -> bool:
        return self.status not in ("won", "lost", "prevented")


class PaymentAlert(db.Model):
    """Something about money an admin must look at, with the next step; open until resolved."""

    __tablename__ = "payment_alerts"
    id = db.Column(db.Integer, primary_key=True)
    key = db.Column(db.String(200), unique=True)  # one open alert per situation
    subject = db.Column(db.String(300), nullable=False)  # in the coop's language, as raised
    body = db.Column(db.Text, nullable=False, default="")
    # The composer (payments.emails) and its values: the alert is worded in each reader's language.
    template = db.Column(db.String(80), nullable=False, default="", server_default="")
    values_json = db.Column(db.Text, nullable=False, default="{}", server_default="{}")
    order_id = db.Column(db.Integer, db.ForeignKey("orders.id"), index=True)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    resolved_at = db.Column(db.DateTime, index=True)
    resolved_by_id = db.Column(db.Integer, db.ForeignKey("users.id"))

    order = db.relationship("Order")


class LedgerEntry(db.Model):
    """One money movement, with the Stripe object that proves it."""

    __tablename__ = "payment_ledger"
    id = db.Column(db.Integer, primary_key=True)
    kind = db.Column(enum_type(LedgerKind), nullable=False, index=True)
    amount_cents = db.Column(db.Integer, nullable=False)
    order_id = db.Column(db.Integer, db.ForeignKey("orders.id"), index=True)
    part_id = db.Column(db.Integer, db.ForeignKey("order_parts.id"))
    user_id = db.Column(db.Integer, db.ForeignKey("users.id"), index=True)  # the member paid or withheld from
    stripe_id = db.Column(db.String(120), unique=True)
    reference = db.Column(db.String(160), unique=True)  # our own key when there is no Stripe object
    note = db.Column(db.Text, nullable=False, default="")
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    __table_args__ = (db.CheckConstraint("amount_cents >= 0", name="ledger_not_negative"),)

    order = db.relationship("Order")


class StripeEvent(db.Model):
    """Every verified webhook event, stored once: a replay of the same id is a no-op."""

    __tablename__ = "stripe_events"
    id = db.Column(db.Integer, primary_key=True)
    event_id = db.Column(db.String(120), nullable=False, unique=True)
    type = db.Column(db.String(120), nullable=False)
    account = db.Column(db.String(64), nullable=False, default="")
    object_id = db.Column(db.String(120), nullable=False, default="")
    payload = db.Column(db.Text, nullable=False)
    status = db.Column(enum_type(EventStatus), nullable=False, default=EventStatus.RECEIVED, index=True)
    note = db.Column(db.Text, nullable=False, default="")
    received_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    processed_at = db.Column(db.DateTime)
