"""30 buyers race for the last 5 units on the real PostgreSQL, each on its own connection."""
import threading

import pytest

from marketplace.catalog.models import Product
from marketplace.core.errors import Conflict
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.orders import services
from marketplace.orders.models import Order, OrderLine
from marketplace.orders.services import CheckoutInput, OutOfStock
from tests.factories import make_distribution, make_member, make_producer, make_product

pytestmark = pytest.mark.integration

BUYERS = 30


@pytest.fixture
def app_config():
    # One connection per buyer, so all 30 really are in flight at once.
    return {"SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": BUYERS + 5, "max_overflow": 0, "pool_timeout": 60}}


def _race(pg_app, user_ids: list[int], attempt, refusal: type[Exception], success: str) -> dict[int, str]:
    """Run `attempt(user)` for every user at once, each on its own connection: `success` or the refusal."""
    barrier = threading.Barrier(len(user_ids))
    outcomes: dict[int, str] = {}

    def run(user_id: int) -> None:
        with pg_app.app_context():  # its own session, its own connection
            user = db.session.get(User, user_id)
            barrier.wait()
            try:
                attempt(user)
                db.session.commit()
                outcomes[user_id] = success
            except refusal as exc:
                db.session.rollback()
                outcomes[user_id] = exc.message
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(uid,)) for uid in user_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return outcomes


def _home_delivery(slot_id: int) -> CheckoutInput:
    from marketplace.orders.states import Fulfilment

    return CheckoutInput(fulfilment=Fulfilment.DELIVERY, delivery_address="3 rue Crébillon",
                         delivery_postcode="44000", delivery_town="Nantes", delivery_slot_id=slot_id)


def test_thirty_concurrent_checkouts_sell_exactly_the_last_five(pg_app):
    producer = make_producer("ferme@test.coop", "Ferme")
    last_units = make_product(producer, "Asparagus", price_cents=650, stock=5)
    plenty = make_product(producer, "Potatoes", price_cents=240, stock=1000)
    make_distribution([producer])
    buyer_ids = []
    for n in range(BUYERS):
        buyer = make_member(f"buyer{n}@test.coop")
        services.add_to_cart(buyer, plenty.id, 2)
        services.add_to_cart(buyer, last_units.id, 1)
        buyer_ids.append(buyer.id)
    db.session.commit()
    product_ids = (last_units.id, plenty.id)
    db.session.remove()

    outcomes = _race(pg_app, buyer_ids, lambda user: services.checkout(user, CheckoutInput()), OutOfStock, "sold")

    assert len(outcomes) == BUYERS
    sold = [uid for uid, outcome in outcomes.items() if outcome == "sold"]
    refused = [outcome for outcome in outcomes.values() if outcome != "sold"]
    assert len(sold) == 5
    assert len(refused) == 25 and all("Out of stock" in message for message in refused)
    asparagus, potatoes = (db.session.get(Product, pid) for pid in product_ids)
    assert asparagus.stock == 0
    # Losers' carts and the potatoes they also wanted are untouched; only winners took potatoes.
    assert potatoes.stock == 1000 - 2 * 5
    assert db.session.query(Order).count() == 5
    assert db.session.query(OrderLine).filter_by(product_id=product_ids[0]).count() == 5
    for uid in set(buyer_ids) - set(sold):
        assert len(services.get_cart(db.session.get(User, uid)).items) == 2


SLOT_CAPACITY = 4


def test_thirty_buyers_racing_for_a_delivery_slot_of_four_get_exactly_four_places(pg_app):
    """Capacity was a count without a lock: a capacity-1 slot took 2 orders. The slot's row lock serialises it."""
    from marketplace.distributions.models import DeliverySlot
    from tests.dispatch_fixtures import delivery_day

    producer = make_producer("ferme@test.coop", "Ferme")
    plenty = make_product(producer, "Potatoes", price_cents=240, stock=1000)
    distribution = delivery_day([producer])
    slot, other_slot = distribution.slots
    slot.capacity = SLOT_CAPACITY
    buyer_ids = []
    for n in range(BUYERS):
        buyer = make_member(f"buyer{n}@test.coop")
        services.choose_distribution(buyer, distribution.id)
        services.add_to_cart(buyer, plenty.id, 1)
        buyer_ids.append(buyer.id)
    db.session.commit()
    slot_id, other_slot_id, plenty_id = slot.id, other_slot.id, plenty.id
    db.session.remove()

    outcomes = _race(pg_app, buyer_ids, lambda user: services.checkout(user, _home_delivery(slot_id)),
                     Conflict, "booked")

    assert len(outcomes) == BUYERS
    booked = [uid for uid, outcome in outcomes.items() if outcome == "booked"]
    refused = [outcome for outcome in outcomes.values() if outcome != "booked"]
    assert len(booked) == SLOT_CAPACITY
    assert len(refused) == BUYERS - SLOT_CAPACITY and all("slot is full" in m for m in refused)
    assert db.session.query(Order).filter_by(delivery_slot_id=slot_id).count() == SLOT_CAPACITY
    assert db.session.get(Product, plenty_id).stock == 1000 - SLOT_CAPACITY  # refused checkouts took nothing
    # A refused buyer still has their cart and can take the other slot.
    loser = db.session.get(User, next(uid for uid in buyer_ids if uid not in booked))
    order = services.checkout(loser, _home_delivery(other_slot_id))
    db.session.commit()
    assert db.session.get(DeliverySlot, other_slot_id).id == order.delivery_slot_id
