"""The admins' disputes list: paginated (a coop with more disputes than a page loses none), its status filter kept
from page to page, and as many statements (SQL) for many disputes as for few."""
from __future__ import annotations

import re

from marketplace.disputes import services
from marketplace.disputes.models import Dispute, DisputeReason, DisputeStatus
from marketplace.extensions import db
from marketplace.members.models import College
from tests.admin_fixtures import complete_order, coop, place_order  # noqa: F401
from tests.factories import get_admin, login, make_member
from tests.unit.test_catalogue_querycount import _queries

ROW = re.compile(r'<td><a href="/disputes/\d+">')


def _disputes(shop: dict, count: int, start: int) -> None:
    """`count` disputes, each by its own buyer on the carrots of their collected order."""
    for i in range(start, start + count):
        buyer = make_member(f"disputer{i}@test.coop", College.BUYER, name=f"Buyer {i:03d}")
        order = complete_order(place_order(buyer, [(shop["carrots"], 1)]), [shop["ferme"]])
        services.open_dispute(buyer, order.parts[0].lines[0].id, DisputeReason.DAMAGED, f"Broken {i}")
    db.session.commit()


def _rows(client, url: str) -> int:
    """The disputes listed (each row links to its dispute; the page's navigation links elsewhere too)."""
    return len(ROW.findall(client.get(url).get_data(as_text=True)))


def test_disputes_list_statement_count_does_not_follow_the_disputes(coop, client):  # noqa: F811
    _disputes(coop, 3, 0)
    login(client, coop["admin"])
    few = _queries(client, "/disputes/admin")
    assert _rows(client, "/disputes/admin") == 3
    _disputes(coop, 27, 3)
    many = _queries(client, "/disputes/admin")
    page = client.get("/disputes/admin").get_data(as_text=True)
    assert len(ROW.findall(page)) == 30
    for dispute in db.session.query(Dispute):  # each row's order, buyer, producer and product as before
        assert (f'<a href="/disputes/{dispute.id}">{dispute.order.reference}</a></td><td>{dispute.buyer.full_name}'
                f'</td><td>{dispute.producer.name}</td>') in page
    assert many == few, f"{few} statements for 3 disputes, {many} for 30"
    # The member, the page's disputes (with their lines, orders, producers and buyers, joined), its count, the
    # site's settings.
    assert many == 4


def test_disputes_list_is_paginated_and_keeps_its_status_filter(coop, client, monkeypatch):  # noqa: F811
    _disputes(coop, 7, 0)
    decided = db.session.query(Dispute).order_by(Dispute.id).first()
    services.resolve_dispute(get_admin(), decided.id, DisputeStatus.REJECTED, 0, "Pickup hours were posted")
    db.session.commit()
    monkeypatch.setattr(services, "DISPUTES_PER_PAGE", 5)
    login(client, coop["admin"])
    first = client.get("/disputes/admin").get_data(as_text=True)
    second = client.get("/disputes/admin?page=2&status=open").get_data(as_text=True)
    assert len(ROW.findall(first)) == 5 and "Page 1 of 2" in first
    assert "/disputes/admin?page=2&amp;status=open" in first
    # The page beyond the first: the oldest open dispute but the decided one (newest first), none shown twice.
    open_ids = [d.id for d in db.session.query(Dispute).filter(Dispute.id != decided.id).order_by(Dispute.id)]
    assert ROW.findall(second) == [f'<td><a href="/disputes/{open_ids[0]}">'] and "Page 2 of 2" in second
    assert f'href="/disputes/{decided.id}"' not in first + second
    every = client.get("/disputes/admin?status=all&page=2").get_data(as_text=True)
    assert len(ROW.findall(every)) == 2 and "/disputes/admin?page=1&amp;status=all" in every
    assert f'href="/disputes/{decided.id}"' in every
    assert _rows(client, "/disputes/admin?page=3") == 0
    assert _queries(client, "/disputes/admin?page=2") == _queries(client, "/disputes/admin")


def test_a_producers_disputes_are_paginated_too(coop, client, monkeypatch):  # noqa: F811
    """The parties' list (/disputes/) was cut at 500 without a word: a page at a time now."""
    _disputes(coop, 7, 0)
    monkeypatch.setattr(services, "DISPUTES_PER_PAGE", 5)
    login(client, coop["ferme"])
    newest_first = [d.id for d in db.session.query(Dispute).order_by(Dispute.id.desc())]
    first = client.get("/disputes/").get_data(as_text=True)
    second = client.get("/disputes/?page=2").get_data(as_text=True)
    assert ROW.findall(first) == [f'<td><a href="/disputes/{i}">' for i in newest_first[:5]] and "Page 1 of 2" in first
    assert ROW.findall(second) == [f'<td><a href="/disputes/{i}">' for i in newest_first[5:]]
    assert "Page 2 of 2" in second and "/disputes/?page=1" in second
    assert _queries(client, "/disputes/?page=2") == _queries(client, "/disputes/")
