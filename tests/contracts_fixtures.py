"""Builders for contract tests: a weekly season of distributions, a vegetable-basket contract, offers."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from marketplace.catalog.models import DistributionOffer
from marketplace.contracts import services
from marketplace.contracts.models import PaymentMeans
from marketplace.distributions.models import Distribution
from marketplace.distributions.models import distribution_producers as link
from marketplace.distributions.services import DistributionInput, create_pickup_place, schedule_distribution
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.timeutil import utcnow
from tests.factories import get_admin

CONTRACT_TEXT = "The member commits to one basket a week for the season and pays in instalments."


def make_season(producers: list[User], weeks: int = 4, *, opens_in_hours: float = -24, cutoff_in_hours: float = 24,
                pickup_in_hours: float = 48) -> list[Distribution]:
    """A weekly series: the first distribution's window is open (by default), the next ones open week by week."""
    admin = get_admin()
    now = utcnow()
    place = create_pickup_place(admin, name="AMAP du Marais", address="Rue Talensac", postcode="44000", town="Nantes")
    start = now + timedelta(hours=pickup_in_hours)
    return schedule_distribution(admin, DistributionInput(
        pickup_place_id=place.id, starts_at=start, ends_at=start + timedelta(hours=2),
        opens_at=now + timedelta(hours=opens_in_hours), cutoff_at=now + timedelta(hours=cutoff_in_hours),
        producer_ids=tuple(p.producer_profile.id for p in producers), repeat_weeks=weeks))


def make_contract(by: User, season: list[Distribution], items: list[tuple[int, int]], *, price_cents: int = 1800,
                  instalments: int = 3, allowed_absences: int = 2, changeable: bool = False,
                  means: tuple[PaymentMeans, ...] = (PaymentMeans.CHEQUE, PaymentMeans.ACCOUNT)):
    return services.create_contract(by, services.ContractInput(
        title="Panier de légumes", series_key=season[0].series_key, price_per_delivery_cents=price_cents,
        items=tuple(items), instalments=instalments, payment_means=means, allowed_absences=allowed_absences,
        quantities_changeable=changeable, content="Seasonal vegetables", text=CONTRACT_TEXT))


def offer(distribution: Distribution, producer: User, variant_id: int, quantity: int | None) -> DistributionOffer:
    """The producer brings `quantity` of the variant to this distribution (offer mode from now on)."""
    db.session.execute(update(link).where(link.c.distribution_id == distribution.id,
                                          link.c.producer_id == producer.producer_profile.id)
                       .values(offers_set_at=utcnow()))
    row = DistributionOffer(distribution_id=distribution.id, variant_id=variant_id, quantity=quantity)
    db.session.add(row)
    db.session.flush()
    return row
