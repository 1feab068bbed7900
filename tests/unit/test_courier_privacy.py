"""A courier sees a buyer's name, street address, phone and note only once the run is theirs (issue 9, item 14)."""
from __future__ import annotations

from marketplace.catalog.models import Product
from marketplace.core.models import OutboundEmail
from marketplace.dispatch import services as dispatch
from marketplace.dispatch.models import Run, RunStatus
from marketplace.extensions import db
from marketplace.members.models import College
from marketplace.orders import services as orders
from marketplace.orders.states import Fulfilment
from tests.dispatch_fixtures import delivery_scene, make_ready
from tests.factories import login, make_member

BUYER = {"name": "Lucie Aubrac", "phone": "06 11 22 33 44"}
ADDRESS = {"delivery_address": "8 rue de la Paix", "delivery_postcode": "44100", "delivery_town": "Nantes"}
NOTE = "Door code 4512B, third floor"
FARM_PHONE = "02 40 12 34 56"
PERSONAL = (BUYER["name"], BUYER["phone"], ADDRESS["delivery_address"], NOTE, FARM_PHONE)


def _run_for_a_buyer(n_couriers: int) -> tuple[list, int]:
    distribution, couriers, _ = delivery_scene(n_orders=0, n_couriers=n_couriers)
    for product in db.session.query(Product).all():
        product.producer.user.phone = FARM_PHONE
    buyer = make_member("lucie@test.coop", College.BUYER, name=BUYER["name"], phone=BUYER["phone"])
    orders.choose_distribution(buyer, distribution.id)
    for product in db.session.query(Product).all():
        orders.add_to_cart(buyer, product.id, 1)
    order = orders.checkout(buyer, orders.CheckoutInput(fulfilment=Fulfilment.DELIVERY, note=NOTE,
                                                        delivery_slot_id=distribution.slots[0].id, **ADDRESS))
    make_ready(order)
    [run_id] = dispatch.plan_for_order(order.id)
    db.session.commit()
    return couriers, run_id


def _shown(client, courier, run_id: int) -> tuple[int, str]:
    client.post("/logout")
    login(client, courier)
    response = client.get(f"/courier/runs/{run_id}")
    return response.status_code, response.get_data(as_text=True) + client.get("/courier").get_data(as_text=True)


def _leaks(text: str) -> list[str]:
    return [value for value in PERSONAL if value in text]


def test_an_offered_run_shows_the_area_and_only_its_holder_sees_who_lives_there(client):
    couriers, run_id = _run_for_a_buyer(n_couriers=2)
    first = db.session.get(Run, run_id).offered_to
    second = next(c for c in couriers if c.id != first.id)

    status, page = _shown(client, first, run_id)
    assert status == 200 and _leaks(page) == []
    assert "Deliver in 44100 Nantes" in page and "shown once the run is yours" in page
    status, page = _shown(client, second, run_id)  # not offered to them: nothing at all
    assert status == 403 and _leaks(page) == []

    assert client.post("/logout") and login(client, first)
    assert client.post(f"/courier/runs/{run_id}/decline").status_code == 302
    db.session.expire_all()
    assert db.session.get(Run, run_id).offered_to_id == second.id
    status, page = _shown(client, first, run_id)  # declined: gone
    assert status == 403 and _leaks(page) == []
    status, page = _shown(client, second, run_id)
    assert status == 200 and _leaks(page) == []

    assert client.post(f"/courier/runs/{run_id}/accept").status_code == 302
    status, page = _shown(client, second, run_id)
    assert status == 200 and sorted(_leaks(page)) == sorted(PERSONAL)  # the run is theirs: everything
    assert f"Deliver to {BUYER['name']}" in page
    status, page = _shown(client, first, run_id)
    assert status == 403 and _leaks(page) == []
    # What the couriers were e-mailed (offers, hand-overs) names nobody either.
    mails = db.session.query(OutboundEmail).filter(OutboundEmail.recipient.in_([c.email for c in couriers])).all()
    assert mails and not [m.id for m in mails if _leaks(m.subject + m.body)]
    # The API is for producers' tools: a courier cannot get a token, so it shows them no order either.
    assert client.post("/account/api-tokens", data={"name": "my phone"}).status_code == 403


def test_an_open_run_shows_every_fitting_courier_the_area_only(client):
    [courier], run_id = _run_for_a_buyer(n_couriers=1)
    login(client, courier)
    assert client.post(f"/courier/runs/{run_id}/decline").status_code == 302
    db.session.expire_all()
    assert db.session.get(Run, run_id).status == RunStatus.OPEN
    status, page = _shown(client, courier, run_id)
    assert status == 200 and _leaks(page) == []
    assert "Take it" in page and "Deliver in 44100 Nantes" in page

