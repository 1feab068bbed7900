"""A contract's page for its manager: its subscribers paginated, each one's season amount, paid and still due as
`balance` gives them (integer cents), in as many statements (SQL) for many subscribers as for few."""
from __future__ import annotations

import re

import pytest

from marketplace.contracts import services
from marketplace.contracts.models import PaymentMeans, Subscription
from marketplace.contracts.services import schedule
from marketplace.extensions import db
from marketplace.money import format_money
from tests.contracts_fixtures import make_contract, make_season
from tests.factories import get_admin, login, make_member, make_producer, make_product
from tests.unit.test_catalogue_querycount import _queries

ROW = re.compile(r'<tr><td>([^<]*)</td><td class="num">([^<]*)</td><td class="num">([^<]*)</td>'
                 r'<td class="num">([^<]*)</td>')


@pytest.fixture
def amap(app):
    """A season of four weekly deliveries (their cut-offs to come), a basket at 18.00 a delivery in three
    instalments, one absence free, baskets changeable."""
    ferme = make_producer("ferme@test.coop", "Ferme du Marais")
    leeks = make_product(ferme, "Leeks", price_cents=250, stock=None)
    season = make_season([ferme], weeks=4, opens_in_hours=2)
    contract = make_contract(ferme, season, [(leeks.variants[0].id, 2)], price_cents=1800, instalments=3,
                             allowed_absences=1, changeable=True)
    db.session.commit()
    return {"ferme": ferme, "season": season, "contract": contract}


def _subscribe(amap, count: int, start: int, share: int = 1) -> list[Subscription]:
    subscriptions = []
    for i in range(start, start + count):
        member = make_member(f"member{i:03d}@test.coop", name=f"Member {i:03d}")
        subscriptions.append(services.subscribe(member, amap["contract"].id, accepted_version=1,
                                                means=PaymentMeans.CHEQUE, share=share))
    db.session.commit()
    return subscriptions


def _rows(client, url: str) -> list[tuple[str, ...]]:
    return ROW.findall(client.get(url).get_data(as_text=True))


def test_each_subscribers_figures_are_those_of_their_balance(amap, client):
    season, admin = amap["season"], get_admin()
    plain, double, away, more, paying, stopped = (*_subscribe(amap, 1, 0), *_subscribe(amap, 1, 1, share=2),
                                                  *_subscribe(amap, 4, 2))
    services.declare_absence(away.member, away.id, season[0].id)  # the one free absence
    services.declare_absence(away.member, away.id, season[1].id)  # beyond the allowance: charged all the same
    services.declare_absence(away.member, away.id, season[2].id, handover_to="A neighbour")  # no absence
    services.set_baskets(more.member, more.id, season[2].id, 3)
    services.set_baskets(more.member, more.id, season[3].id, 0)
    services.record_instalment(admin, paying.id, PaymentMeans.CHEQUE)
    services.record_instalment(admin, stopped.id, PaymentMeans.CHEQUE)
    services.stop_subscription(admin, stopped.id, "Moved to Rennes")  # no order made yet: no delivery left
    db.session.commit()
    expected = {  # (season amount, paid, still due) in cents, as the amount rule gives them
        plain.id: (7200, 0, 7200), double.id: (14400, 0, 14400), away.id: (5400, 0, 5400),
        more.id: (9000, 0, 9000), paying.id: (7200, 2400, 4800), stopped.id: (0, 2400, -2400)}
    db.session.expire_all()
    for subscription in db.session.query(Subscription):  # the per-subscriber figures agree
        assert tuple(vars(services.balance(subscription)).values()) == expected[subscription.id]
    login(client, admin)
    shown = _rows(client, f"/manage/contracts/{amap['contract'].id}")
    names = {s.id: s.member.full_name for s in db.session.query(Subscription)}
    assert shown == [(names[sid], *(format_money(cents) for cents in figures)) for sid, figures in expected.items()]


def test_subscribers_statement_count_does_not_follow_the_subscribers(amap, client):
    login(client, amap["ferme"])
    url = f"/manage/contracts/{amap['contract'].id}"
    first = _subscribe(amap, 3, 0)
    services.declare_absence(first[0].member, first[0].id, amap["season"][1].id)
    services.record_instalment(get_admin(), first[1].id, PaymentMeans.CHEQUE)
    db.session.commit()
    few = _queries(client, url)
    assert len(_rows(client, url)) == 3
    _subscribe(amap, 27, 3)
    many = _queries(client, url)
    assert len(_rows(client, url)) == 30
    assert many == few, f"{few} statements for 3 subscribers, {many} for 30"
    # The member, the contract, the producer (is it theirs?), the page's count and its subscriptions (with their
    # members' names and what was paid on each, summed by the database), every delivery plan of the page.
    assert many == 7


def test_the_subscribers_are_paginated(amap, client, monkeypatch):
    subscriptions = _subscribe(amap, 7, 0)
    monkeypatch.setattr(schedule, "SUBSCRIBERS_PER_PAGE", 5)
    login(client, get_admin())
    url = f"/manage/contracts/{amap['contract'].id}"
    first, second = client.get(url).get_data(as_text=True), client.get(f"{url}?page=2").get_data(as_text=True)
    names = [s.member.full_name for s in subscriptions]  # in the order they subscribed
    assert [row[0] for row in ROW.findall(first)] == names[:5] and "Page 1 of 2" in first
    assert f"{url}?page=2" in first
    assert [row[0] for row in ROW.findall(second)] == names[5:] and "Page 2 of 2" in second
    assert _rows(client, f"{url}?page=3") == []
    assert _queries(client, f"{url}?page=2") == _queries(client, url)
