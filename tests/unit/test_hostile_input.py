"""Bad input gets a clear message (a 4xx, or an action's reason flashed on its page), never a 500, and changes
nothing."""
import io

import pytest
from PIL import Image

from marketplace.catalog.models import Product, ProductStatus
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.orders.models import CartItem, Order
from tests.admin_fixtures import coop  # noqa: F401
from tests.factories import PASSWORD, category, login, make_distribution, make_member, make_producer, make_product
from tests.payments_fixtures import fake_stripe, stripe_config  # noqa: F401
from tests.refusals import refused
from tests.snapshots import snapshot


def _build_shop() -> dict:
    ferme = make_producer("ferme@test.coop", "Ferme")
    other = make_producer("other@test.coop", "Other Farm")
    carrots = make_product(ferme, "Carrots", price_cents=280, stock=10)
    foreign = make_product(other, "Foreign beans", price_cents=500, stock=10)
    make_distribution([ferme, other])
    buyer = make_member("buyer@test.coop")
    db.session.commit()
    return dict(ferme=ferme, other=other, carrots=carrots, foreign=foreign, buyer=buyer)


@pytest.fixture
def shop(app):
    return snapshot("hostile-shop", _build_shop)


def _cart_count():
    return db.session.query(CartItem).count()


@pytest.mark.parametrize("quantity", ["-1", "0", "1.5", "1e3", "1000", "99999999999999999999", "abc", ""])
def test_bad_quantities_are_refused(client, shop, quantity):
    login(client, shop["buyer"])
    back, errors = refused(client, "/cart/add", {"product_id": shop["carrots"].id, "quantity": quantity,
                                                 "next": "/products?q=carrots"})
    assert back == "/products?q=carrots"  # the catalogue page the buyer was on
    assert errors == ["Enter a whole number of units (1 to 999)."]
    assert _cart_count() == 0


def test_unknown_product_404(client, shop):
    login(client, shop["buyer"])
    response = client.post("/cart/add", data={"product_id": 999999, "quantity": 1})
    assert response.status_code == 404
    assert _cart_count() == 0


def test_archived_product_cannot_be_ordered(client, shop):
    shop["carrots"].status = ProductStatus.ARCHIVED
    db.session.commit()
    login(client, shop["buyer"])
    response = client.post("/cart/add", data={"product_id": shop["carrots"].id, "quantity": 1})
    assert response.status_code == 404
    assert client.get(f"/products/{shop['carrots'].id}").status_code == 404
    assert _cart_count() == 0


def test_quantity_above_stock_says_how_many_are_left(client, shop):
    login(client, shop["buyer"])
    back, errors = refused(client, "/cart/add", {"product_id": shop["carrots"].id, "quantity": 11})
    assert back == "/cart" and len(errors) == 1 and "only 10 left" in errors[0]
    assert _cart_count() == 0


def _product_form(**overrides):
    data = {"name": "Beetroot", "description": "", "category_id": category().id, "unit": "piece",
            "price": "2.50", "vat_rate_bp": "550", "stock": "10", "estimated_weight_g": "", "active": "y"}
    data.update(overrides)
    return data


@pytest.mark.parametrize("price,message", [
    ("-2", b"at most two decimals"), ("0", b"greater than zero"), ("2.505", b"at most two decimals"),
    ("abc", b"at most two decimals"), ("999999999999", b"at most two decimals"), ("", b"This field is required"),
])
def test_bad_prices_are_refused(client, shop, price, message):
    login(client, shop["ferme"])
    before = db.session.query(Product).count()
    response = client.post("/producer/products/new", data=_product_form(price=price))
    assert response.status_code == 400
    assert message in response.data
    assert db.session.query(Product).count() == before


@pytest.mark.parametrize("stock", ["-1", "1.5", "99999999"])
def test_bad_stock_is_refused(client, shop, stock):
    login(client, shop["ferme"])
    response = client.post("/producer/products/new", data=_product_form(stock=stock))
    assert response.status_code == 400
    assert b"whole number" in response.data


def test_editing_another_producers_product_is_404(client, shop):
    login(client, shop["ferme"])
    assert client.get(f"/producer/products/{shop['foreign'].id}/edit").status_code == 404
    response = client.post(f"/producer/products/{shop['foreign'].id}/edit", data=_product_form(name="Hacked"))
    assert response.status_code == 404
    assert client.post(f"/producer/products/{shop['foreign'].id}/archive").status_code == 404
    db.session.expire_all()
    foreign = db.session.get(Product, shop["foreign"].id)
    assert foreign.name == "Foreign beans" and foreign.status == ProductStatus.ACTIVE


def test_buyer_cannot_reach_the_producer_pages(client, shop):
    login(client, shop["buyer"])
    response = client.get("/producer/products/new")
    assert response.status_code == 403
    assert b"Only producer members can sell" in response.data


def test_non_image_upload_is_refused(client, shop):
    login(client, shop["ferme"])
    data = _product_form()
    data["photo"] = (io.BytesIO(b"#!/bin/sh\necho not an image\n"), "photo.jpg")
    response = client.post("/producer/products/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 400
    assert b"not an image" in response.data
    assert db.session.query(Product).filter_by(name="Beetroot").count() == 0


def test_huge_upload_is_refused(client, shop):
    login(client, shop["ferme"])
    data = _product_form()
    data["photo"] = (io.BytesIO(b"\xff\xd8\xff" + b"0" * (20 * 1024 * 1024)), "big.jpg")
    response = client.post("/producer/products/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 413
    assert b"too large" in response.data
    assert db.session.query(Product).filter_by(name="Beetroot").count() == 0


def test_real_photo_is_accepted_and_reencoded(client, shop, app):
    login(client, shop["ferme"])
    image = io.BytesIO()
    Image.new("RGB", (2000, 1000), "#884422").save(image, format="PNG")
    image.seek(0)
    data = _product_form()
    data["photo"] = (image, "beet.png")
    response = client.post("/producer/products/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 302
    product = db.session.query(Product).filter_by(name="Beetroot").one()
    assert product.photo_filename.endswith(".png")
    stored = client.get(f"/uploads/{product.photo_filename}")
    assert stored.status_code == 200
    assert Image.open(io.BytesIO(stored.data)).size == (1200, 600)


@pytest.mark.parametrize("target", ["https://evil.example/phish", "//evil.example", "/\\evil.example",
                                    "http:evil.example"])
def test_login_next_off_site_is_ignored(client, shop, target):
    response = client.post("/login", data={"email": "buyer@test.coop", "password": PASSWORD, "next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/me"


def test_login_next_on_site_is_followed(client, shop):
    response = client.post("/login", data={"email": "buyer@test.coop", "password": PASSWORD, "next": "/cart"})
    assert response.headers["Location"] == "/cart"


class TestWithCsrf:
    @pytest.fixture
    def app_config(self):
        return {"WTF_CSRF_ENABLED": True}

    def test_missing_csrf_token_is_refused_and_changes_nothing(self, client, shop):
        # Log in through the form with its token, then post without one.
        page = client.get("/login")
        token = page.data.split(b'name="csrf_token" type="hidden" value="')[1].split(b'"')[0].decode()
        assert client.post("/login", data={"email": "buyer@test.coop", "password": PASSWORD,
                                           "csrf_token": token}).status_code == 302
        response = client.post("/cart/add", data={"product_id": shop["carrots"].id, "quantity": 1})
        assert response.status_code == 400
        assert b"form expired" in response.data
        assert _cart_count() == 0

    def test_signup_without_token_creates_no_account(self, client, shop):
        response = client.post("/signup", data={"full_name": "X", "email": "x@test.coop", "password": "long enough"})
        assert response.status_code == 400
        assert db.session.query(User).filter_by(email="x@test.coop").count() == 0


def test_wrong_password_and_unknown_email_say_the_same(client, shop):
    a = client.post("/login", data={"email": "buyer@test.coop", "password": "nope"})
    b = client.post("/login", data={"email": "nobody@test.coop", "password": "nope"})
    assert a.status_code == b.status_code == 400
    assert b"Wrong e-mail or password" in a.data and b"Wrong e-mail or password" in b.data


def test_checkout_of_empty_cart_is_a_message_not_an_error(client, shop):
    login(client, shop["buyer"])
    response = client.post("/checkout", data={"fulfilment": "pickup", "payment_method": "pay_at_pickup"},
                           follow_redirects=True)
    assert response.status_code == 200
    assert b"cart is empty" in response.data
    assert db.session.query(Order).count() == 0


# ---------------------------------------------------------------- issue 9, item 11: bounded numbers, dates, JSON

HUGE = "99999999999999999999"


@pytest.fixture
def admin_client(client, coop):
    login(client, coop["admin"])
    return client


@pytest.mark.parametrize("url,field", [
    (f"/products?page={HUGE}", "page"), ("/products?page=²", "page"), (f"/products?producer={HUGE}", "producer"),
    ("/products?distribution=٣", "distribution"),
])
def test_huge_or_foreign_numbers_in_the_catalogue_query_are_a_clear_400(client, shop, url, field):
    response = client.get(url)
    assert response.status_code == 400
    assert f"{field} must be".encode() in response.data


@pytest.mark.parametrize("url,message", [
    (f"/admin/orders?producer={HUGE}", b"producer must be between"),
    (f"/admin/orders?place={HUGE}", b"place must be between"),
    ("/admin/orders?day=9999-12-31", b"day must be a date"),
    ("/audit/?actor=%C2%B2", b"actor must be a whole number"),
    ("/audit/?page=%C2%B2", b"page must be a whole number"),
    (f"/audit/export.csv?actor={HUGE}", b"actor must be between"),
    ("/reports/sales?to=9999-12-31", b"to must be a date"),
    ("/reports/sales.csv?from=0001-01-01", b"from must be a date"),
    ("/reports/costs?from=2026-02-30", b"from must be a date"),
    ("/reports/couriers.csv?to=20260101", b"to must be a date"),
    ("/admin/dispatch?day=9999-12-31", b"day must be a date"),
    ("/admin/dispatch?day=0001-01-01", b"day must be a date"),
])
def test_out_of_range_ids_and_dates_in_admin_urls_are_a_clear_400(admin_client, url, message):
    response = admin_client.get(url)
    assert response.status_code == 400
    assert message in response.data


def test_a_huge_delivery_slot_id_at_checkout_is_a_clear_400(client, shop):
    from marketplace.orders import services as orders
    from tests.dispatch_fixtures import delivery_day

    orders.choose_distribution(shop["buyer"], delivery_day([shop["ferme"]]).id)
    orders.add_to_cart(shop["buyer"], shop["carrots"].id, 1)
    db.session.commit()
    login(client, shop["buyer"])
    response = client.post("/checkout", data={"fulfilment": "delivery", "payment_method": "pay_at_pickup",
                                              "delivery_address": "1 rue", "delivery_postcode": "44000",
                                              "delivery_town": "Nantes", "delivery_slot_id": HUGE})
    assert response.status_code == 400
    assert b"Choose one of the delivery times" in response.data
    assert db.session.query(Order).count() == 0


def _api(client, coop, method, path, body=None, data=None):
    from marketplace.api import services as api

    _row, token = api.create_token(coop["ferme"], "tests")
    db.session.commit()
    kwargs = {"data": data} if data is not None else {"json": body}
    return client.open(path, method=method, headers={"Authorization": f"Bearer {token}"},
                       content_type="application/json", **kwargs)


def _nested(depth: int) -> str:
    return '{"name": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize("data,message", [
    (_nested(100_000), "nested too deeply"), (_nested(65), "nested too deeply"), ("[1, 2]", "Send a JSON object"),
    ('"stock"', "Send a JSON object"), ("12", "Send a JSON object"), (b"\xff\xfe{", "Send a JSON object"),
    ('{"name": ' + "9" * 5000 + "}", "Send a JSON object"),
])
def test_hostile_json_on_the_api_is_a_clear_400(client, coop, data, message):
    before = db.session.query(Product).count()
    response = _api(client, coop, "POST", "/api/v1/products", data=data)
    assert response.status_code == 400
    assert message in response.get_json()["error"]
    assert db.session.query(Product).count() == before


@pytest.mark.parametrize("field,value,message", [
    ("description", "x" * 4001, "description is too long"), ("name", "x" * 121, "120 characters at most"),
    ("name", "Carrots\x00", "NUL character"),
])
def test_the_web_forms_text_limits_apply_to_the_api(client, coop, field, value, message):
    response = _api(client, coop, "PATCH", f"/api/v1/products/{coop['carrots'].id}", body={field: value})
    assert response.status_code == 400
    assert message in response.get_json()["error"]
    db.session.expire_all()
    assert db.session.get(Product, coop["carrots"].id).name == "Carrots"


def test_a_huge_page_number_on_the_api_is_a_clear_400(client, coop):
    response = _api(client, coop, "GET", f"/api/v1/products?page={HUGE}")
    assert response.status_code == 400 and "page must be" in response.get_json()["error"]


class TestWebhookInput:
    @pytest.fixture
    def app_config(self, fake_stripe):
        return stripe_config(fake_stripe)

    @pytest.mark.parametrize("payload", [_nested(100_000), _nested(65), "[1]", "null", '"evt"'])
    @pytest.mark.parametrize("endpoint", ["/stripe/webhook", "/stripe/connect-webhook"])
    def test_hostile_json_on_the_webhook_is_a_400_even_when_signed(self, client, fake_stripe, payload, endpoint):
        from marketplace.payments.models import StripeEvent

        secret = fake_stripe.connect_webhook_secret if "connect" in endpoint else fake_stripe.webhook_secret
        for signature in (fake_stripe.sign(payload, secret=secret), "t=1,v1=forged"):
            response = client.post(endpoint, data=payload, content_type="application/json",
                                   headers={"Stripe-Signature": signature})
            assert response.status_code == 400
            assert "JSON" in response.get_json()["error"]
        assert db.session.query(StripeEvent).count() == 0
