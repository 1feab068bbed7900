"""Fee at cost: the coop's cost ledger, billing periods, voted fee rules, statements and dues.

Money is integer cents. A period is a calendar month in the coop's time zone; once closed it
never changes (later costs land in the next open period, flagged as adjustments).
"""
from __future__ import annotations

import enum

from marketplace.core.types import enum_type
from marketplace.extensions import db
from marketplace.timeutil import utcnow


class CostCategory(str, enum.Enum):
    HOSTING = "hosting"
    SOFTWARE = "software"
    ACCOUNTING = "accounting"
    INSURANCE = "insurance"
    PAYMENT_PROCESSING = "payment_processing"
    MAINTENANCE = "maintenance"   # paid maintenance work
    OTHER = "other"


class PeriodStatus(str, enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


# The one place that says how a period may change: open -> closed, never back.
PERIOD_TRANSITIONS: dict[PeriodStatus, set[PeriodStatus]] = {
    PeriodStatus.OPEN: {PeriodStatus.CLOSED},
    PeriodStatus.CLOSED: set(),
}


class RuleStatus(str, enum.Enum):
    VOTING = "voting"      # proposed, members are voting
    ADOPTED = "adopted"    # in force from effective_from (by vote or admin decision)
    REJECTED = "rejected"  # the vote failed (quorum or majority)
    WITHDRAWN = "withdrawn"


RULE_TRANSITIONS: dict[RuleStatus, set[RuleStatus]] = {
    RuleStatus.VOTING: {RuleStatus.ADOPTED, RuleStatus.REJECTED, RuleStatus.WITHDRAWN},
    RuleStatus.ADOPTED: set(),
    RuleStatus.REJECTED: set(),
    RuleStatus.WITHDRAWN: set(),
}


class AdoptedVia(str, enum.Enum):
    VOTE = "vote"
    ADMIN_DECISION = "admin_decision"


class VoteChoice(str, enum.Enum):
    FOR = "for"
    AGAINST = "against"
    ABSTAIN = "abstain"


class DuesKind(str, enum.Enum):
    CHARGE = "charge"    # a fee billed by a period close (money due to the coop)
    PAYMENT = "payment"  # money received (withheld from a transfer, card, cash, bank transfer)


class PaymentMethod(str, enum.Enum):
    WITHHOLDING = "withholding"  # withheld from the member's Stripe Connect transfer
    CARD = "card"
    CASH = "cash"
    BANK_TRANSFER = "bank_transfer"
    CHEQUE = "cheque"


class BillingSettings(db.Model):
    """The coop's billing settings (one row): how a rule is voted, or whether an admin may decide."""

    __tablename__ = "billing_settings"
    id = db.Column(db.Integer, primary_key=True)
    # Turnout needed, in % of active members (abstentions count in the turnout).
    quorum_percent = db.Column(db.Integer, nullable=False, default=25)
    # A rule passes with strictly more than this % of the votes for or against.
    majority_percent = db.Column(db.Integer, nullable=False, default=50)
    # May an admin adopt a rule decided by a general assembly (reference required)?
    allow_admin_decision = db.Column(db.Boolean, nullable=False, default=False)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        db.CheckConstraint("quorum_percent BETWEEN 0 AND 100", name="quorum_range"),
        db.CheckConstraint("majority_percent BETWEEN 0 AND 99", name="majority_range"),
    )


class BillingPeriod(db.Model):
    """A month of the coop's running costs; closing it bills every active member."""

    __tablename__ = "billing_periods"
    id = db.Column(db.Integer, primary_key=True)
    starts_on = db.Column(db.Date, nullable=False, unique=True)  # first day, coop's time zone
    ends_on = db.Column(db.Date, nullable=False)                 # first day of the next period (exclusive)
    status = db.Column(enum_type(PeriodStatus), nullable=False, default=PeriodStatus.OPEN, index=True)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    # Filled once by the close, never changed afterwards.
    closed_at = db.Column(db.DateTime)
    closed_by_id = db.Column(db.Integer, db.ForeignKey("users.id"))
    rule_id = db.Column(db.Integer, db.ForeignKey("billing_fee_rules.id"))
    total_cost_cents = db.Column(db.BigInteger)
    carry_in_cents = db.Column(db.BigInteger)
    carry_out_cents = db.Column(db.BigInteger)
    billed_cents = db.Column(db.BigInteger)
    producer_sales_cents = db.Column(db.BigInteger)
    courier_pay_cents = db.Column(db.BigInteger)
    buyer_purchases_cents = db.Column(db.BigInteger)
    delivery_fees_cents = db.Column(db.BigInteger)
    member_count = db.Column(db.Integer)
    summary = db.Column(db.Text, nullable=False, default="")

    __table_args__ = (db.CheckConstraint("starts_on < ends_on", name="period_order"),)

    rule = db.relationship("FeeRuleVersion")
    closed_by = db.relationship("User")
    costs = db.relationship("CostEntry", back_populates="period", order_by="CostEntry.incurred_on, CostEntry.id",
                            foreign_keys="CostEntry.period_id")

    @property
    def is_closed(self) -> bool:
        return self.status == PeriodStatus.CLOSED


class CostEntry(db.Model):
    """One operating cost of the coop, VAT included (what the coop actually paid)."""

    __tablename__ = "billing_costs"
    id = db.Column(db.Integer, primary_key=True)
    period_id = db.Column(db.Integer, db.ForeignKey("billing_periods.id"), nullable=False, index=True)
    category = db.Column(enum_type(CostCategory), nullable=False)
    amount_cents = db.Column(db.BigInteger, nullable=False)   # VAT included
    vat_cents = db.Column(db.BigInteger, nullable=False, default=0)
    supplier = db.Column(db.String(200), nullable=False, default="")
    incurred_on = db.Column(db.Date, nullable=False)
    note = db.Column(db.Text, nullable=False, default="")
    receipt_filename = db.Column(db.String(120))
    receipt_original_name = db.Column(db.String(200))
    # Set when the cost belongs to an already closed period and was moved to this one.
    adjusts_period_id = db.Column(db.Integer, db.ForeignKey("billing_periods.id"))
    # Stripe balance transaction id for automatically imported processing fees (idempotency).
    stripe_id = db.Column(db.String(120), unique=True)
    created_by_id = db.Column(db.Integer, db.ForeignKey("users.id"))
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    __table_args__ = (
        db.CheckConstraint("amount_cents > 0", name="cost_positive"),
        db.CheckConstraint("vat_cents >= 0 AND vat_cents <= amount_cents", name="vat_range"),
    )

    period = db.relationship("BillingPeriod", back_populates="costs", foreign_keys=[period_id])
    adjusts_period = db.relationship("BillingPeriod", foreign_keys=[adjusts_period_id])
    created_by = db.relationship("User")

    @property
    def is_adjustment(self) -> bool:
        return self.adjusts_period_id is not None


class FeeRuleVersion(db.Model):
    """A version of the fee rule, as data: per college a flat part and a weight on activity."""

    __tablename__ = "billing_fee_rules"
    id = db.Column(db.Integer, primary_key=True)
    version = db.Column(db.Integer, nullable=False, unique=True)
    status = db.Column(enum_type(RuleStatus), nullable=False, default=RuleStatus.VOTING, index=True)
    flat_producer_cents = db.Column(db.Integer, nullable=False, default=0)
    flat_courier_cents = db.Column(db.Integer, nullable=False, default=0)
    flat_buyer_cents = db.Column(db.Integer, nullable=False, default=0)
    flat_supporter_cents = db.Column(db.Integer, nullable=False, default=0)
    weight_producer = db.Column(db.Integer, nullable=False, default=0)
    weight_courier = db.Column(db.Integer, nullable=False, default=0)
    weight_buyer = db.Column(db.Integer, nullable=False, default=0)
    weight_supporter = db.Column(db.Integer, nullable=False, default=0)
    effective_from = db.Column(db.Date, nullable=False)  # applies to periods starting on or after
    rationale = db.Column(db.Text, nullable=False, default="")
    proposed_by_id = db.Column(db.Integer, db.ForeignKey("users.id"))
    proposed_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    decided_at = db.Column(db.DateTime)
    decided_by_id = db.Column(db.Integer, db.ForeignKey("users.id"))
    adopted_via = db.Column(enum_type(AdoptedVia))
    ga_reference = db.Column(db.String(200), nullable=False, default="")
    # The vote's result, kept: electorate and counts at the tally, and the thresholds applied.
    electorate = db.Column(db.Integer)
    votes_for = db.Column(db.Integer)
    votes_against = db.Column(db.Integer)
    votes_abstain = db.Column(db.Integer)
    quorum_percent = db.Column(db.Integer)
    majority_percent = db.Column(db.Integer)

    __table_args__ = tuple(
        db.CheckConstraint(f"{column} >= 0", name=f"{column}_not_negative")
        for column in ("flat_producer_cents", "flat_courier_cents", "flat_buyer_cents", "flat_supporter_cents",
                       "weight_producer", "weight_courier", "weight_buyer", "weight_supporter")
    )

    proposed_by = db.relationship("User", foreign_keys=[proposed_by_id])
    decided_by = db.relationship("User", foreign_keys=[decided_by_id])

    def flat_cents(self) -> dict[str, int]:
        return {"producer": self.flat_producer_cents, "courier": self.flat_courier_cents,
                "buyer": self.flat_buyer_cents, "supporter": self.flat_supporter_cents}

    def weights(self) -> dict[str, int]:
        return {"producer": self.weight_producer, "courier": self.weight_courier,
                "buyer": self.weight_buyer, "supporter": self.weight_supporter}


class RuleVote(db.Model):
    """One member's vote on a proposed rule (one member, one vote; may be changed until the tally)."""

    __tablename__ = "billing_rule_votes"
    id = db.Column(db.Integer, primary_key=True)
    rule_id = db.Column(db.Integer, db.ForeignKey("billing_fee_rules.id", ondelete="CASCADE"), nullable=False)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=False)
    choice = db.Column(enum_type(VoteChoice), nullable=False)
    cast_at = db.Column(db.DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    __table_args__ = (db.UniqueConstraint("rule_id", "user_id", name="uq_billing_rule_votes_rule_user"),)


class Statement(db.Model):
    """A member's fee for a closed period, and how it was computed (never changed once written)."""

    __tablename__ = "billing_statements"
    id = db.Column(db.Integer, primary_key=True)
    period_id = db.Column(db.Integer, db.ForeignKey("billing_periods.id"), nullable=False)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=False, index=True)
    college = db.Column(db.String(16), nullable=False)
    activity_cents = db.Column(db.BigInteger, nullable=False, default=0)
    flat_cents = db.Column(db.BigInteger, nullable=False, default=0)
    proportional_cents = db.Column(db.BigInteger, nullable=False, default=0)
    total_cents = db.Column(db.BigInteger, nullable=False, default=0)
    explanation = db.Column(db.Text, nullable=False, default="")
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    __table_args__ = (
        db.UniqueConstraint("period_id", "user_id", name="uq_billing_statements_period_user"),
        db.CheckConstraint("flat_cents >= 0 AND proportional_cents >= 0", name="parts_not_negative"),
        db.CheckConstraint("total_cents = flat_cents + proportional_cents", name="total_is_sum"),
    )

    period = db.relationship("BillingPeriod")
    user = db.relationship("User")


class DuesEntry(db.Model):
    """The dues ledger: every euro billed to a member and every euro received from them."""

    __tablename__ = "billing_dues"
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=False, index=True)
    period_id = db.Column(db.Integer, db.ForeignKey("billing_periods.id"), index=True)
    kind = db.Column(enum_type(DuesKind), nullable=False)
    amount_cents = db.Column(db.BigInteger, nullable=False)
    method = db.Column(enum_type(PaymentMethod))
    # period:<id> for charges; the payment's reference (transfer id, receipt number...) for payments.
    reference = db.Column(db.String(200), nullable=False)
    recorded_by_id = db.Column(db.Integer, db.ForeignKey("users.id"))
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    __table_args__ = (
        db.CheckConstraint("amount_cents > 0", name="dues_positive"),
        # A period bills a member once; a payment reference is recorded once per period it settles.
        db.UniqueConstraint("user_id", "kind", "reference", "period_id", name="uq_billing_dues_once"),
    )

    user = db.relationship("User", foreign_keys=[user_id])
    period = db.relationship("BillingPeriod")
