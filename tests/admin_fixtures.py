"""A small running coop for the issue-6 tests: producers, a buyer, a courier, orders in several states."""
from __future__ import annotations

import pytest

from marketplace.extensions import db
from marketplace.members.models import College
from marketplace.orders import services as orders
from marketplace.orders.services import CheckoutInput
from tests.factories import get_admin, make_distribution, make_member, make_producer, make_product
from tests.snapshots import snapshot


def place_order(buyer, items, **checkout):
    for product, quantity in items:
        orders.add_to_cart(buyer, product.id, quantity)
    order = orders.checkout(buyer, CheckoutInput(**checkout))
    db.session.flush()
    return order


def complete_order(order, producers):
    """Accept, pack and hand over every part at the pickup (pay-at-pickup orders are then paid)."""
    by_profile = {p.producer_profile.id: p for p in producers}
    for part in order.parts:
        orders.accept_part(by_profile[part.producer_id], part.id)
        orders.mark_ready(by_profile[part.producer_id], part.id)
    orders.mark_collected(get_admin(), order.id)
    db.session.flush()
    return order


def build_coop() -> dict:
    admin = get_admin()
    ferme = make_producer("ferme@test.coop", "Ferme du Marais")
    chevre = make_producer("chevre@test.coop", "Chèvrerie")
    carrots = make_product(ferme, "Carrots", price_cents=280, stock=100)
    leeks = make_product(ferme, "Leeks", price_cents=250, stock=100)
    cheese = make_product(chevre, "Goat cheese", price_cents=350, stock=100)
    distribution = make_distribution([ferme, chevre])
    buyer = make_member("marie@test.coop", College.BUYER, name="Marie Curie", phone="0600000000",
                        address="3 rue Kervégan", postcode="44000", town="Nantes")
    other_buyer = make_member("paul@test.coop", College.BUYER, name="Paul Other")
    courier = make_member("coursier@test.coop", College.COURIER, name="Cora Courier")
    pending = make_member("pending@test.coop", College.BUYER, active=False, name="Pat Pending")
    done = complete_order(place_order(buyer, [(carrots, 2), (cheese, 1)]), [ferme, chevre])
    open_order = place_order(other_buyer, [(leeks, 3)])
    db.session.commit()
    return dict(admin=admin, ferme=ferme, chevre=chevre, carrots=carrots, leeks=leeks, cheese=cheese,
                distribution=distribution, buyer=buyer, other_buyer=other_buyer, courier=courier, pending=pending,
                done_order=done, open_order=open_order)


@pytest.fixture
def coop(app):
    return snapshot("coop", build_coop)


@pytest.fixture
def pg_coop(pg_app):
    return build_coop()
