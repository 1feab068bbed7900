"""The real contract task (run twice at once per series) and 24 buyers at the checkout race for the last units
of the offers of two overlapping distributions, on PostgreSQL, each on its own connection: never oversold,
and every subscriber has exactly one order per distribution (an unserved line says so)."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func

from marketplace.catalog.models import DistributionOffer, Unit
from marketplace.contracts import services as contracts
from marketplace.contracts.models import PaymentMeans
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.offers import services as offers
from marketplace.offers.services import OfferInput, VariantInput
from marketplace.orders import services
from marketplace.orders.models import Order, OrderLine, OrderPart
from marketplace.orders.services import CheckoutInput, OutOfStock
from marketplace.orders.states import LineStatus
from tests.contracts_fixtures import make_contract, make_season
from tests.factories import make_member, make_producer, make_product

pytestmark = pytest.mark.integration

BUYERS, SUBSCRIBERS = 24, 4  # subscribers per series
OFFERED = {"a": 5, "b": 6}


@pytest.fixture
def app_config():
    return {"SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": BUYERS + 10, "max_overflow": 0, "pool_timeout": 60}}


def test_the_contract_task_and_buyers_never_oversell_two_overlapping_distributions(pg_app):
    producer = make_producer("ferme@test.coop", "Ferme")
    asparagus = make_product(producer, "Asparagus", price_cents=1200, stock=1000, unit=Unit.KG)
    bunch = offers.add_variant(producer, asparagus.id, VariantInput("500 g", Unit.PIECE, 650))
    seasons = {"a": make_season([producer], weeks=2), "b": make_season([producer], weeks=2, pickup_in_hours=50)}
    first = {name: season[0] for name, season in seasons.items()}
    for name, distribution in first.items():
        offers.set_offers(producer, distribution.id, [OfferInput(bunch.id, OFFERED[name])])
    subscribers: dict[str, list[int]] = {}
    for name, season in seasons.items():
        contract = make_contract(producer, season, [(bunch.id, 1)])
        subscribers[name] = []
        for n in range(SUBSCRIBERS):
            member = make_member(f"sub-{name}{n}@test.coop")
            contracts.subscribe(member, contract.id, accepted_version=1, means=PaymentMeans.CHEQUE)
            subscribers[name].append(member.id)
    buyers = []
    for n in range(BUYERS):
        buyer = make_member(f"buyer{n}@test.coop")
        services.choose_distribution(buyer, first["a" if n % 2 else "b"].id)
        services.add_to_cart(buyer, asparagus.id, 1, bunch.id)
        buyers.append(buyer.id)
    db.session.commit()
    ids = {name: d.id for name, d in first.items()}
    bunch_id = bunch.id
    db.session.remove()

    barrier = threading.Barrier(BUYERS + 4)
    errors: list[BaseException] = []

    def checkout(user_id: int) -> None:
        with pg_app.app_context():
            barrier.wait()
            try:
                services.checkout(db.session.get(User, user_id), CheckoutInput())
                db.session.commit()
            except OutOfStock:
                db.session.rollback()
            finally:
                db.session.remove()

    def task(distribution_id: int) -> None:
        with pg_app.app_context():
            barrier.wait()
            try:
                contracts.create_subscription_orders(distribution_id, after_each=db.session.commit)
                db.session.commit()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=checkout, args=(uid,)) for uid in buyers]
    threads += [threading.Thread(target=task, args=(ids[name],)) for name in ("a", "b", "a", "b")]  # twice each
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors

    for name, distribution_id in ids.items():
        offer = db.session.query(DistributionOffer).filter_by(distribution_id=distribution_id,
                                                              variant_id=bunch_id).one()
        active = db.session.query(func.coalesce(func.sum(OrderLine.quantity), 0)).join(OrderPart).join(Order).filter(
            Order.distribution_id == distribution_id, OrderLine.variant_id == bunch_id,
            OrderLine.status == LineStatus.ACTIVE).scalar()
        assert offer.reserved == active == OFFERED[name]  # every unit sold once, none oversold
        for member_id in subscribers[name]:
            [order] = db.session.query(Order).filter_by(buyer_id=member_id, distribution_id=distribution_id).all()
            [line] = [line for part in order.parts for line in part.lines]
            assert line.status == LineStatus.ACTIVE or line.rejection_reason == "sold_out"
