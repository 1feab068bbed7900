"""The product page: the usual price and stock outside a distribution; the offer's price and what is left once
the member's cart orders for a distribution (the page is cached per member: the cart's change shows)."""
from __future__ import annotations

import pytest

from marketplace.catalog.models import Unit
from marketplace.extensions import db
from marketplace.offers import services as offers
from marketplace.offers.services import OfferInput, VariantInput
from marketplace.orders import services as orders
from tests.factories import login, make_member
from tests.unit.test_offers import make_farm


@pytest.fixture
def farm(app):
    farm = make_farm()
    offers.set_offers(farm["producer"], farm["monday"].id, [OfferInput(farm["half"].id, 5, 250)])
    farm["buyer"] = make_member("ann@test.coop")
    db.session.commit()
    return farm


def _terms(page: str) -> str:
    start = page.find('data-testid="distribution-terms"')
    return page[start:page.find("</section>", start)] if start >= 0 else ""


def test_the_product_page_follows_the_distribution_the_cart_orders_for(farm, client):
    login(client, farm["buyer"])
    url = f"/products/{farm['tomatoes'].id}"
    page = client.get(url).get_data(as_text=True)  # no distribution chosen: usual price and stock
    assert "4.00" in page and "100 in stock" in page and not _terms(page)
    orders.choose_distribution(farm["buyer"], farm["monday"].id)
    db.session.commit()
    page = client.get(url).get_data(as_text=True)
    terms = _terms(page)
    assert "500 g" in terms and "2.50" in terms and "5 left" in terms and "4.00" not in terms
    assert "100 in stock" not in page
    assert (f'<input type="hidden" name="variant-{farm["half"].product_id}" form="add-to-cart" '
            f'value="{farm["half"].id}">') in page  # the one offered
    eggs = client.get(f"/products/{farm['eggs'].id}").get_data(as_text=True)
    assert "Not offered at the distribution you are ordering for." in eggs and "Add to cart" not in eggs
    orders.choose_distribution(farm["buyer"], farm["tuesday"].id)  # no offers there: usual prices, shared stock
    db.session.commit()
    terms = _terms(client.get(url).get_data(as_text=True))
    assert "4.00" in terms and "2.20" in terms and "100 left" in terms
