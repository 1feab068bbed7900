"""30 buyers (and an order-making task) race for the last units of an offer on two overlapping
distributions, on the real PostgreSQL, each on its own connection: never oversold, anywhere."""
import pytest
from sqlalchemy import func

from marketplace.catalog.models import DistributionOffer, Product, Unit
from marketplace.extensions import db
from marketplace.offers import services as offers
from marketplace.offers.services import OfferInput, VariantInput
from marketplace.orders import services
from marketplace.orders.models import Order, OrderLine, OrderPart
from marketplace.orders.services import CheckoutInput, OutOfStock
from marketplace.orders.services.stock import try_reserve_variant
from marketplace.orders.states import LineStatus
from tests.factories import make_distribution, make_member, make_producer, make_product
from tests.integration.test_checkout_race import BUYERS, _race

pytestmark = pytest.mark.integration
OFFERED = {"monday": 3, "tuesday": 4}


@pytest.fixture
def app_config():
    # One connection per buyer, so all 30 really are in flight at once.
    return {"SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": BUYERS + 5, "max_overflow": 0, "pool_timeout": 60}}


class NotServed(Exception):
    message = "not served"


def test_two_overlapping_distributions_never_oversell_their_offers(pg_app):
    producer = make_producer("ferme@test.coop", "Ferme")
    asparagus = make_product(producer, "Asparagus", price_cents=1200, stock=1000, unit=Unit.KG)
    bunch = offers.add_variant(producer, asparagus.id, VariantInput("500 g", Unit.PIECE, 650))
    potatoes = make_product(producer, "Potatoes", price_cents=240, stock=None)
    days = {"monday": make_distribution([producer]), "tuesday": make_distribution([producer], pickup_in_hours=60)}
    for name, distribution in days.items():
        offers.set_offers(producer, distribution.id, [OfferInput(bunch.id, OFFERED[name]),
                                                      OfferInput(potatoes.variants[0].id, None)])
    people = {}
    for n in range(BUYERS):
        day = "monday" if n % 2 else "tuesday"
        buyer = make_member(f"buyer{n}@test.coop")
        if n < BUYERS - 6:  # a buyer at the checkout
            services.choose_distribution(buyer, days[day].id)
            services.add_to_cart(buyer, potatoes.id, 2)
            services.add_to_cart(buyer, asparagus.id, 1, bunch.id)
        people[buyer.id] = (day, n < BUYERS - 6)
    db.session.commit()
    ids = {name: d.id for name, d in days.items()}
    bunch_id, asparagus_id = bunch.id, asparagus.id
    db.session.remove()

    def attempt(user):
        day, shopping = people[user.id]
        if shopping:
            services.checkout(user, CheckoutInput())
        elif try_reserve_variant(ids[day], bunch_id, 1) is None:  # the order-making task's way
            raise NotServed()

    outcomes = _race(pg_app, list(people), attempt, (OutOfStock, NotServed), "served")

    assert len(outcomes) == BUYERS
    for name, distribution_id in ids.items():
        offer = db.session.query(DistributionOffer).filter_by(distribution_id=distribution_id,
                                                              variant_id=bunch_id).one()
        served = [uid for uid, outcome in outcomes.items() if outcome == "served" and people[uid][0] == name]
        ordered = db.session.query(func.coalesce(func.sum(OrderLine.quantity), 0)).join(OrderPart).join(Order).filter(
            Order.distribution_id == distribution_id, OrderLine.variant_id == bunch_id,
            OrderLine.status == LineStatus.ACTIVE).scalar()
        by_task = len([uid for uid in served if not people[uid][1]])
        assert offer.reserved == OFFERED[name] == len(served)  # every unit sold, none twice
        assert ordered + by_task == offer.reserved
        assert db.session.query(OrderLine).filter_by(offer_id=offer.id).count() == ordered
    refused = [outcome for outcome in outcomes.values() if outcome != "served"]
    assert refused and all("Out of stock" in m or m == "not served" for m in refused)
    assert db.session.get(Product, asparagus_id).stock == 1000  # offers never touch the product's own stock


def test_without_offers_two_distributions_share_the_products_stock(pg_app):
    producer = make_producer("ferme@test.coop", "Ferme")
    last = make_product(producer, "Asparagus", price_cents=650, stock=5)
    monday, tuesday = make_distribution([producer]), make_distribution([producer], pickup_in_hours=60)
    buyer_ids = []
    for n in range(BUYERS):
        buyer = make_member(f"buyer{n}@test.coop")
        services.choose_distribution(buyer, (monday if n % 2 else tuesday).id)
        services.add_to_cart(buyer, last.id, 1)
        buyer_ids.append(buyer.id)
    db.session.commit()
    last_id = last.id
    db.session.remove()

    outcomes = _race(pg_app, buyer_ids, lambda user: services.checkout(user, CheckoutInput()), OutOfStock, "sold")

    assert list(outcomes.values()).count("sold") == 5
    assert db.session.get(Product, last_id).stock == 0
    assert db.session.query(func.sum(OrderLine.quantity)).filter_by(product_id=last_id).scalar() == 5
