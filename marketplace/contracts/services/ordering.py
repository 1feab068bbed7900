"""Order creation from subscriptions: each subscriber's order for a distribution, exactly once.

The claim is a `SubscriptionDelivery` row, unique per (subscription, distribution), inserted in the same
savepoint as the order it stands for. So:
- run twice: the second run finds the claim and makes nothing;
- crash in the middle: the task commits after each subscriber, so what was done stays done and the rest
  is done by the next run (an uncommitted subscriber left no claim, no order, no reservation);
- two workers at once: the second insert of the same claim fails on the unique key (PostgreSQL makes it
  wait for the first one's commit) and only that subscriber's savepoint is undone;
- late: any distribution whose window has opened and whose pickup has not started is still served, and the
  cut-off itself first makes the orders still missing (orders.signals.distribution_closing).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from marketplace.contracts.models import (
    DeliveryChoice,
    DeliveryOutcome,
    Subscription,
    SubscriptionDelivery,
    SubscriptionStatus,
)
from marketplace.contracts.services.schedule import charged_absence_ids
from marketplace.core.errors import ServiceError
from marketplace.distributions.models import Distribution
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.orders.models import Order
from marketplace.orders.services.standing import (
    cancel_subscription_order,
    place_subscription_order,
    set_subscription_quantities,
)
from marketplace.orders.states import LineStatus, PartStatus
from marketplace.timeutil import utcnow

log = logging.getLogger(__name__)


def _baskets(subscription: Subscription, choice: DeliveryChoice | None) -> int:
    return subscription.share if choice is None or choice.baskets is None else choice.baskets


def _absence_owed(subscription: Subscription, distribution_id: int, choice: DeliveryChoice | None) -> bool:
    return choice is not None and choice.absent and distribution_id in charged_absence_ids(subscription)


def wanted_for(subscription: Subscription, choice: DeliveryChoice | None, owed: bool = False) -> dict[int, int]:
    """{variant_id: units} for one delivery: the basket × the share or the amended baskets; nothing if absent,
    unless the absence is beyond the allowance (`owed`: the basket is prepared all the same, contracts.rules)."""
    if choice is not None and choice.absent and not owed:
        return {}
    baskets = _baskets(subscription, choice)
    return {line.variant_id: line.quantity * baskets for line in subscription.lines if baskets > 0}


def agreed_total(subscription: Subscription, choice: DeliveryChoice | None) -> int | None:
    """A contract's delivery costs the contract's price × its baskets (contracts.rules); a standing order's
    lines keep their own prices (None)."""
    contract = subscription.contract
    return None if contract is None else contract.price_per_delivery_cents * _baskets(subscription, choice)


def _outcome(wanted: dict[int, int], choice: DeliveryChoice | None, owed: bool) -> DeliveryOutcome:
    if wanted:
        return DeliveryOutcome.ABSENT_OWED if owed else DeliveryOutcome.ORDERED
    return DeliveryOutcome.ABSENT if choice is not None and choice.absent else DeliveryOutcome.NOTHING


def _choice(subscription_id: int, distribution_id: int) -> DeliveryChoice | None:
    return db.session.query(DeliveryChoice).filter_by(subscription_id=subscription_id,
                                                      distribution_id=distribution_id).first()


def _claim(subscription_id: int, distribution_id: int) -> SubscriptionDelivery | None:
    return db.session.query(SubscriptionDelivery).filter_by(subscription_id=subscription_id,
                                                            distribution_id=distribution_id).first()


def is_serving(distribution: Distribution, now: datetime) -> bool:
    """Orders are made once the window has opened, until the pickup starts (a late run still serves)."""
    return distribution.cancelled_at is None and distribution.opens_at <= now < distribution.starts_at


def subscriber_ids(distribution: Distribution) -> list[int]:
    """Active subscriptions on the distribution's series that had started before its cut-off, in id order."""
    if not distribution.series_key:
        return []
    rows = (db.session.query(Subscription.id)
            .filter(Subscription.series_key == distribution.series_key,
                    Subscription.status == SubscriptionStatus.ACTIVE,
                    db.func.coalesce(Subscription.accepted_at, Subscription.created_at) < distribution.cutoff_at)
            .order_by(Subscription.id))
    return [subscription_id for (subscription_id,) in rows]


def _place(subscription: Subscription, distribution: Distribution, wanted: dict[int, int],
           choice: DeliveryChoice | None) -> Order:
    contract = subscription.contract
    return place_subscription_order(
        subscription.member, distribution, wanted, origin="contract" if contract else "standing",
        locked=contract is not None, note=contract.title if contract else "",
        agreed_total_cents=agreed_total(subscription, choice))


def create_order_for(subscription_id: int, distribution: Distribution) -> SubscriptionDelivery | None:
    """Claim this subscription's delivery and make its order, in one savepoint; None if it was claimed already."""
    if _claim(subscription_id, distribution.id) is not None:
        return None
    subscription = db.session.get(Subscription, subscription_id)
    choice = _choice(subscription_id, distribution.id)
    owed = _absence_owed(subscription, distribution.id, choice)
    wanted = wanted_for(subscription, choice, owed)
    try:
        with db.session.begin_nested():
            claim = SubscriptionDelivery(subscription_id=subscription_id, distribution_id=distribution.id,
                                         outcome=DeliveryOutcome.NOTHING)
            db.session.add(claim)
            db.session.flush()  # the unique key: a concurrent claimer stops here
            if wanted:
                claim.order_id = _place(subscription, distribution, wanted, choice).id
            claim.outcome = _outcome(wanted, choice, owed)
            db.session.flush()
    except IntegrityError:
        return None
    return claim


def create_subscription_orders(distribution_id: int, now: datetime | None = None,
                               after_each: Callable[[], None] | None = None) -> int:
    """Every subscriber's order for this distribution that does not exist yet; returns how many were made.

    `after_each` runs after each subscriber (the task commits there: a crash keeps what was done)."""
    now = now or utcnow()
    distribution = db.session.get(Distribution, distribution_id)
    if distribution is None or not is_serving(distribution, now):
        return 0
    made = 0
    for subscription_id in subscriber_ids(distribution):
        try:
            if create_order_for(subscription_id, distribution) is not None:
                made += 1
        except ServiceError as exc:  # one subscriber's refusal (its savepoint undone) does not stop the others
            log.warning("subscription %s, distribution %s: no order made (%s); retried at the next sweep",
                        subscription_id, distribution_id, exc.message)
        if after_each is not None:
            after_each()
    return made


def due_distribution_ids(now: datetime | None = None) -> list[int]:
    """Distributions of a series someone subscribes to, whose window is open and pickup not started."""
    now = now or utcnow()
    series = db.session.query(Subscription.series_key).filter(Subscription.status == SubscriptionStatus.ACTIVE)
    return [d for (d,) in db.session.query(Distribution.id)
            .filter(Distribution.series_key.in_(series.distinct()), Distribution.opens_at <= now,
                    Distribution.starts_at > now, Distribution.cancelled_at.is_(None))
            .order_by(Distribution.opens_at)]


def create_due_orders(now: datetime | None = None, after_each: Callable[[], None] | None = None) -> int:
    """The beat's sweep: every open distribution's missing subscription orders."""
    return sum(create_subscription_orders(d, now, after_each) for d in due_distribution_ids(now))


def _as_wanted(order: Order, wanted: dict[int, int], total_cents: int | None) -> bool:
    """The order already holds `wanted` at `total_cents`: nothing to change (and no event in its history)."""
    active = [line for part in order.parts if part.status != PartStatus.CANCELLED for line in part.lines
              if line.status == LineStatus.ACTIVE]
    if any(wanted.get(line.variant_id, 0) != line.quantity for line in active):
        return False
    return total_cents is None or sum(line.agreed_cents or 0 for line in active) == total_cents


def sync_order(subscription: Subscription, distribution: Distribution, actor: User | None) -> None:
    """After a choice changed before the cut-off, bring the delivery's order (if made already) in line with it."""
    claim = _claim(subscription.id, distribution.id)
    if claim is None:
        return  # the order will be made from the choice when the window opens
    choice = _choice(subscription.id, distribution.id)
    owed = _absence_owed(subscription, distribution.id, choice)
    wanted = wanted_for(subscription, choice, owed)
    order = claim.order
    live = order is not None and any(part.status != PartStatus.CANCELLED for part in order.parts)
    if live and not wanted:
        cancel_subscription_order(order.id, actor, "absent" if choice and choice.absent else "emptied_by_buyer")
    elif live and _as_wanted(order, wanted, agreed_total(subscription, choice)):
        pass
    elif live:
        set_subscription_quantities(order.id, wanted, actor, "emptied_by_buyer",
                                    agreed_total_cents=agreed_total(subscription, choice))
    elif wanted:
        claim.order_id = _place(subscription, distribution, wanted, choice).id
    claim.outcome = _outcome(wanted, choice, owed)
    db.session.flush()


def cancel_subscription_orders(distribution_id: int) -> int:
    """The distribution is cancelled: the subscription orders made for it are cancelled too (their units go
    back; a contract's delivery that did not happen is charged to nobody, contracts.rules). Returns how many."""
    claims = (db.session.query(SubscriptionDelivery)
              .filter(SubscriptionDelivery.distribution_id == distribution_id,
                      SubscriptionDelivery.order_id.is_not(None)).order_by(SubscriptionDelivery.id).all())
    for claim in claims:
        cancel_subscription_order(claim.order_id, None, "distribution_cancelled")
    return len(claims)
