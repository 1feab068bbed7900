"""A producer sets this week's offers by copying last week's, in Chromium; buyers then see only them."""
from __future__ import annotations

import pytest

from marketplace.catalog.models import DistributionOffer, Unit
from marketplace.extensions import db
from marketplace.offers import services as offers
from marketplace.offers.services import OfferInput, VariantInput
from tests.e2e.pages import log_in
from tests.factories import get_admin, make_distribution, make_member, make_producer, make_product

pytestmark = pytest.mark.browser


@pytest.fixture
def weeks(app):
    farm = make_producer("ferme@test.coop", "Ferme du Marais")
    tomatoes = make_product(farm, "Tomatoes", price_cents=400, stock=None, unit=Unit.KG)
    half = offers.add_variant(farm, tomatoes.id, VariantInput("500 g", Unit.PIECE, 220))
    leeks = make_product(farm, "Leeks", price_cents=250, stock=None)
    last_week = make_distribution([farm])
    this_week = make_distribution([farm], opens_in_hours=-1, cutoff_in_hours=24 * 7, pickup_in_hours=24 * 8)
    last_week.series_key = this_week.series_key = "thursdays"
    offers.set_offers(farm, last_week.id, [OfferInput(half.id, 7, 210), OfferInput(tomatoes.variants[0].id, None)])
    make_member("marie@test.coop")
    get_admin()
    db.session.commit()
    return {"farm": farm, "half": half, "tomatoes": tomatoes, "leeks": leeks, "this_week": this_week.id}


def test_producer_copies_last_weeks_offers_and_buyers_see_only_them(app, weeks, live_server, browser):
    page = browser.new_context(locale="en-GB").new_page()
    log_in(page, live_server, "ferme@test.coop")
    page.goto(f"{live_server}/producer/products")
    page.click("a:has-text('What I bring to each distribution')")
    page.click(f"[data-testid=distribution-{weeks['this_week']}] a:has-text('What I bring')")
    assert page.locator("[data-testid=offers-default]").is_visible()  # nothing said yet for this week

    page.click("[data-testid=copy-offers]")
    assert "copied" in page.inner_text("main")
    half = weeks["half"].id
    row = page.locator(f"[data-testid=offer-row-{half}]")
    assert row.locator("input[type=checkbox]").is_checked()
    assert row.locator(f"input[name=quantity-{half}]").input_value() == "7"
    assert row.locator(f"input[name=price-{half}]").input_value() == "2.10"
    assert not page.locator(f"[data-testid=offer-row-{weeks['leeks'].variants[0].id}] input[type=checkbox]").is_checked()
    row.locator(f"input[name=quantity-{half}]").fill("9")  # a better harvest this week
    page.click("[data-testid=save-offers]")
    assert "offers for this distribution are saved" in page.inner_text("main")

    db.session.expire_all()
    saved = {(o.variant_id, o.quantity, o.price_cents)
             for o in db.session.query(DistributionOffer).filter_by(distribution_id=weeks["this_week"])}
    assert saved == {(half, 9, 210), (weeks["tomatoes"].variants[0].id, None, None)}

    buyer = browser.new_context(locale="en-GB").new_page()
    log_in(buyer, live_server, "marie@test.coop")
    buyer.goto(f"{live_server}/products?distribution={weeks['this_week']}")
    assert "Leeks" not in buyer.inner_text("main")
    card = buyer.locator("article.product", has_text="Tomatoes")
    card.locator("[data-testid=variant-select]").select_option(str(half))
    card.locator("input[type=number]").fill("2")
    card.locator("button:has-text('Add')").click()
    assert "Added to your cart" in buyer.inner_text("main")
    buyer.goto(f"{live_server}/cart")
    assert "500 g" in buyer.inner_text("main") and buyer.inner_text("[data-testid=cart-total]") == "€4.20"
    # Added from this week's catalogue: the cart orders for this week.
    assert buyer.locator("select[name=distribution_id]").input_value() == str(weeks["this_week"])
