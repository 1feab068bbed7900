"""A distribution the coop cancels takes its orders with it: units back, card holds released, buyers told once."""
from __future__ import annotations

import pytest

from marketplace.catalog.models import Product
from marketplace.core.models import OutboundEmail
from marketplace.distributions.services import cancel_distribution
from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.orders.models import Order
from marketplace.orders.states import PartStatus
from marketplace.payments.models import CardPayment, CardPaymentStatus
from tests.admin_fixtures import complete_order, place_order
from tests.factories import get_admin, make_distribution, make_member, make_producer, make_product
from tests.payments_fixtures import fake_stripe, stripe_config  # noqa: F401
from tests.payments_harness import MoneyFlow


def _statuses(order_id: int) -> list[PartStatus]:
    return sorted((p.status for p in db.session.get(Order, order_id).parts), key=lambda s: s.value)


def test_cancelling_a_distribution_cancels_its_orders_returns_their_units_and_tells_each_buyer_once(app):
    ferme, chevre = make_producer("ferme@test.coop", "Ferme"), make_producer("chevre@test.coop", "Chèvrerie")
    carrots = make_product(ferme, "Carrots", price_cents=280, stock=20)
    cheese = make_product(chevre, "Goat cheese", price_cents=350, stock=20)
    cancelled, other = make_distribution([ferme, chevre]), make_distribution([ferme, chevre])
    marie, paul = make_member("marie@test.coop"), make_member("paul@test.coop")
    orders.choose_distribution(marie, cancelled.id)
    placed = place_order(marie, [(carrots, 3), (cheese, 2)])
    orders.accept_part(ferme, next(p for p in placed.parts if p.producer_id == ferme.producer_profile.id).id)
    orders.choose_distribution(paul, other.id)
    elsewhere = place_order(paul, [(carrots, 4)])
    early = make_member("early@test.coop")  # collected hers already: what was handed over stays as it was
    orders.choose_distribution(early, cancelled.id)
    collected = complete_order(place_order(early, [(cheese, 1)]), [chevre])
    db.session.commit()
    assert db.session.get(Product, carrots.id).stock == 20 - 3 - 4

    cancel_distribution(get_admin(), cancelled.id)
    db.session.commit()

    assert _statuses(placed.id) == [PartStatus.CANCELLED, PartStatus.CANCELLED]  # accepted or not
    assert _statuses(elsewhere.id) == [PartStatus.PLACED]  # another distribution's order is untouched
    assert _statuses(collected.id) == [PartStatus.COLLECTED]
    assert db.session.get(Product, carrots.id).stock == 20 - 4 and db.session.get(Product, cheese.id).stock == 20 - 1
    mails = db.session.query(OutboundEmail).filter(OutboundEmail.recipient == "marie@test.coop",
                                                   OutboundEmail.subject.contains("cancelled")).all()
    assert [m.subject for m in mails] == [f"Your order {placed.reference} is cancelled"]
    assert "cancelled the distribution" in mails[0].body
    assert not db.session.query(OutboundEmail).filter(OutboundEmail.recipient.in_(["paul@test.coop", "early@test.coop"]),
                                                      OutboundEmail.subject.contains("cancelled")).count()


@pytest.fixture
def app_config(fake_stripe):
    return stripe_config(fake_stripe)


def test_a_card_hold_on_a_cancelled_distribution_is_released_and_nothing_is_charged(app, fake_stripe, monkeypatch):
    flow = MoneyFlow(app, fake_stripe)
    flow.follow_stripes_clock(monkeypatch)
    coop = flow.coop()
    order_id = flow.place_order(coop, "buyer@test.coop", {0: 1, 1: 2})
    flow.pay(order_id)
    flow.settle()
    assert db.session.query(CardPayment).filter_by(order_id=order_id).one().status == CardPaymentStatus.AUTHORISED

    cancel_distribution(get_admin(), coop["distribution"].id)
    db.session.commit()
    flow.settle()

    payment = db.session.query(CardPayment).filter_by(order_id=order_id).one()
    assert payment.status == CardPaymentStatus.RELEASED
    [intent] = fake_stripe.objects_of("payment_intent")
    assert intent["status"] == "canceled" and intent["amount_received"] == 0
