"""Quantity 0 says the line was removed; the messages and the inputs' bounds agree (issue 16 item 6)."""
import lxml.html
import pytest

from marketplace.extensions import db
from marketplace.orders import services
from marketplace.orders.models import CartItem, OrderLine
from marketplace.orders.services import CheckoutInput
from tests.factories import login, make_distribution, make_member, make_producer, make_product
from tests.refusals import refused


@pytest.fixture
def shop(app):
    farm = make_producer("farm@test.coop", "Ferme du Marais")
    carrots = make_product(farm, "Carrots", price_cents=280)
    leeks = make_product(farm, "Leeks", price_cents=200)
    make_distribution([farm])
    buyer = make_member("marie@test.coop")
    services.add_to_cart(buyer, carrots.id, 2)
    services.add_to_cart(buyer, leeks.id, 1)
    db.session.commit()
    return dict(buyer=buyer, carrots=carrots, leeks=leeks)


def _flashes(client, url):
    doc = lxml.html.fromstring(client.get(url).get_data(as_text=True))
    return [e.text_content().strip() for e in doc.xpath("//main/div[contains(@class, 'flash-')]")]


@pytest.mark.parametrize("typed", ["0", "00"])
def test_quantity_zero_in_the_cart_says_the_line_was_removed(client, shop, typed):
    login(client, shop["buyer"])
    response = client.post("/cart/update", data={"product_id": shop["carrots"].id, "quantity": typed})
    assert response.status_code == 302
    assert _flashes(client, "/cart") == ["Carrots removed from your cart."]
    assert [i.product.name for i in db.session.query(CartItem).all()] == ["Leeks"]
    client.post("/cart/update", data={"product_id": shop["leeks"].id, "quantity": "3"})
    assert _flashes(client, "/cart") == ["Now 3 × Leeks."]


def test_zero_on_an_order_line_says_it_was_removed(client, shop):
    order = services.checkout(shop["buyer"], CheckoutInput())
    db.session.commit()
    line = next(line for line in order.parts[0].lines if line.product_name == "Carrots")
    login(client, shop["buyer"])
    client.post(f"/orders/{order.id}/lines/{line.id}", data={"quantity": "0"})
    assert _flashes(client, f"/orders/{order.id}") == ["Carrots removed from your order."]
    assert db.session.query(OrderLine).count() == 1


def test_the_inputs_bounds_are_those_in_the_refusal(client, shop):
    login(client, shop["buyer"])
    doc = lxml.html.fromstring(client.get("/cart").get_data(as_text=True))
    bounds = {(i.get("min"), i.get("max")) for i in doc.xpath("//input[@name='quantity']")}
    assert bounds == {("0", "999")}
    back, errors = refused(client, "/cart/update", {"product_id": shop["carrots"].id, "quantity": "1000"})
    assert errors == ["Enter a whole number of units from 0 (removes the line) to 999."]
    assert "0 removes the line" in doc.xpath("//*[@id='quantity-hint']")[0].text_content()
    products = lxml.html.fromstring(client.get("/products").get_data(as_text=True))
    assert {(i.get("min"), i.get("max")) for i in products.xpath("//input[starts-with(@name, 'quantity')]")} == {("1", "999")}
