"""The producer's order desk: paginated, and its absence notes read for every distribution of the page at once."""
from __future__ import annotations

import pytest

from marketplace.contracts import services, tasks
from marketplace.contracts.models import PaymentMeans
from marketplace.extensions import db
from marketplace.orders import documents
from tests.contracts_fixtures import make_contract, make_season
from tests.factories import get_admin, login, make_distribution, make_member, make_producer, make_product
from tests.unit.test_catalogue_querycount import _orders, _queries, counting, desk_farm


@pytest.fixture
def amap(app):
    ferme = make_producer("ferme@test.coop", "Ferme du Marais")
    leeks = make_product(ferme, "Leeks", price_cents=250, stock=None)
    season = make_season([ferme], weeks=4)
    contract = make_contract(ferme, season, [(leeks.variants[0].id, 2)])
    members = [make_member(f"member{i}@test.coop", name=f"Member {i}") for i in range(4)]
    db.session.commit()
    subs = [services.subscribe(m, contract.id, accepted_version=1, means=PaymentMeans.CHEQUE)
            for m in members]
    db.session.commit()
    return {"ferme": ferme, "season": season, "members": members, "subs": subs}


def test_absence_notes_of_many_distributions_take_as_many_statements_as_of_one(amap, client):
    season, members, subs, farm_id = amap["season"], amap["members"], amap["subs"], amap["ferme"].producer_profile.id
    services.declare_absence(members[0], subs[0].id, season[0].id)
    db.session.commit()
    ids = [d.id for d in season]
    with counting() as one:
        notes = documents.packing_notes_by_distribution(ids, farm_id)
    assert notes == {season[0].id: documents.packing_notes(season[0].id, farm_id)}
    for week, distribution in enumerate(season[1:], start=1):
        services.declare_absence(members[week], subs[week].id, distribution.id, handover_to=f"Friend {week}")
    db.session.commit()
    with counting() as many:
        notes = documents.packing_notes_by_distribution(ids, farm_id)
    assert notes == {d.id: documents.packing_notes(d.id, farm_id) for d in season}
    assert notes[season[2].id] == [(members[2].id, "Member 2", "Friend 2")]
    assert len(many) == len(one), f"{len(one)} statements for one distribution's notes, {len(many)} for four"
    assert documents.packing_notes_by_distribution([], farm_id) == {}
    # The order desk shows them with each distribution's orders.
    tasks.create_due_orders()
    db.session.commit()
    login(client, amap["ferme"])
    page = client.get("/producer/orders").get_data(as_text=True)
    assert f'data-testid="absences-{season[0].id}"' in page and "Member 0: <strong>absent</strong>" in page


def test_the_order_desk_is_paginated_and_its_statements_do_not_follow_the_pages(app, client, monkeypatch):
    from marketplace.orders.services import producer_desk

    farm, products = desk_farm()
    _orders(farm, products, 7, 0)
    monkeypatch.setattr(producer_desk, "PARTS_PER_PAGE", 5)
    login(client, farm)
    first, second = client.get("/producer/orders").data, client.get("/producer/orders?page=2").data
    assert first.count(b'data-testid="part-') == 5 and b"Page 1 of 2" in first and b"/producer/orders?page=2" in first
    assert second.count(b'data-testid="part-') == 2 and b"Page 2 of 2" in second
    assert _queries(client, "/producer/orders?page=2") == _queries(client, "/producer/orders")


def test_the_harvest_page_statement_count_does_not_follow_the_orders(app, client):
    from marketplace.distributions.models import Distribution

    farm, products = desk_farm()
    _orders(farm, products, 3, 0)
    url = f"/producer/distributions/{db.session.query(Distribution).one().id}/harvest"
    login(client, farm)
    few = _queries(client, url)
    _orders(farm, products, 12, 3)
    many = _queries(client, url)
    assert "15" in client.get(url).get_data(as_text=True)  # each variant ordered in 15 orders
    assert many == few, f"{few} statements for 3 orders, {many} for 15"


def test_a_members_orders_are_paginated_in_a_fixed_number_of_statements(app, client, monkeypatch):
    from marketplace.orders import services as orders
    from marketplace.orders.services import CheckoutInput, buyer

    get_admin()
    farm = make_producer("farm@test.coop", "Ferme du Marais")
    carrots = make_product(farm, "Carrots", stock=500)
    member = make_member("member@test.coop")
    db.session.commit()

    def order_in_new_distributions(count: int) -> None:
        for _ in range(count):
            distribution = make_distribution([farm])
            db.session.commit()
            orders.add_to_cart(member, carrots.id, 2, browsed_distribution_id=distribution.id)
            orders.checkout(member, CheckoutInput())
            db.session.commit()

    order_in_new_distributions(2)
    login(client, member)
    few = _queries(client, "/orders")
    order_in_new_distributions(5)
    assert _queries(client, "/orders") == few
    monkeypatch.setattr(buyer, "ORDERS_PER_PAGE", 4)
    first, second = client.get("/orders").get_data(as_text=True), client.get("/orders?page=2").get_data(as_text=True)
    assert first.count('href="/orders/') == 4 and "Page 1 of 2" in first and "/orders?page=2" in first
    assert second.count('href="/orders/') == 3 and "Page 2 of 2" in second
