"""Every amount before placing (issue 16 item 4): one function for the review page, checkout and the order."""
import pytest

from marketplace.extensions import db
from marketplace.members.models import College
from marketplace.orders import services
from marketplace.orders.services import AmountsChanged, CheckoutInput
from marketplace.orders.states import Fulfilment, PaymentStatus
from tests.factories import login, make_distribution, make_member, make_producer, make_product


@pytest.fixture
def shop(app):
    ferme = make_producer("ferme@test.coop", "Ferme du Marais")
    chevre = make_producer("chevre@test.coop", "Chèvrerie")
    carrots = make_product(ferme, "Carrots", price_cents=280, stock=10)
    squash = make_product(ferme, "Squash", price_cents=320, stock=20, weight_priced_g=1200)  # €3.20/kg, ~1.2 kg
    cheese = make_product(chevre, "Goat cheese", price_cents=350, stock=5)
    distribution = make_distribution([ferme, chevre], home_delivery=True, slots=1)
    buyer = make_member("marie@test.coop", College.BUYER, address="3 rue Kervégan", postcode="44000")
    for product, quantity in ((carrots, 2), (squash, 1), (cheese, 1)):
        services.add_to_cart(buyer, product.id, quantity)
    db.session.commit()
    return dict(buyer=buyer, distribution=distribution)


def _delivery(shop, **kwargs):
    return CheckoutInput(fulfilment=Fulfilment.DELIVERY, delivery_address="3 rue", delivery_postcode="44000",
                         delivery_slot_id=shop["distribution"].slots[0].id, **kwargs)


def test_summary_names_goods_per_producer_the_fee_for_the_postcode_and_the_weighing_margin(shop):
    cart = services.get_cart(shop["buyer"])
    summary = services.checkout_summary(cart, shop["distribution"], _delivery(shop))
    assert [(p.producer_name, p.goods_cents, p.margin_cents) for p in summary.producers] == [
        ("Chèvrerie", 350, 0), ("Ferme du Marais", 560 + 384, 77)]   # 1.2 kg x €3.20; +20 % = 1.44 kg = €4.61
    assert summary.delivery_fee_cents == 450 and summary.delivery_zone.name == "Centre"
    assert summary.total_cents == 350 + 944 + 450 and summary.most_cents == summary.total_cents + 77
    pickup = services.checkout_summary(cart, shop["distribution"], CheckoutInput())
    assert pickup.delivery_fee_cents == 0 and pickup.total_cents == 1294


def test_the_order_placed_has_the_total_reviewed_and_the_order_page_shows_the_same_amounts(shop):
    cart = services.get_cart(shop["buyer"])
    reviewed = services.checkout_summary(cart, shop["distribution"], _delivery(shop))
    order = services.checkout(shop["buyer"], _delivery(shop, expected_total_cents=reviewed.total_cents))
    db.session.commit()
    assert order.total_due_cents == reviewed.total_cents == 1744
    assert services.order_summary(order) == services.CheckoutSummary(
        reviewed.producers, 450, reviewed.delivery_zone, order.delivery_slot, reviewed.payment_method)


def test_checkout_refuses_a_total_the_buyer_did_not_see(shop):
    with pytest.raises(AmountsChanged):
        # Reviewed for pickup (€12.94), then switched to delivery without looking again.
        services.checkout(shop["buyer"], _delivery(shop, expected_total_cents=1294))
    db.session.rollback()
    assert services.get_cart(shop["buyer"]).items


def test_review_page_then_order_page_show_the_same_total(shop, client):
    login(client, shop["buyer"])
    page = client.get("/checkout").get_data(as_text=True)
    assert "€12.94" in page and 'name="expected_total_cents" type="hidden" value="1294"' in page
    slot = shop["distribution"].slots[0].id
    form = {"fulfilment": "delivery", "payment_method": "pay_at_pickup", "delivery_address": "3 rue",
            "delivery_postcode": "44000", "delivery_slot_id": str(slot), "expected_total_cents": "1294"}
    changed = client.post("/checkout", data=form)
    # The choices changed the total: nothing placed, the new amounts shown.
    assert changed.status_code == 409 and "€17.44" in changed.get_data(as_text=True)
    assert "Home delivery (Centre)" in changed.get_data(as_text=True)
    placed = client.post("/checkout", data={**form, "expected_total_cents": "1744"})
    assert placed.status_code == 302
    [order] = db.session.query(services.Order).all()
    assert order.total_due_cents == 1744 and order.payment_status == PaymentStatus.DUE
    shown = client.get(placed.headers["Location"]).get_data(as_text=True)
    assert "Goods from Ferme du Marais" in shown and "€0.77" in shown and "€17.44" in shown
