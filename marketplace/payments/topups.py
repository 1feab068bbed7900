"""Card top-ups of member accounts: a Checkout Session on the coop's own Stripe account.

Where the money sits: a top-up is an ordinary charge on the coop's platform account (no destination, no
transfer group): it lands in the coop's Stripe balance and is owed to the member (a liability in
marketplace.accounts), not income. How it reaches producers: an order the account pays in part is charged
less than its producers are owed, and Stripe refuses a transfer from a charge beyond that charge
(``source_transaction``); so that order's producers are paid by transfers from the coop's *available*
balance, where top-ups sit once Stripe has settled them (payouts.py waits, visibly, until it has the funds).

Same protocol as the order checkout: the session's parameters are decided and committed before the first
call, the row id makes the idempotency key, and only a verified webhook (or a sync) credits the account.
"""
from __future__ import annotations

import json
from datetime import timedelta

from flask_babel import gettext as _

from marketplace.accounts import services as accounts
from marketplace.accounts.models import CardTopUp, Means, MovementKind, TopUpStatus
from marketplace.core.errors import ServiceError
from marketplace.core.urls import public_url
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.members.services import require_active_member
from marketplace.money import format_money
from marketplace.payments import stripe_gateway as gateway
from marketplace.payments.common import attr, id_of, now, to_timestamp, write_ledger
from marketplace.payments.models import LedgerKind

MIN_TOP_UP_CENTS = 500
MAX_TOP_UP_CENTS = 500_00
SESSION_LIFETIME = timedelta(hours=1)


def start_top_up(user: User, amount_cents: int) -> str:
    """Create the Checkout Session of a card top-up and return its hosted page's URL (commits before the call)."""
    require_active_member(user)
    if not gateway.is_configured():
        raise ServiceError(_("Card payment is not available."))
    if not MIN_TOP_UP_CENTS <= amount_cents <= MAX_TOP_UP_CENTS:
        raise ServiceError(_("A top-up is between %(min)s and %(max)s.", min=format_money(MIN_TOP_UP_CENTS),
                             max=format_money(MAX_TOP_UP_CENTS)), "amount")
    top_up = CardTopUp(user_id=user.id, amount_cents=amount_cents)
    db.session.add(top_up)
    db.session.flush()
    top_up.checkout_params = json.dumps(_params(top_up, user))
    db.session.commit()
    session = gateway.client().v1.checkout.sessions.create(json.loads(top_up.checkout_params),
                                                           gateway.idem(f"top-up:{top_up.id}"))
    top_up = db.session.get(CardTopUp, top_up.id)
    top_up.session_id, top_up.session_url = session.id, session.url or ""
    db.session.flush()
    return top_up.session_url


def _params(top_up: CardTopUp, user: User) -> dict:
    name = _("Top-up of your account with %(coop)s (held for you, spent on your orders or handed back)",
             coop=_coop_name())
    return {
        "mode": "payment",
        "line_items": [{"quantity": 1, "price_data": {"currency": gateway.currency(),
                                                      "unit_amount": top_up.amount_cents,
                                                      "product_data": {"name": name[:250]}}}],
        "client_reference_id": f"top-up-{top_up.id}",
        "customer_email": user.email,
        "expires_at": to_timestamp(now() + SESSION_LIFETIME),
        "metadata": {"top_up_id": str(top_up.id)},
        "payment_intent_data": {"metadata": {"top_up_id": str(top_up.id)},
                                "description": _("Account top-up %(id)s", id=top_up.id)},
        "success_url": public_url("accounts.mine"),
        "cancel_url": public_url("accounts.mine"),
    }


def _coop_name() -> str:
    from marketplace.core.services import get_setting

    return get_setting("coop_name")


def top_up_for_object(obj: dict) -> int | None:
    """The top-up a Stripe object (session, PaymentIntent, charge) belongs to, if any."""
    raw = (obj.get("metadata") or {}).get("top_up_id")
    if raw and str(raw).isdigit():
        return int(raw)
    query = db.session.query(CardTopUp.id)
    if obj.get("object") == "checkout.session":
        return query.filter_by(session_id=obj.get("id")).scalar()
    intent = obj.get("id") if obj.get("object") == "payment_intent" else obj.get("payment_intent")
    return query.filter_by(payment_intent_id=intent).scalar() if intent else None


def sync_top_up(top_up_id: int) -> CardTopUp | None:
    """Bring a top-up in line with Stripe's session: credit the account once it is paid (safe to run twice)."""
    top_up = db.session.query(CardTopUp).filter_by(id=top_up_id).with_for_update().first()
    if top_up is None or top_up.status != TopUpStatus.OPEN or top_up.session_id is None:
        return top_up
    client = gateway.client()
    session = client.v1.checkout.sessions.retrieve(top_up.session_id)
    if attr(session, "status") == "expired":
        top_up.status = TopUpStatus.EXPIRED
    elif attr(session, "status") == "complete" and attr(session, "payment_status") == "paid":
        top_up.payment_intent_id = id_of(attr(session, "payment_intent"))
        intent = client.v1.payment_intents.retrieve(top_up.payment_intent_id, {"expand": ["latest_charge"]})
        top_up.charge_id = id_of(attr(intent, "latest_charge"))
        top_up.status, top_up.paid_at = TopUpStatus.PAID, now()
        accounts.post_movement(top_up.user_id, MovementKind.TOP_UP, top_up.amount_cents, means=Means.CARD,
                               key=f"card-top-up:{top_up.id}")
        write_ledger(LedgerKind.CHARGE, top_up.amount_cents, user_id=top_up.user_id, stripe_id=top_up.charge_id,
                     reference=None if top_up.charge_id else f"top-up:{top_up.id}",
                     note=_("Account top-up %(id)s (members' money, not income)", id=top_up.id))
    db.session.flush()
    return top_up
