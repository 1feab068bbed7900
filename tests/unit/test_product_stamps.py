"""A product page's shared part is kept under the product's own stamp: it outlives changes to other products, and
whatever that page shows (its product, variants, producer, offers, the stock checkouts take) sends it back to be
rendered at once."""
from __future__ import annotations

import pytest
from sqlalchemy import update

from marketplace.catalog.models import Product, ProductVariant
from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.orders.services import CheckoutInput
from tests.factories import make_distribution, make_member, make_producer, make_product
from tests.unit.test_catalogue_member_cache import _get, _login, _product_reads


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


@pytest.fixture
def two(app):
    farm = make_producer("farm@test.coop", "Ferme du Marais")
    carrots = make_product(farm, "Carrots", price_cents=280, stock=40)
    leeks = make_product(farm, "Leeks", price_cents=350, stock=12)
    distribution = make_distribution([farm])
    alice = make_member("alice@test.coop", name="Alice Quenouille")
    bob = make_member("bob@test.coop", name="Bob Tournesol")
    db.session.commit()
    return farm, carrots, leeks, distribution, alice, bob


def _visit(app, url):
    """A visitor's GET (no cookie): the page and the statements it ran."""
    return _get(app.test_client(), url)


def _buys(member, product, quantity: int) -> None:
    orders.add_to_cart(member, product.id, quantity)
    db.session.commit()
    orders.checkout(member, CheckoutInput())
    db.session.commit()


def test_a_product_page_outlives_a_change_to_another_product(app, two):
    farm, carrots, leeks, distribution, alice, bob = two
    first, statements = _visit(app, f"/products/{carrots.id}")
    assert _product_reads(statements) and b"Carrots" in first
    leeks.name = "Poireaux"  # another product: the catalogue's version moves, the carrots' stamp does not
    db.session.commit()
    again, statements = _visit(app, f"/products/{carrots.id}")
    assert again == first and _product_reads(statements) == []
    assert b"Poireaux" in _visit(app, f"/products/{leeks.id}")[0]


def test_its_own_change_its_variant_and_its_producer_show_at_once(app, two):
    farm, carrots, leeks, distribution, alice, bob = two
    url = f"/products/{carrots.id}"
    _visit(app, url)
    carrots.name = "Carottes nouvelles"
    db.session.commit()
    assert b"Carottes nouvelles" in _visit(app, url)[0]
    variant = db.session.query(ProductVariant).filter_by(product_id=carrots.id).one()
    variant.label = "botte de 1 kg"
    db.session.commit()
    client = _login(app, alice)
    _get(client, "/me")
    orders.add_to_cart(alice, leeks.id, 1)  # her cart orders for the distribution: the variants are listed
    db.session.commit()
    assert b"botte de 1 kg" in _get(client, url)[0]
    farm.producer_profile.name = "Ferme des Marais salants"
    db.session.commit()
    assert b"Ferme des Marais salants" in _visit(app, url)[0]
    assert b"Ferme des Marais salants" in _get(client, url)[0]


def test_stock_taken_by_a_checkout_shows_at_once(app, two):
    farm, carrots, leeks, distribution, alice, bob = two
    url = f"/products/{carrots.id}"
    assert b"40 in stock" in _visit(app, url)[0]
    _buys(bob, carrots, 3)
    page, statements = _visit(app, url)
    assert b"37 in stock" in page and _product_reads(statements)  # read again: no 30 s lag any more


def test_units_left_of_an_offer_show_at_once_for_a_member_ordering_there(app, two):
    from marketplace.offers.services import OfferInput, set_offers

    farm, carrots, leeks, distribution, alice, bob = two
    variant = db.session.query(ProductVariant).filter_by(product_id=carrots.id).one()
    set_offers(farm, distribution.id, [OfferInput(variant.id, 10)])
    db.session.commit()
    client = _login(app, alice)
    _get(client, "/me")
    orders.add_to_cart(alice, carrots.id, 1)
    db.session.commit()
    url = f"/products/{carrots.id}"
    assert b"10 left" in _get(client, url)[0]
    _buys(bob, carrots, 4)
    assert b"6 left" in _get(client, url)[0]
    set_offers(farm, distribution.id, [OfferInput(variant.id, 20)])
    db.session.commit()
    assert b"16 left" in _get(client, url)[0]


def test_a_bulk_update_that_names_no_product_sends_every_product_page_back(app, two):
    farm, carrots, leeks, distribution, alice, bob = two
    _visit(app, f"/products/{carrots.id}")
    db.session.execute(update(Product).values(stock=7))
    db.session.commit()
    page, statements = _visit(app, f"/products/{carrots.id}")
    assert b"7 in stock" in page and _product_reads(statements)


def test_a_rolled_back_change_moves_no_stamp(app, two):
    from marketplace.catalog import product_stamps

    farm, carrots, leeks, distribution, alice, bob = two
    before = product_stamps.stamp(app, carrots.id)
    carrots.name = "Never"
    db.session.flush()
    db.session.rollback()
    assert product_stamps.stamp(app, carrots.id) == before
    carrots = db.session.get(Product, carrots.id)
    carrots.name = "Carottes"
    db.session.commit()
    assert product_stamps.stamp(app, carrots.id) != before


def test_without_redis_a_product_part_lives_as_long_as_the_catalogues(app):
    from marketplace.catalog import cache

    assert not app.config.get("REDIS_URL")
    assert cache.product_ttl(app) == cache.TTL_SECONDS  # other processes' changes never reach this one's stamps


def test_a_bump_redis_did_not_take_sends_every_product_page_back_at_the_next_one(app, two, monkeypatch):
    from marketplace.catalog import cache, product_stamps

    farm, carrots, leeks, distribution, alice, bob = two
    bumped: list[list[str]] = []
    answers = iter([False, True])

    def increment(app_, local, keys, what):
        bumped.append(keys)
        return next(answers)

    monkeypatch.setattr(cache, "increment", increment)
    carrots.name = "Carottes"
    db.session.commit()  # lost: Redis did not answer
    leeks.name = "Poireaux"
    db.session.commit()
    assert bumped == [[product_stamps.version_key(carrots.id)],
                      [product_stamps.version_key(leeks.id), product_stamps.GENERATION_KEY]]
