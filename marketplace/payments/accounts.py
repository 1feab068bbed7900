"""Producers' and couriers' Stripe Express accounts: onboarding, their state, the dashboard link."""
from __future__ import annotations

import json

from flask import current_app
from flask_babel import gettext as _

from marketplace.core.errors import Conflict, NotAllowed
from marketplace.core.urls import public_url
from marketplace.extensions import db
from marketplace.members.models import College, User
from marketplace.members.services import require_active_member
from marketplace.payments import stripe_gateway as gateway
from marketplace.payments.common import attr, commit_step, now
from marketplace.payments.models import ConnectedAccount, Payout, PayoutStatus
from marketplace.tasking import enqueue_after_commit


def account_of(user_id: int) -> ConnectedAccount | None:
    return db.session.query(ConnectedAccount).filter_by(user_id=user_id).first()


def _require_payee(user: User) -> None:
    require_active_member(user)
    if user.membership.college not in (College.PRODUCER, College.COURIER):
        raise NotAllowed(_("Only producers and couriers receive payments."))


def start_onboarding(user: User) -> str:
    """Create (once) the member's Express account and return a fresh onboarding link."""
    _require_payee(user)
    client = gateway.client()
    account = account_of(user.id)
    if account is None:
        # Nothing that may change between attempts (not even the e-mail): Stripe asks it during onboarding.
        created = client.v1.accounts.create(
            {"type": "express", "country": current_app.config.get("STRIPE_ACCOUNT_COUNTRY", "FR"),
             "capabilities": {"transfers": {"requested": True}}, "metadata": {"user_id": str(user.id)}},
            gateway.idem(f"account:{user.id}"))
        account = ConnectedAccount(user_id=user.id, stripe_account_id=created.id, links_created=0)
        db.session.add(account)
        _apply_account(account, created)
    account.links_created += 1
    commit_step()  # each link its own key, even if this request is rolled back after the call
    link = client.v1.account_links.create(
        {"account": account.stripe_account_id, "type": "account_onboarding",
         "return_url": public_url("payments.onboarding_return"),
         "refresh_url": public_url("payments.onboarding_refresh")},
        gateway.idem(f"account-link:{account.id}:{account.links_created}"))
    return link.url


def _apply_account(account: ConnectedAccount, obj) -> None:
    requirements = attr(obj, "requirements") or {}
    due = list(attr(requirements, "currently_due") or []) + \
        [r for r in (attr(requirements, "past_due") or []) if r not in (attr(requirements, "currently_due") or [])]
    capabilities = attr(obj, "capabilities") or {}
    account.charges_enabled = bool(attr(obj, "charges_enabled"))
    account.payouts_enabled = bool(attr(obj, "payouts_enabled"))
    account.details_submitted = bool(attr(obj, "details_submitted"))
    account.transfers_active = attr(capabilities, "transfers") == "active"
    account.requirements_json = json.dumps(due)
    account.disabled_reason = attr(requirements, "disabled_reason") or ""
    account.synced_at = now()


def sync_account(stripe_account_id: str) -> ConnectedAccount | None:
    """Fetch the account from Stripe (the truth, whatever the event order) and store its state."""
    account = db.session.query(ConnectedAccount).filter_by(stripe_account_id=stripe_account_id).first()
    if account is None:
        return None
    was_usable = account.can_receive_transfers
    _apply_account(account, gateway.client().v1.accounts.retrieve(stripe_account_id))
    if account.can_receive_transfers and not was_usable:
        # Payouts that waited for this account can go now.
        for payout in db.session.query(Payout).filter_by(user_id=account.user_id, status=PayoutStatus.BLOCKED):
            payout.status = PayoutStatus.PENDING
            enqueue_after_commit("payments.execute_payout", [payout.id])
    db.session.flush()
    return account


def producer_can_take_cards(producer_user_id: int) -> bool:
    account = account_of(producer_user_id)
    return account is not None and account.can_receive_transfers


def dashboard_link(user: User) -> str:
    """A one-time link to the member's own Stripe Express dashboard (balance, payouts, bank details)."""
    _require_payee(user)
    account = account_of(user.id)
    if account is None or not account.details_submitted:
        raise Conflict(_("Finish setting up your Stripe account first."))
    # A login link moves no money and is single-use: Stripe takes no idempotency key for it.
    return gateway.client().v1.accounts.login_links.create(account.stripe_account_id).url

