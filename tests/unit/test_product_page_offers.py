"""The product page: the usual price and stock outside a distribution; the offer's price and what is left once
the member's cart orders for a distribution (the page is cached per member: the cart's change shows)."""
from __future__ import annotations

import pytest

from marketplace.catalog.models import Unit
from marketplace.extensions import db
from marketplace.offers import services as offers
from marketplace.offers.services import OfferInput, VariantInput
from marketplace.orders import services as orders
from tests.factories import login, make_distribution, make_member, make_producer, make_product


@pytest.fixture
def farm(app):
    producer = make_producer("farm@test.coop", "Ferme du Marais")
    tomatoes = make_product(producer, "Tomatoes", price_cents=400, stock=100, unit=Unit.KG)
    half = offers.add_variant(producer, tomatoes.id, VariantInput("500 g", Unit.PIECE, 220))
    eggs = make_product(producer, "Eggs", price_cents=300, stock=None)
    monday = make_distribution([producer])
    tuesday = make_distribution([producer], pickup_in_hours=60)
    offers.set_offers(producer, monday.id, [OfferInput(half.id, 5, 250)])
    buyer = make_member("ann@test.coop")
    db.session.commit()
    return dict(producer=producer, tomatoes=tomatoes, half=half, eggs=eggs, monday=monday, tuesday=tuesday,
                buyer=buyer)


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
