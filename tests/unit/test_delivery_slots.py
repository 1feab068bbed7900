"""A delivery slot's capacity counts live orders: full is refused, a cancelled order frees its place."""
from marketplace.core.errors import Conflict
from marketplace.extensions import db
from marketplace.orders import services
from marketplace.orders.services import CheckoutInput
from marketplace.orders.states import Fulfilment
from tests.dispatch_fixtures import delivery_day
from tests.factories import make_member, make_producer, make_product


def _checkout(buyer, product, slot_id):
    services.add_to_cart(buyer, product.id, 1)
    return services.checkout(buyer, CheckoutInput(
        fulfilment=Fulfilment.DELIVERY, delivery_address="3 rue Crébillon", delivery_postcode="44000",
        delivery_town="Nantes", delivery_slot_id=slot_id))


def test_a_full_slot_refuses_and_a_cancelled_order_gives_its_place_back(app):
    producer = make_producer("ferme@test.coop", "Ferme")
    carrots = make_product(producer, "Carrots", stock=100)
    distribution = delivery_day([producer])
    slot = distribution.slots[0]
    slot.capacity = 1
    first, second = make_member("a@test.coop"), make_member("b@test.coop")
    order = _checkout(first, carrots, slot.id)
    db.session.commit()
    try:
        _checkout(second, carrots, slot.id)
        raise AssertionError("a full slot took a second order")
    except Conflict as exc:
        db.session.rollback()
        assert "slot is full" in exc.message
    services.cancel_order(first, order.id)
    db.session.commit()
    assert _checkout(second, carrots, slot.id).delivery_slot_id == slot.id
