"""The shop's main journeys in Chromium: join, get approved, order from two producers; a producer's day."""
from __future__ import annotations

import re

import pytest
from PIL import Image

from marketplace.catalog.models import Product
from marketplace.core.models import OutboundEmail
from marketplace.extensions import db
from marketplace.members.models import Membership, MembershipStatus
from marketplace.orders.models import Order
from tests.e2e.pages import log_in
from tests.factories import category, get_admin, make_distribution, make_member, make_producer, make_product

pytestmark = pytest.mark.browser


@pytest.fixture
def market(app):
    ferme = make_producer("ferme@test.coop", "Ferme du Marais")
    chevre = make_producer("chevre@test.coop", "Chèvrerie des Landes")
    make_product(ferme, "Carrots", price_cents=280, stock=10)
    make_product(chevre, "Goat cheese", price_cents=350, stock=5)
    make_distribution([ferme, chevre])
    get_admin()
    category()
    db.session.commit()
    return {"ferme": ferme, "chevre": chevre}


def test_buyer_joins_is_approved_orders_from_two_producers(app, market, live_server, browser):
    buyer_page = browser.new_context(locale="en-GB").new_page()
    buyer_page.goto(f"{live_server}/signup")
    buyer_page.fill("input[name=full_name]", "Marie Dupont")
    buyer_page.fill("input[name=email]", "marie@test.coop")
    buyer_page.fill("input[name=password]", "a good long password")
    buyer_page.click("main form button[type=submit]")
    assert "Check your mailbox" in buyer_page.inner_text("main")
    # The account is usable once the address is confirmed: follow the e-mailed link, enter the password.
    mail = db.session.query(OutboundEmail).filter_by(recipient="marie@test.coop").one()
    buyer_page.goto(re.search(r"http://\S+/confirm/\S+", mail.body).group(0))
    buyer_page.fill("input[name=password]", "a good long password")
    buyer_page.click("main form button[type=submit]")
    buyer_page.select_option("select[name=college]", "buyer")
    buyer_page.click("main form button[type=submit]")
    assert "awaiting approval" in buyer_page.inner_text("[data-testid=membership-blocked]")

    admin_page = browser.new_context(locale="en-GB").new_page()
    log_in(admin_page, live_server, "admin@test.coop")
    admin_page.goto(f"{live_server}/admin/members?status=pending")
    admin_page.click("[data-testid='member-marie@test.coop'] button:has-text('Approve')")
    assert "Membership approved" in admin_page.inner_text("main")

    buyer_page.goto(f"{live_server}/me")
    assert buyer_page.inner_text("[data-testid=membership-status]") == "active"
    buyer_page.goto(f"{live_server}/products")
    for name, quantity in (("Carrots", "3"), ("Goat cheese", "2")):
        card = buyer_page.locator("article.product", has_text=name)
        card.locator("input[type=number]").fill(quantity)  # named quantity-<id>: the cards share one form
        card.locator("button:has-text('Add')").click()
        assert "Added to your cart" in buyer_page.inner_text("main")
    buyer_page.goto(f"{live_server}/cart")
    groups = buyer_page.locator("[data-testid=producer-group]")
    assert groups.count() == 2
    assert buyer_page.inner_text("[data-testid=cart-total]") == "€15.40"
    buyer_page.click("a:has-text('Checkout')")
    buyer_page.check("input[value=pickup]")
    buyer_page.click("main form button[type=submit]")
    assert "Your order is placed" in buyer_page.inner_text("main")
    assert buyer_page.locator("[data-testid=order-part]").count() == 2
    assert buyer_page.inner_text("[data-testid=order-total]") == "€15.40"

    db.session.expire_all()
    order = db.session.query(Order).one()
    assert order.buyer.email == "marie@test.coop" and len(order.parts) == 2
    assert db.session.get(Membership, order.buyer.membership.id).status == MembershipStatus.ACTIVE
    assert db.session.query(Product).filter_by(name="Goat cheese").one().stock == 3


def test_producer_adds_a_product_with_photo_and_marks_an_order_ready(app, market, live_server, browser, tmp_path):
    # A buyer has ordered from the Chèvrerie already.
    from marketplace.orders import services
    from marketplace.orders.services import CheckoutInput

    buyer = make_member("paul@test.coop")
    cheese = db.session.query(Product).filter_by(name="Goat cheese").one()
    services.add_to_cart(buyer, cheese.id, 1)
    order = services.checkout(buyer, CheckoutInput())
    db.session.commit()
    part_id = order.parts[0].id

    photo = tmp_path / "tomme.png"
    Image.new("RGB", (800, 600), "#d9c27a").save(photo)
    page = browser.new_context(locale="en-GB").new_page()
    log_in(page, live_server, "chevre@test.coop")
    page.goto(f"{live_server}/producer/products/new")
    page.fill("input[name=name]", "Goat tomme")
    page.fill("input[name=price]", "26.00")
    page.select_option("select[name=unit]", "kg")
    page.check("input[name=is_weight_priced]")
    page.fill("input[name=estimated_weight_g]", "400")
    page.fill("input[name=stock]", "12")
    page.set_input_files("input[name=photo]", str(photo))
    page.click("main form button[type=submit]")
    assert "Product added" in page.inner_text("main")
    assert page.locator("tr", has_text="Goat tomme").locator("img.thumb").count() == 1

    page.goto(f"{live_server}/producer/orders")
    part = page.locator(f"[data-testid=part-{part_id}]")
    part.locator("button:has-text('Accept')").click()
    page.locator(f"[data-testid=part-{part_id}] button:has-text('Mark ready')").click()
    assert "Marked ready" in page.inner_text("main")

    db.session.expire_all()
    tomme = db.session.query(Product).filter_by(name="Goat tomme").one()
    assert tomme.photo_filename and tomme.is_weight_priced and tomme.estimated_weight_g == 400
    assert db.session.get(Order, order.id).status == "ready"


def test_french_ui_renders(app, market, live_server, browser):
    page = browser.new_context(locale="fr-FR").new_page()
    page.goto(f"{live_server}/products")
    assert page.locator("html").get_attribute("lang") == "fr"
    nav = page.inner_text("header")
    assert "Produits" in nav and "Se connecter" in nav
    assert "2,80\u00a0€" in page.inner_text("main")  # money formatted the French way
    page.click("button[lang=en]")  # a form posting the choice (no state change on GET)
    assert "Products" in page.inner_text("header")
    assert page.url.startswith(f"{live_server}/products")


def test_the_strict_csp_still_lets_the_coops_own_styles_apply(app, market, live_server, browser):
    from marketplace.core.services import set_setting

    set_setting("colour_primary", "#123456")
    db.session.commit()
    page = browser.new_page()
    refused = []
    page.on("console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text
            else None)
    page.goto(f"{live_server}/products")
    header = page.locator("header.site-header")
    assert header.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(18, 52, 86)"  # theme.css
    assert header.evaluate("e => getComputedStyle(e).display") == "flex"  # style.css
    assert not refused


def test_the_total_shown_before_placing_is_the_orders_total(app, live_server, browser):
    """Issue 16 item 4: delivery fee for the buyer's postcode, weighing margin and total before placing."""
    from marketplace.orders import services

    farm = make_producer("farm@test.coop", "Ferme du Marais")
    squash = make_product(farm, "Squash", price_cents=320, stock=20, weight_priced_g=1200)
    make_distribution([farm], home_delivery=True, slots=1)
    buyer = make_member("marie@test.coop", address="3 rue Kervégan", postcode="44000")
    services.add_to_cart(buyer, squash.id, 2)
    db.session.commit()
    page = browser.new_context(locale="en-GB").new_page()
    log_in(page, live_server, "marie@test.coop")
    page.goto(f"{live_server}/checkout")
    page.check("input[value=delivery]")
    page.select_option("select[name=delivery_slot_id]", index=1)
    page.click("input[name=review]")
    assert "Home delivery (Centre)" in page.inner_text("[data-testid=amounts]")
    assert page.locator("[data-testid=amount-margin]").count() == 1
    shown = page.inner_text("[data-testid=summary-total]")
    assert shown == "€12.18"   # 2.4 kg x €3.20 + €4.50
    page.click("button:has-text('Place my order')")
    assert "Your order is placed" in page.inner_text("main")
    assert page.inner_text("[data-testid=order-total]") == shown == page.inner_text("[data-testid=summary-total]")
    db.session.expire_all()
    assert format_cents(db.session.query(Order).one().total_due_cents) == shown


def format_cents(cents: int) -> str:
    from marketplace.money import format_money

    return format_money(cents)
