"""The producers' JSON API: tokens, own products and stock, order parts, errors, rate limit."""
from __future__ import annotations

import pytest

from marketplace.api import services as api
from marketplace.api.models import ApiToken
from marketplace.catalog.models import Product
from marketplace.extensions import db
from tests.admin_fixtures import coop  # noqa: F401
from tests.factories import category, login


def _token(user, name="stock sheet") -> str:
    _row, clear = api.create_token(user, name)
    db.session.commit()
    return clear


def _auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_token_is_shown_once_and_stored_hashed(coop, client):
    login(client, coop["ferme"])
    page = client.post("/account/api-tokens", data={"name": "Tractor app"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    clear = html.split('data-testid="new-token">')[1].split("<")[0]
    row = db.session.query(ApiToken).one()
    assert clear.startswith("coop_") and row.token_hash == api.digest(clear) and clear not in row.token_hash
    assert clear not in client.get("/account/api-tokens").get_data(as_text=True)
    assert client.get("/api/v1/products", headers=_auth(clear)).status_code == 200


def test_buyers_cannot_make_tokens(coop, client):
    login(client, coop["buyer"])
    assert client.get("/account/api-tokens").status_code == 403
    assert client.post("/account/api-tokens", data={"name": "x"}).status_code == 403


def test_list_and_update_own_products_with_the_catalogue_rules(coop, client):
    token = _token(coop["ferme"])
    listing = client.get("/api/v1/products?per_page=1", headers=_auth(token)).get_json()
    assert listing["total"] == 2 and len(listing["products"]) == 1 and listing["per_page"] == 1
    carrots = coop["carrots"].id
    response = client.patch(f"/api/v1/products/{carrots}", json={"price_cents": 310, "name": "Carrots (new)"},
                            headers=_auth(token))
    assert response.status_code == 200 and response.get_json()["price_cents"] == 310
    assert db.session.get(Product, carrots).name == "Carrots (new)"
    response = client.put(f"/api/v1/products/{carrots}/stock", json={"stock": 7}, headers=_auth(token))
    assert response.status_code == 200 and db.session.get(Product, carrots).stock == 7
    # The catalogue's own validation answers: a weight-priced product must be priced per kg.
    response = client.patch(f"/api/v1/products/{carrots}", json={"is_weight_priced": True, "estimated_weight_g": 100},
                            headers=_auth(token))
    assert response.status_code == 400 and "per kg" in response.get_json()["error"]
    created = client.post("/api/v1/products", json={"name": "Beets", "category_id": category().id, "unit": "kg",
                                                    "price_cents": 400, "stock": None}, headers=_auth(token))
    assert created.status_code == 201 and created.get_json()["stock"] is None


def test_another_producers_product_is_not_found(coop, client):
    token = _token(coop["chevre"])
    carrots = coop["carrots"].id
    for response in (client.get(f"/api/v1/products/{carrots}", headers=_auth(token)),
                     client.patch(f"/api/v1/products/{carrots}", json={"price_cents": 1}, headers=_auth(token)),
                     client.put(f"/api/v1/products/{carrots}/stock", json={"stock": 0}, headers=_auth(token))):
        assert response.status_code == 404 and response.is_json
    assert db.session.get(Product, carrots).price_cents == 280


def test_revoked_unknown_and_missing_tokens_are_refused(coop, client):
    token = _token(coop["ferme"])
    row = db.session.query(ApiToken).one()
    login(client, coop["ferme"])
    assert client.post(f"/account/api-tokens/{row.id}/revoke").status_code == 302
    client.post("/logout")
    for headers in (_auth(token), _auth("coop_" + "x" * 40), {}, {"Authorization": "Basic abc"}):
        response = client.get("/api/v1/products", headers=headers)
        assert response.status_code == 401 and "error" in response.get_json()
    # A session cookie is not an API credential.
    login(client, coop["ferme"])
    assert client.get("/api/v1/products").status_code == 401


def test_a_token_of_an_erased_or_suspended_producer_stops_working(coop, client):
    from marketplace.members.models import MembershipStatus
    from marketplace.members.services import change_membership_status

    token = _token(coop["ferme"])
    change_membership_status(coop["admin"], coop["ferme"].membership.id, MembershipStatus.SUSPENDED, "audit")
    db.session.commit()
    assert client.get("/api/v1/products", headers=_auth(token)).status_code == 403


@pytest.mark.parametrize("body", ['{"price_cents": ', "[1, 2]", '"text"', "null"])
def test_malformed_bodies_are_400_json(coop, client, body):
    token = _token(coop["ferme"])
    response = client.patch(f"/api/v1/products/{coop['carrots'].id}", data=body,
                            headers={**_auth(token), "Content-Type": "application/json"})
    assert response.status_code == 400 and "error" in response.get_json()


@pytest.mark.parametrize("body", [{"price_cents": "3.00"}, {"price_cents": True}, {"price_cents": 2.5},
                                  {"unknown": 1}, {"unit": "ton"}, {"stock": 10 ** 30}, {"name": None}])
def test_wrongly_typed_fields_are_400(coop, client, body):
    token = _token(coop["ferme"])
    response = client.patch(f"/api/v1/products/{coop['carrots'].id}", json=body, headers=_auth(token))
    assert response.status_code == 400, body
    assert db.session.get(Product, coop["carrots"].id).price_cents == 280


@pytest.mark.parametrize("query", ["per_page=1000000", "per_page=0", "per_page=-5", "page=0",
                                   "per_page=99999999999999999999", "per_page=abc"])
def test_huge_or_silly_page_sizes_are_refused(coop, client, query):
    token = _token(coop["ferme"])
    for path in ("/api/v1/products", "/api/v1/order-parts"):
        response = client.get(f"{path}?{query}", headers=_auth(token))
        assert response.status_code == 400 and "error" in response.get_json()


def test_order_parts_are_the_producers_own(coop, client):
    token = _token(coop["ferme"])
    parts = client.get("/api/v1/order-parts", headers=_auth(token)).get_json()["order_parts"]
    assert {p["order_reference"] for p in parts} == {coop["done_order"].reference, coop["open_order"].reference}
    names = {line["product_name"] for p in parts for line in p["lines"]}
    assert names == {"Carrots", "Leeks"}  # not the cheese of the other producer
    placed = client.get("/api/v1/order-parts?status=placed", headers=_auth(token)).get_json()
    assert [p["order_reference"] for p in placed["order_parts"]] == [coop["open_order"].reference]


def test_openapi_document_is_served(client, app):
    doc = client.get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.") and "/api/v1/products/{product_id}/stock" in doc["paths"]


@pytest.fixture
def app_config():
    return {"API_RATE_LIMIT": "5/minute"}


def test_rate_limit_answers_429_in_json(coop, client):
    token = _token(coop["ferme"])
    statuses = [client.get("/api/v1/products", headers=_auth(token)).status_code for _ in range(7)]
    assert statuses[:5] == [200] * 5 and statuses[5:] == [429, 429]
    assert "error" in client.get("/api/v1/products", headers=_auth(token)).get_json()


def test_a_producer_sets_a_distributions_offers_through_the_api(coop, client):
    from marketplace.catalog.models import DistributionOffer

    token = _token(coop["ferme"])
    url = f"/api/v1/distributions/{coop['distribution'].id}/offers"
    sheet = client.get(url, headers=_auth(token)).get_json()
    carrots = coop["carrots"].variants[0].id
    assert sheet["offers_set"] is False and {o["variant_id"] for o in sheet["offers"]} >= {carrots}
    response = client.put(url, json={"offers": [{"variant_id": carrots, "quantity": 12, "price_cents": 260}]},
                          headers=_auth(token))
    assert response.status_code == 200 and response.get_json()["offers_set"] is True
    offer = db.session.query(DistributionOffer).one()
    assert (offer.variant_id, offer.quantity, offer.price_cents) == (carrots, 12, 260)
    bad = client.put(url, json={"offers": [{"variant_id": carrots, "quantity": "many"}]}, headers=_auth(token))
    assert bad.status_code == 400 and "error" in bad.get_json()
    other = client.put(url, json={"offers": []}, headers=_auth(_token(coop["chevre"], "goat")))
    assert other.status_code == 200  # the goat farm takes part too: its own (empty) offer
    assert client.get("/api/v1/distributions/999999/offers", headers=_auth(token)).status_code == 404
