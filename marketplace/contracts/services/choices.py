"""A member's choices for one delivery, before its cut-off: absent, handed over to someone, other baskets."""
from __future__ import annotations

from flask_babel import gettext as _

from marketplace.contracts.models import (
    DeliveryChoice,
    DeliveryOutcome,
    Subscription,
    SubscriptionDelivery,
    SubscriptionStatus,
)
from marketplace.contracts.services.ordering import sync_order
from marketplace.contracts.services.schedule import refresh_schedule, subscriber_distributions
from marketplace.contracts.services.subscribing import MAX_SHARE, own_subscription
from marketplace.core.errors import Conflict, NotFound, ServiceError
from marketplace.distributions.models import Distribution
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.timeutil import utcnow

MAX_NAME = 120


def _open_delivery(member: User, subscription_id: int, distribution_id: int) -> tuple[Subscription, Distribution]:
    subscription = own_subscription(member, subscription_id)
    if subscription.status != SubscriptionStatus.ACTIVE:
        raise Conflict(_("This subscription is stopped."))
    distribution = next((d for d in subscriber_distributions(subscription) if d.id == distribution_id), None)
    if distribution is None:
        raise NotFound(_("This distribution is not one of your deliveries."))
    if distribution.cancelled_at is not None:
        raise Conflict(_("This distribution is cancelled."))
    if distribution.closed_at is not None or utcnow() >= distribution.cutoff_at:
        raise Conflict(_("The cut-off has passed: it is too late to change this delivery."))
    return subscription, distribution


def _choice_row(subscription: Subscription, distribution: Distribution) -> DeliveryChoice:
    choice = db.session.query(DeliveryChoice).filter_by(subscription_id=subscription.id,
                                                        distribution_id=distribution.id).first()
    if choice is None:
        choice = DeliveryChoice(subscription_id=subscription.id, distribution_id=distribution.id)
        db.session.add(choice)
    return choice


def _apply(member: User, subscription: Subscription, distribution: Distribution) -> None:
    """The delivery's order follows the choice; so do the other open deliveries' orders, since an absence
    declared or withdrawn moves which later absences are beyond the allowance (contracts.rules)."""
    db.session.flush()
    sync_order(subscription, distribution, member)
    if subscription.contract is not None:
        now = utcnow()
        for other in subscriber_distributions(subscription):
            if other.id != distribution.id and other.cancelled_at is None and other.is_open(now):
                sync_order(subscription, other, member)
        refresh_schedule(subscription)


def declare_absence(member: User, subscription_id: int, distribution_id: int, handover_to: str = "") -> DeliveryChoice:
    """Absent (no basket prepared), or, with `handover_to`, someone else collects the basket (prepared, charged)."""
    subscription, distribution = _open_delivery(member, subscription_id, distribution_id)
    handover_to = (handover_to or "").strip()
    if len(handover_to) > MAX_NAME:
        raise ServiceError(_("Keep the name under %(n)d characters.", n=MAX_NAME), "handover_to")
    choice = _choice_row(subscription, distribution)
    choice.absent = not handover_to
    choice.handover_to = handover_to
    _apply(member, subscription, distribution)
    return choice


def withdraw_absence(member: User, subscription_id: int, distribution_id: int) -> DeliveryChoice:
    """Back after all (or no hand-over): the basket is made again, if the offer still has it."""
    subscription, distribution = _open_delivery(member, subscription_id, distribution_id)
    choice = _choice_row(subscription, distribution)
    choice.absent, choice.handover_to = False, ""
    _apply(member, subscription, distribution)
    return choice


def set_baskets(member: User, subscription_id: int, distribution_id: int, baskets: int) -> DeliveryChoice:
    """Another number of baskets for this delivery (0 to skip it), when the contract allows changes."""
    subscription, distribution = _open_delivery(member, subscription_id, distribution_id)
    if subscription.contract is not None and not subscription.contract.quantities_changeable:
        raise Conflict(_("This contract's baskets cannot be changed."))
    if not isinstance(baskets, int) or not 0 <= baskets <= MAX_SHARE:
        raise ServiceError(_("Between 0 and %(n)d baskets.", n=MAX_SHARE), "baskets")
    choice = _choice_row(subscription, distribution)
    choice.baskets = baskets
    _apply(member, subscription, distribution)
    return choice


def absences_for(distribution_id: int, producer_id: int | None = None) -> list[tuple[int, str, str]]:
    """For the packing list and the pickup sheet: (member id, member, "" if absent else who collects) for this
    distribution, limited to baskets holding `producer_id`'s products when given."""
    from marketplace.catalog.models import Product, ProductVariant
    from marketplace.contracts.models import SubscriptionLine

    query = (db.session.query(DeliveryChoice, Subscription)
             .join(Subscription, Subscription.id == DeliveryChoice.subscription_id)
             .filter(DeliveryChoice.distribution_id == distribution_id,
                     (DeliveryChoice.absent.is_(True)) | (DeliveryChoice.handover_to != "")))
    if producer_id is not None:
        query = query.filter(Subscription.id.in_(
            db.session.query(SubscriptionLine.subscription_id)
            .join(ProductVariant, ProductVariant.id == SubscriptionLine.variant_id)
            .join(Product, Product.id == ProductVariant.product_id).filter(Product.producer_id == producer_id)))
    owed = {sub_id for (sub_id,) in db.session.query(SubscriptionDelivery.subscription_id).filter_by(
        distribution_id=distribution_id, outcome=DeliveryOutcome.ABSENT_OWED)}
    rows = {(sub.member_id, sub.member.full_name,
             _("nobody: absent, basket owed") if sub.id in owed and choice.absent else choice.handover_to)
            for choice, sub in query.all()}
    return sorted(rows, key=lambda row: (row[1].lower(), row[0]))
