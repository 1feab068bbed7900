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
    return absences_by_distribution([distribution_id], producer_id).get(distribution_id, [])


def absences_by_distribution(distribution_ids: list[int], producer_id: int | None = None,
                             ) -> dict[int, list[tuple[int, str, str]]]:
    """`absences_for` of several distributions (the producer's order desk) in two statements whatever their
    number: {distribution id: its notes, sorted by member}; a distribution without any is left out."""
    from marketplace.catalog.models import Product, ProductVariant
    from marketplace.contracts.models import SubscriptionLine

    if not distribution_ids:
        return {}
    query = (db.session.query(DeliveryChoice.distribution_id, DeliveryChoice.subscription_id, DeliveryChoice.absent,
                              DeliveryChoice.handover_to, Subscription.member_id, User.full_name)
             .join(Subscription, Subscription.id == DeliveryChoice.subscription_id)
             .join(User, User.id == Subscription.member_id)
             .filter(DeliveryChoice.distribution_id.in_(distribution_ids),
                     (DeliveryChoice.absent.is_(True)) | (DeliveryChoice.handover_to != "")))
    if producer_id is not None:
        query = query.filter(Subscription.id.in_(
            db.session.query(SubscriptionLine.subscription_id)
            .join(ProductVariant, ProductVariant.id == SubscriptionLine.variant_id)
            .join(Product, Product.id == ProductVariant.product_id).filter(Product.producer_id == producer_id)))
    owed = set(db.session.query(SubscriptionDelivery.distribution_id, SubscriptionDelivery.subscription_id).filter(
        SubscriptionDelivery.distribution_id.in_(distribution_ids),
        SubscriptionDelivery.outcome == DeliveryOutcome.ABSENT_OWED))
    rows: dict[int, set[tuple[int, str, str]]] = {}
    for distribution_id, subscription_id, absent, handover_to, member_id, member_name in query.all():
        collector = (_("nobody: absent, basket owed") if (distribution_id, subscription_id) in owed and absent
                     else handover_to)
        rows.setdefault(distribution_id, set()).add((member_id, member_name, collector))
    return {distribution_id: sorted(notes, key=lambda row: (row[1].lower(), row[0]))
            for distribution_id, notes in rows.items()}
