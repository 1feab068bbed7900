"""In Chromium: a buyer pays through the (fake) hosted Checkout and sees the order paid; a producer onboards."""
from __future__ import annotations

import pytest

from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.orders.states import PaymentStatus
from marketplace.payments.models import Payout, PayoutStatus
from tests.e2e.pages import log_in
from tests.factories import make_distribution, make_member, make_producer, make_product
from tests.payments_fixtures import (celery_config, celery_worker, connect_ready_account, fake_stripe,  # noqa: F401
                                     live_server, point_webhooks, refunds_made, stripe_config, wait_for)

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture
def app_config(fake_stripe):
    return {**stripe_config(fake_stripe), **celery_config()}


def test_buyer_pays_by_card_on_the_hosted_page_and_sees_the_order_paid(pg_app, fake_stripe, browser):
    farm = make_producer("farm@test.coop", "Green Farm")
    eggs = make_product(farm, "Eggs", price_cents=350)
    distribution = make_distribution([farm])
    connect_ready_account(fake_stripe, farm)
    buyer = make_member("buyer@test.coop")
    orders.choose_distribution(buyer, distribution.id)
    orders.add_to_cart(buyer, eggs.id, 2)
    db.session.commit()
    with live_server(pg_app) as url, celery_worker(pg_app):
        point_webhooks(fake_stripe, url)
        page = browser.new_page(locale="en-GB")
        log_in(page, url, "buyer@test.coop")
        page.goto(url + "/checkout")
        page.check("input[name=payment_method][value=card]")
        page.locator("form.form button[type=submit]").click()
        page.wait_for_url(fake_stripe.url + "/_fake/checkout/**")
        assert page.inner_text("#total") == "7.00 EUR"
        page.click("#pay")
        page.wait_for_url(url + "/payments/orders/**")
        page.wait_for_selector("[data-testid=payment-status][data-status=authorised]", timeout=30000)
        [order] = db.session.query(orders.Order).all()
        assert order.payment_status == PaymentStatus.AUTHORISED
        part = order.parts[0]
        orders.accept_part(farm, part.id)
        orders.mark_ready(farm, part.id)
        db.session.commit()
        wait_for(lambda: db.session.query(Payout).filter_by(status=PayoutStatus.PAID).count() == 1, what="transfer")
        page.goto(url + f"/orders/{order.id}")
        assert "paid" in page.inner_text("body")
        page.goto(url + f"/payments/orders/{order.id}/receipts/{part.id}")
        assert "Green Farm" in page.inner_text("[data-testid=receipt]")
        assert page.inner_text("[data-testid=receipt-total]") == "€7.00"


def test_a_producer_onboards_with_stripe_and_sees_payouts_enabled(pg_app, fake_stripe, browser):
    make_producer("farm@test.coop", "Green Farm")
    db.session.commit()
    with live_server(pg_app) as url, celery_worker(pg_app):
        point_webhooks(fake_stripe, url)
        page = browser.new_page(locale="en-GB")
        log_in(page, url, "farm@test.coop")
        page.goto(url + "/payments/account")
        assert "No Stripe account" in page.inner_text("[data-testid=stripe-status]")
        page.click("[data-testid=connect-stripe]")
        page.wait_for_url(fake_stripe.url + "/_fake/onboarding/**")
        page.click("#complete")
        page.wait_for_url(url + "/payments/account")
        assert "Payouts enabled" in page.inner_text("[data-testid=stripe-status]")
        assert page.locator("[data-testid=stripe-requirements]").count() == 0
