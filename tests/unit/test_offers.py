"""Variants and offers per distribution: what each distribution sells, reserves, releases and harvests."""
from __future__ import annotations

from datetime import timedelta

import pytest

from marketplace.catalog.models import DistributionOffer, Product, ProductVariant, Unit
from marketplace.core.errors import Conflict, NotFound, ServiceError
from marketplace.extensions import db
from marketplace.offers import services as offers
from marketplace.offers.services import OfferInput, VariantInput
from marketplace.orders import services as orders
from marketplace.orders.models import OrderLine
from marketplace.orders.services import CheckoutInput, OutOfStock
from tests.factories import login, make_distribution, make_member, make_producer, make_product


def make_farm() -> dict:
    """A farm with tomatoes (1 kg, plus a 500 g variant) and eggs, in two overlapping open distributions."""
    producer = make_producer("farm@test.coop", "Ferme du Marais")
    tomatoes = make_product(producer, "Tomatoes", price_cents=400, stock=100, unit=Unit.KG)
    half = offers.add_variant(producer, tomatoes.id, VariantInput("500 g", Unit.PIECE, 220))
    eggs = make_product(producer, "Eggs", price_cents=300, stock=None)
    monday = make_distribution([producer])
    tuesday = make_distribution([producer], pickup_in_hours=60)
    db.session.commit()
    return {"producer": producer, "tomatoes": tomatoes, "half": half, "eggs": eggs, "monday": monday,
            "tuesday": tuesday}


@pytest.fixture
def farm(app):
    return make_farm()


def _order(buyer, distribution, lines):
    orders.choose_distribution(buyer, distribution.id)
    for product, quantity, variant in lines:
        orders.add_to_cart(buyer, product.id, quantity, variant.id if variant else None)
    order = orders.checkout(buyer, CheckoutInput())
    db.session.commit()
    return order


def test_every_product_has_a_first_variant_mirroring_it(farm):
    tomatoes = farm["tomatoes"]
    first, second = tomatoes.variants
    assert (first.position, first.label, first.unit, first.price_cents) == (0, "", Unit.KG, 400)
    assert (second.position, second.label, second.price_cents) == (1, "500 g", 220)
    offers.update_variant(farm["producer"], first.id, VariantInput("1 kg", Unit.KG, 450))
    assert (tomatoes.price_cents, first.label) == (450, "1 kg")


def test_without_offers_a_distribution_sells_every_variant_from_the_product_stock(farm):
    buyer = make_member("ann@test.coop")
    order = _order(buyer, farm["monday"], [(farm["tomatoes"], 3, farm["half"]), (farm["tomatoes"], 2, None)])
    lines = sorted(order.parts[0].lines, key=lambda line: line.variant_id)
    assert [(line.variant_label, line.quantity, line.unit_price_cents, line.offer_id) for line in lines] == \
        [("", 2, 400, None), ("500 g", 3, 220, None)]
    assert db.session.get(Product, farm["tomatoes"].id).stock == 95  # one unit of any variant, one of stock


def test_offers_decide_what_a_distribution_sells_and_at_what_price(farm):
    offers.set_offers(farm["producer"], farm["monday"].id,
                      [OfferInput(farm["half"].id, 10, price_cents=200)])
    db.session.commit()
    buyer = make_member("ann@test.coop")
    orders.choose_distribution(buyer, farm["monday"].id)
    with pytest.raises(Conflict, match="not offered"):
        orders.add_to_cart(buyer, farm["eggs"].id, 1)
    db.session.rollback()
    order = _order(buyer, farm["monday"], [(farm["tomatoes"], 4, farm["half"])])
    [line] = order.parts[0].lines
    assert (line.unit_price_cents, line.variant_label, line.product_name) == (200, "500 g", "Tomatoes")
    offer = db.session.query(DistributionOffer).one()
    assert (offer.quantity, offer.reserved, line.offer_id) == (10, 4, offer.id)
    assert db.session.get(Product, farm["tomatoes"].id).stock == 100  # the product's stock is not this offer's


def test_an_offer_is_never_oversold_and_each_distribution_keeps_its_own(farm):
    for distribution in (farm["monday"], farm["tuesday"]):
        offers.set_offers(farm["producer"], distribution.id, [OfferInput(farm["half"].id, 3)])
    db.session.commit()
    _order(make_member("ann@test.coop"), farm["monday"], [(farm["tomatoes"], 3, farm["half"])])
    late = make_member("bob@test.coop")
    orders.choose_distribution(late, farm["monday"].id)
    with pytest.raises(OutOfStock, match="only 0 left"):
        orders.add_to_cart(late, farm["tomatoes"].id, 1, farm["half"].id)
    db.session.rollback()
    _order(late, farm["tuesday"], [(farm["tomatoes"], 3, farm["half"])])
    assert sorted(o.reserved for o in db.session.query(DistributionOffer)) == [3, 3]


def test_checkout_refuses_when_the_offer_ran_out_after_the_cart_was_filled(farm):
    offers.set_offers(farm["producer"], farm["monday"].id, [OfferInput(farm["half"].id, 5)])
    db.session.commit()
    ann, bob = make_member("ann@test.coop"), make_member("bob@test.coop")
    orders.choose_distribution(bob, farm["monday"].id)
    orders.add_to_cart(bob, farm["tomatoes"].id, 3, farm["half"].id)
    db.session.commit()
    _order(ann, farm["monday"], [(farm["tomatoes"], 4, farm["half"])])
    with pytest.raises(OutOfStock, match="only 1 left of Tomatoes — 500 g"):
        orders.checkout(bob, CheckoutInput())
    db.session.rollback()
    assert db.session.query(DistributionOffer).one().reserved == 4


def test_cancelling_and_changing_quantities_go_back_to_the_offer(farm):
    offers.set_offers(farm["producer"], farm["monday"].id, [OfferInput(farm["half"].id, 6)])
    db.session.commit()
    buyer = make_member("ann@test.coop")
    order = _order(buyer, farm["monday"], [(farm["tomatoes"], 2, farm["half"])])
    line = order.parts[0].lines[0]
    orders.change_line_quantity(buyer, order.id, line.id, 5)
    assert db.session.query(DistributionOffer).one().reserved == 5
    with pytest.raises(OutOfStock):
        orders.change_line_quantity(buyer, order.id, line.id, 7)
    db.session.rollback()
    orders.cancel_order(buyer, order.id)
    db.session.commit()
    assert db.session.query(DistributionOffer).one().reserved == 0


def test_first_offers_take_over_what_was_already_ordered(farm):
    buyer = make_member("ann@test.coop")
    _order(buyer, farm["monday"], [(farm["tomatoes"], 3, farm["half"])])
    assert db.session.get(Product, farm["tomatoes"].id).stock == 97
    with pytest.raises(Conflict, match="3 already ordered"):
        offers.set_offers(farm["producer"], farm["monday"].id, [OfferInput(farm["half"].id, 2)])
    db.session.rollback()
    [offer] = offers.set_offers(farm["producer"], farm["monday"].id, [OfferInput(farm["half"].id, 8)])
    db.session.commit()
    assert (offer.quantity, offer.reserved) == (8, 3)
    assert db.session.query(OrderLine).one().offer_id == offer.id
    assert db.session.get(Product, farm["tomatoes"].id).stock == 100  # given back: the offer holds them now


def test_a_withdrawn_offer_keeps_what_is_ordered_and_sells_no_more(farm):
    offers.set_offers(farm["producer"], farm["monday"].id,
                      [OfferInput(farm["half"].id, None), OfferInput(farm["eggs"].variants[0].id, 12)])
    db.session.commit()
    _order(make_member("ann@test.coop"), farm["monday"], [(farm["tomatoes"], 2, farm["half"])])
    offers.set_offers(farm["producer"], farm["monday"].id, [])
    db.session.commit()
    [kept] = db.session.query(DistributionOffer).all()
    assert (kept.variant_id, kept.quantity, kept.reserved) == (farm["half"].id, 2, 2)


def test_copy_last_weeks_offers_from_the_same_series(farm, app):
    producer = farm["producer"]
    week1, week2 = farm["monday"], farm["tuesday"]
    week1.series_key = week2.series_key = "tuesdays"
    week2.starts_at = week1.starts_at + timedelta(days=7)
    week2.ends_at = week2.starts_at + timedelta(hours=3)
    offers.set_offers(producer, week1.id, [OfferInput(farm["half"].id, 7, 210), OfferInput(farm["eggs"].variants[0].id, None)])
    db.session.commit()
    assert offers.previous_distribution(producer.producer_profile.id, week2.id).id == week1.id
    copied = offers.copy_previous_offers(producer, week2.id)
    db.session.commit()
    assert sorted((o.variant_id, o.quantity, o.price_cents, o.reserved) for o in copied) == \
        sorted([(farm["half"].id, 7, 210, 0), (farm["eggs"].variants[0].id, None, None, 0)])
    with pytest.raises(Conflict):
        offers.copy_previous_offers(producer, week1.id)  # nothing before the first week


def test_a_producer_sets_offers_only_where_they_take_part(farm):
    other = make_producer("other@test.coop", "Other farm")
    with pytest.raises(NotFound):
        offers.set_offers(other, farm["monday"].id, [])
    with pytest.raises(NotFound):
        offers.set_offers(farm["producer"], farm["monday"].id, [OfferInput(make_product(other, "Plums").variants[0].id, 1)])
    with pytest.raises(ServiceError):
        offers.set_offers(farm["producer"], farm["monday"].id, [OfferInput(farm["half"].id, -1)])


def test_harvest_totals_count_each_variant_over_every_order(farm):
    ann, bob = make_member("ann@test.coop"), make_member("bob@test.coop")
    _order(ann, farm["monday"], [(farm["tomatoes"], 2, farm["half"]), (farm["tomatoes"], 1, None)])
    _order(bob, farm["monday"], [(farm["tomatoes"], 3, farm["half"])])
    cancelled = _order(make_member("cy@test.coop"), farm["monday"], [(farm["tomatoes"], 9, farm["half"])])
    orders.cancel_order(cancelled.buyer, cancelled.id)
    _order(bob, farm["tuesday"], [(farm["eggs"], 6, None)])  # another distribution
    db.session.commit()
    rows = offers.producer_harvest(farm["producer"], farm["monday"].id)
    assert sorted((r.product_name, r.variant_label, r.quantity, r.orders) for r in rows) == \
        [("Tomatoes", "", 1, 1), ("Tomatoes", "500 g", 5, 2)]


def test_the_catalogue_of_a_distribution_shows_only_its_offers_and_follows_changes(farm, client):
    url = f"/products?distribution={farm['monday'].id}"
    assert b"Eggs" in client.get(url).data  # default: everything on sale (and now cached)
    offers.set_offers(farm["producer"], farm["monday"].id, [OfferInput(farm["half"].id, 5, 250)])
    db.session.commit()
    page = client.get(url).get_data(as_text=True)
    assert "Eggs" not in page and "Tomatoes" in page and "2.50" in page
    assert "Eggs" in client.get(f"/products?distribution={farm['tuesday'].id}").get_data(as_text=True)


def test_producer_pages_set_offers_copy_them_and_show_the_harvest(farm, client):
    login(client, farm["producer"])
    page = client.get(f"/producer/distributions/{farm['monday'].id}/offers")
    assert page.status_code == 200 and "500 g" in page.get_data(as_text=True)
    half = farm["half"].id
    response = client.post(f"/producer/distributions/{farm['monday'].id}/offers",
                           data={f"bring-{half}": "1", f"quantity-{half}": "4", f"price-{half}": "2,10"})
    assert response.status_code == 302
    offer = db.session.query(DistributionOffer).one()
    assert (offer.variant_id, offer.quantity, offer.price_cents) == (half, 4, 210)
    refused = client.post(f"/producer/distributions/{farm['monday'].id}/offers",
                          data={f"bring-{half}": "1", f"quantity-{half}": "4", f"price-{half}": "abc"},
                          follow_redirects=True)
    assert "enter a price in euros" in refused.get_data(as_text=True)
    assert client.get(f"/producer/distributions/{farm['monday'].id}/harvest").status_code == 200
    assert client.get("/producer/distributions").status_code == 200


def test_variants_are_added_and_sold_by_name(farm, client):
    login(client, farm["producer"])
    response = client.post(f"/producer/products/{farm['eggs'].id}/variants",
                           data={"label": "box of 12", "unit": "box", "price": "5.40", "vat_rate_bp": "550"})
    assert response.status_code == 302
    box = db.session.query(ProductVariant).filter_by(label="box of 12").one()
    buyer = make_member("ann@test.coop")
    order = _order(buyer, farm["monday"], [(farm["eggs"], 2, box)])
    [line] = order.parts[0].lines
    assert (line.variant_id, line.unit, line.unit_price_cents, line.estimated_cents) == (box.id, "box", 540, 1080)


def test_a_variant_is_edited_and_the_first_one_is_the_products_price(farm, client):
    login(client, farm["producer"])
    first = farm["tomatoes"].variants[0]
    assert client.get(f"/producer/variants/{first.id}/edit").status_code == 200
    response = client.post(f"/producer/variants/{first.id}/edit",
                           data={"label": "1 kg", "unit": "kg", "price": "4.20", "vat_rate_bp": "550"})
    assert response.status_code == 302
    db.session.expire_all()
    assert (first.label, first.price_cents, db.session.get(Product, farm["tomatoes"].id).price_cents) == \
        ("1 kg", 420, 420)
    other = make_producer("other@test.coop", "Other farm")
    client.post("/logout")
    login(client, other)
    assert client.get(f"/producer/variants/{first.id}/edit").status_code == 404
