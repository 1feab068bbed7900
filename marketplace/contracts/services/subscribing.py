"""Subscribing: a member accepts a contract's text (version and date kept), or sets up a standing order."""
from __future__ import annotations

from datetime import datetime

from flask_babel import gettext as _

from marketplace.catalog.models import ProductVariant
from marketplace.contracts import emails
from marketplace.contracts.models import (
    ContractStatus,
    PaymentMeans,
    Subscription,
    SubscriptionLine,
    SubscriptionStatus,
)
from marketplace.contracts.services.defining import MAX_BASKET_QUANTITY, get_contract, season_distributions
from marketplace.contracts.services.schedule import refresh_schedule, subscriber_distributions
from marketplace.core.errors import Conflict, NotFound, ServiceError
from marketplace.core.mail import send_email
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.members.services import require_active_member, require_admin
from marketplace.timeutil import utcnow

MAX_SHARE = 10


def subscribe(member: User, contract_id: int, *, accepted_version: int, means: PaymentMeans,
              share: int = 1, accepted: bool = True) -> Subscription:
    """The member accepts version `accepted_version` of the contract's text (it must be the current one)."""
    require_active_member(member)
    contract = get_contract(contract_id)
    if not accepted:
        raise ServiceError(_("Tick the box to accept the contract's text."), "accept")
    if contract.status != ContractStatus.OPEN:
        raise Conflict(_("This contract takes no new subscribers."))
    if accepted_version != contract.text_version:
        raise ServiceError(_("The contract's text changed since you read it: read it again and accept it."),
                           "accept")
    if PaymentMeans(means) not in contract.means:
        raise ServiceError(_("Choose one of the contract's ways to pay."), "means")
    if not 1 <= share <= MAX_SHARE:
        raise ServiceError(_("Between 1 and %(n)d baskets per delivery.", n=MAX_SHARE), "share")
    existing = db.session.query(Subscription).filter_by(member_id=member.id, contract_id=contract.id).first()
    if existing is not None:
        raise Conflict(_("You have already subscribed to this contract."))
    now = utcnow()
    if not any(d.cutoff_at > now and d.cancelled_at is None for d in season_distributions(contract.series_key)):
        raise Conflict(_("This contract's season is over."))
    subscription = Subscription(member_id=member.id, contract=contract, series_key=contract.series_key, share=share,
                                accepted_version=contract.text_version, accepted_at=now, payment_means=means,
                                created_at=now)
    subscription.lines = [SubscriptionLine(variant_id=item.variant_id, quantity=item.quantity)
                          for item in contract.items]
    db.session.add(subscription)
    db.session.flush()
    rows = refresh_schedule(subscription)
    send_email(member, emails.subscribed, title=contract.title, version=contract.text_version,
               deliveries=len(subscriber_distributions(subscription)), first_cents=rows[0].amount_cents,
               instalments=len(rows))
    return subscription


def start_standing_order(member: User, series_key: str, lines: dict[int, int],
                         starts_after: datetime | None = None) -> Subscription:
    """"Repeat this basket every week until I stop it": the same machinery, without a contract.

    Orders are made for the series' distributions whose cut-off comes after `starts_after` (default: now),
    e.g. after the cut-off of the distribution the member is checking out for by hand."""
    require_active_member(member)
    if not any(d.cutoff_at > utcnow() and d.cancelled_at is None for d in season_distributions(series_key)):
        raise ServiceError(_("Choose a series of distributions still to come."), "series_key")
    wanted = {variant_id: quantity for variant_id, quantity in lines.items() if quantity}
    if not wanted:
        raise ServiceError(_("Put at least one product in the basket."), "items")
    if any(not 1 <= q <= MAX_BASKET_QUANTITY for q in wanted.values()):
        raise ServiceError(_("Each product of the basket: 1 to %(n)d units.", n=MAX_BASKET_QUANTITY), "items")
    found = db.session.query(ProductVariant.id).filter(ProductVariant.id.in_(wanted), ProductVariant.active).count()
    if found != len(wanted):
        raise ServiceError(_("Unknown product in the basket."), "items")
    now = utcnow()
    subscription = Subscription(member_id=member.id, contract_id=None, series_key=series_key, share=1,
                                created_at=now, accepted_at=max(starts_after or now, now))
    subscription.lines = [SubscriptionLine(variant_id=v, quantity=q) for v, q in sorted(wanted.items())]
    db.session.add(subscription)
    db.session.flush()
    return subscription


def own_subscription(member: User, subscription_id: int) -> Subscription:
    subscription = db.session.get(Subscription, subscription_id)
    if subscription is None or subscription.member_id != member.id:
        raise NotFound(_("No such subscription."))
    return subscription


def stop_standing_order(member: User, subscription_id: int) -> Subscription:
    """Stop a standing order: no order is made for distributions whose window opens from now on.

    A contract is a commitment for the season: it is not stopped by the member."""
    subscription = own_subscription(member, subscription_id)
    if subscription.contract_id is not None:
        raise Conflict(_("A contract runs for its whole season: declare absences instead."))
    if subscription.status == SubscriptionStatus.ACTIVE:
        subscription.status = SubscriptionStatus.STOPPED
        subscription.stopped_at = utcnow()
    db.session.flush()
    return subscription


MAX_REASON = 300


def stop_subscription(user: User, subscription_id: int, reason: str) -> Subscription:
    """An admin, or the producer who runs the contract, stops a subscription (a member who moved, who does not
    pay): no order is made from the next distribution whose order does not exist yet; orders already made
    stay; the schedule is recomputed over the deliveries kept; the member is told why."""
    from marketplace.contracts.services.defining import require_contract_manager
    from marketplace.contracts.services.schedule import claimed_distribution_ids

    subscription = db.session.get(Subscription, subscription_id)
    if subscription is None:
        raise NotFound(_("No such subscription."))
    if subscription.contract is not None:
        require_contract_manager(user, subscription.contract)
    else:
        require_admin(user)
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON:
        raise ServiceError(_("Say why the subscription is stopped (%(n)d characters at most).", n=MAX_REASON),
                           "reason")
    if subscription.status != SubscriptionStatus.ACTIVE:
        raise Conflict(_("This subscription is already stopped."))
    subscription.status, subscription.stopped_at, subscription.stop_reason = \
        SubscriptionStatus.STOPPED, utcnow(), reason
    db.session.flush()
    if subscription.contract is not None:
        refresh_schedule(subscription)
    title = subscription.contract.title if subscription.contract is not None else ""
    send_email(subscription.member, emails.subscription_stopped, title=title, reason=reason,
               made=len(claimed_distribution_ids(subscription)))
    return subscription


def subscriptions_of(member: User) -> list[Subscription]:
    return (db.session.query(Subscription).filter_by(member_id=member.id)
            .order_by(Subscription.created_at.desc()).all())
