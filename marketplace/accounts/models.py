"""Member accounts: an append-only ledger of movements in integer cents; a balance is their sum.

Nothing stores a balance: it is always `SUM(amount_cents)` of the member's movements, so it cannot
drift from its history. A movement is never changed or deleted (database triggers, as for issued
invoices): a mistake is corrected by a new movement (an adjustment, with its reason).
"""
from __future__ import annotations

import enum

from sqlalchemy import DDL, event

from marketplace.core.types import enum_type
from marketplace.extensions import db
from marketplace.timeutil import utcnow


class MovementKind(str, enum.Enum):
    DISPUTE_CREDIT = "dispute_credit"              # + an admin's decision on a pay-at-pickup dispute
    REJECTED_LINE_CREDIT = "rejected_line_credit"  # + a line the producer could not supply, already paid
    TOP_UP = "top_up"                              # + money the member gave the coop (card, cash, cheque, transfer)
    ORDER_PAYMENT = "order_payment"                # - the balance pays (part of) an order
    REFUND_TO_ACCOUNT = "refund_to_account"        # + money due back on an order, kept on the account
    ADJUSTMENT = "adjustment"                      # ± an admin's correction, with its mandatory reason
    PAYBACK = "payback"                            # - the balance handed back to the member
    CARRY_OVER = "carry_over"                      # ± a small weighing difference carried to the next order
    CONTRACT_PAYMENT = "contract_payment"          # - the balance pays a contract's instalment (contracts)


class Means(str, enum.Enum):
    """How money came in or went out (top-ups, paybacks, cash received at the pickup)."""

    CARD = "card"
    CASH = "cash"
    CHEQUE = "cheque"
    BANK_TRANSFER = "bank_transfer"


# The sign each kind may take: +1 credits the member, -1 debits, 0 either.
KIND_SIGN: dict[MovementKind, int] = {
    MovementKind.DISPUTE_CREDIT: 1,
    MovementKind.REJECTED_LINE_CREDIT: 1,
    MovementKind.TOP_UP: 1,
    MovementKind.ORDER_PAYMENT: -1,
    MovementKind.REFUND_TO_ACCOUNT: 1,
    MovementKind.ADJUSTMENT: 0,
    MovementKind.PAYBACK: -1,
    MovementKind.CARRY_OVER: 0,
    MovementKind.CONTRACT_PAYMENT: -1,
}


class MemberAccount(db.Model):
    """One row per member who ever had a movement: the row locked while a debit is decided."""

    __tablename__ = "member_accounts"
    user_id = db.Column(db.Integer, db.ForeignKey("users.id"), primary_key=True)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    # Set when the member asked for the balance back (or left the coop); cleared once paid back.
    payback_requested_at = db.Column(db.DateTime)

    user = db.relationship("User")


class AccountMovement(db.Model):
    __tablename__ = "account_movements"
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("member_accounts.user_id"), nullable=False, index=True)
    kind = db.Column(enum_type(MovementKind), nullable=False)
    amount_cents = db.Column(db.Integer, nullable=False)  # signed: + credits the member
    reason = db.Column(db.Text, nullable=False, default="")
    means = db.Column(enum_type(Means))
    order_id = db.Column(db.Integer, db.ForeignKey("orders.id"), index=True)
    actor_id = db.Column(db.Integer, db.ForeignKey("users.id"))
    # What the movement settles ("dispute:12", "order-payment:34"): the same fact is never posted twice.
    key = db.Column(db.String(120), unique=True)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    __table_args__ = (db.CheckConstraint("amount_cents <> 0", name="movement_not_zero"),)

    order = db.relationship("Order")
    actor = db.relationship("User", foreign_keys=[actor_id])


class TopUpStatus(str, enum.Enum):
    OPEN = "open"        # Checkout Session created, not paid yet
    PAID = "paid"        # Stripe says paid: the TOP_UP movement is posted
    EXPIRED = "expired"  # never paid


class CardTopUp(db.Model):
    """A member tops their account up by card: a Checkout Session on the coop's own Stripe account.

    The money lands in the coop's platform balance (not a producer's connected account); it reaches producers
    later, through transfers from that balance for orders the account pays (marketplace.payments.payouts)."""

    __tablename__ = "card_top_ups"
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=False, index=True)
    amount_cents = db.Column(db.Integer, nullable=False)
    status = db.Column(enum_type(TopUpStatus), nullable=False, default=TopUpStatus.OPEN)
    checkout_params = db.Column(db.Text, nullable=False, default="")  # decided before the first call
    session_id = db.Column(db.String(120), unique=True)
    session_url = db.Column(db.Text, nullable=False, default="")
    payment_intent_id = db.Column(db.String(120))
    charge_id = db.Column(db.String(120))
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    paid_at = db.Column(db.DateTime)

    __table_args__ = (db.CheckConstraint("amount_cents > 0", name="top_up_positive"),)


# Accounting records (C. com. L123-22): amounts, kinds, members and orders are never rewritten, nor a row
# deleted. Only the reason's text may change, and only by erasure's sweep blanking an erased member's
# identifiers in it (privacy.scrub): the amounts stay and the accountant still balances.
FIXED_COLUMNS = ("id", "user_id", "kind", "amount_cents", "means", "order_id", "actor_id", "key", "created_at")

# Append-only, in the database too. The migration runs the same statements.
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
PG_TRIGGER = ("CREATE TRIGGER account_movements_append_only BEFORE UPDATE OR DELETE ON account_movements "
              "FOR EACH ROW EXECUTE FUNCTION account_movements_append_only()")
SQLITE_TRIGGERS = [
    "CREATE TRIGGER account_movements_no_update BEFORE UPDATE OF " + ", ".join(FIXED_COLUMNS)
    + " ON account_movements BEGIN SELECT RAISE(ABORT, 'account movements are append-only'); END",
    "CREATE TRIGGER account_movements_no_delete BEFORE DELETE ON account_movements "
    "BEGIN SELECT RAISE(ABORT, 'account movements are append-only'); END",
]

event.listen(AccountMovement.__table__, "after_create", DDL(PG_FUNCTION).execute_if(dialect="postgresql"))
event.listen(AccountMovement.__table__, "after_create", DDL(PG_TRIGGER).execute_if(dialect="postgresql"))
for _statement in SQLITE_TRIGGERS:
    event.listen(AccountMovement.__table__, "after_create", DDL(_statement).execute_if(dialect="sqlite"))
