"""List pages run as many SQL statements for many rows as for few, and the members register is paginated."""
from __future__ import annotations

from marketplace.extensions import db
from marketplace.members.models import College
from marketplace.reports.services import MEMBERS_PER_PAGE
from tests.factories import get_admin, login, make_distribution, make_member, make_producer, make_product
from tests.unit.test_catalogue_querycount import _orders, _queries


def _shop():
    admin = get_admin()
    farms = [make_producer(f"farm{i}@test.coop", f"Ferme {i}") for i in range(2)]
    products = [make_product(farms[0], "Carrots", stock=500), make_product(farms[1], "Leeks", stock=500)]
    make_distribution(farms)
    db.session.commit()
    return admin, farms, products


def test_admin_orders_list_statement_count_does_not_follow_the_orders(app, client):
    admin, farms, products = _shop()
    _orders(farms[0], products, 3, 0)  # each order has two parts (two farms) of one line
    login(client, admin)
    few = _queries(client, "/admin/orders")
    assert client.get("/admin/orders").data.count(b"/admin/orders/") == 3
    _orders(farms[0], products, 17, 3)
    many = _queries(client, "/admin/orders")
    assert client.get("/admin/orders").data.count(b"/admin/orders/") == 20
    assert many == few, f"{few} statements for 3 orders, {many} for 20"
    # The member, the page's count and its rows (with their buyers, distributions and places, as columns), the
    # parts' statuses, what each is due summed in one statement, the filters' producers and places.
    assert many == 8


def test_admin_orders_list_is_paginated_and_keeps_its_filters(app, client, monkeypatch):
    from marketplace.admin import services

    admin, farms, products = _shop()
    _orders(farms[0], products, 7, 0)
    monkeypatch.setattr(services, "ORDERS_PER_PAGE", 5)
    login(client, admin)
    few = _queries(client, "/admin/orders")
    first = client.get(f"/admin/orders?producer={farms[1].producer_profile.id}").data
    second = client.get(f"/admin/orders?producer={farms[1].producer_profile.id}&page=2").data
    assert first.count(b'href="/admin/orders/') == 5 and b"Page 1 of 2" in first
    assert f"/admin/orders?page=2&amp;producer={farms[1].producer_profile.id}".encode() in first
    assert second.count(b'href="/admin/orders/') == 2 and b"Page 2 of 2" in second
    assert client.get("/admin/orders?page=3").data.count(b'href="/admin/orders/') == 0
    assert _queries(client, "/admin/orders?page=2") == few


def test_members_register_is_paginated_and_its_statement_count_does_not_follow_the_members(app, client):
    admin = get_admin()
    for i in range(4):
        make_member(f"m{i}@test.coop", College.BUYER)
    db.session.commit()
    login(client, admin)
    few = _queries(client, "/reports/members")
    for i in range(4, MEMBERS_PER_PAGE + 10):
        make_member(f"m{i}@test.coop", College.BUYER, name=f"Member {i:03d}")
    db.session.commit()
    many = _queries(client, "/reports/members")
    assert many == few, f"{few} statements for 5 members, {many} for {MEMBERS_PER_PAGE + 11}"
    first, second = client.get("/reports/members").data, client.get("/reports/members?page=2").data
    assert first.count(b'name="shares_count"') == MEMBERS_PER_PAGE  # the admin has no membership row
    assert second.count(b'name="shares_count"') == 10 and b"Page 2 of 2" in second


def test_admin_members_list_statement_count_does_not_follow_the_members(app, client):
    admin = get_admin()
    for i in range(3):
        make_member(f"m{i}@test.coop", College.BUYER, name=f"Member {i:03d}")
    db.session.commit()
    login(client, admin)
    few = _queries(client, "/admin/members")
    for i in range(3, 30):
        make_member(f"m{i}@test.coop", College.BUYER, name=f"Member {i:03d}")
    db.session.commit()
    many = _queries(client, "/admin/members")
    page = client.get("/admin/members").data
    assert page.count(b'data-testid="member-') == 30 and b"Member 029" in page and b"m29@test.coop" in page
    assert many == few, f"{few} statements for 3 members, {many} for 30"


def test_admin_members_list_is_paginated_and_keeps_its_filters(app, client, monkeypatch):
    from marketplace.admin import services

    admin = get_admin()
    for i in range(7):
        make_member(f"m{i}@test.coop", College.BUYER, name=f"Member {i:03d}")
    db.session.commit()
    make_member("amp@test.coop", College.BUYER, name="Member & <Co>")  # each name in its label, escaped
    db.session.commit()
    monkeypatch.setattr(services, "MEMBERS_PER_PAGE", 5)
    login(client, admin)
    assert b'aria-label="New status of Member &amp; &lt;Co&gt;"' in client.get("/admin/members?q=amp").data
    first = client.get("/admin/members?q=Member").data
    second = client.get("/admin/members?q=Member&page=2").data
    assert first.count(b'data-testid="member-') == 5 and b"Page 1 of 2" in first
    assert b"/admin/members?page=2&amp;q=Member" in first
    assert second.count(b'data-testid="member-') == 3 and b"Page 2 of 2" in second
    assert _queries(client, "/admin/members?q=Member&page=2") == _queries(client, "/admin/members?q=Member")


def test_admin_distribution_page_statement_count_does_not_follow_its_orders_and_it_is_paginated(app, client,
                                                                                                 monkeypatch):
    from marketplace.accounts import services as accounts
    from marketplace.accounts.models import Means
    from marketplace.admin import services
    from marketplace.distributions.models import Distribution
    from marketplace.members.models import User

    admin, farms, products = _shop()
    _orders(farms[0], products, 3, 0)
    distribution = db.session.query(Distribution).one()
    login(client, admin)
    url = f"/admin/distributions/{distribution.id}"
    few = _queries(client, url)
    _orders(farms[0], products, 17, 3)
    # Some buyers with a balance (one asking for it back): the handover's column reads every account at once.
    buyers = db.session.query(User).filter(User.email.like("buyer%")).order_by(User.id).all()
    for buyer in buyers[:4]:
        accounts.record_top_up(admin, buyer.id, 500, Means.CASH)
    accounts.request_payback(buyers[0])
    db.session.commit()
    many = _queries(client, url)
    page = client.get(url).get_data(as_text=True)
    assert page.count('data-testid="handover"') == 20 and "To pay: €4.00 (order €9.00, account €5.00)" in page
    assert many == few, f"{few} statements for 3 orders, {many} for 20"
    monkeypatch.setattr(services, "ORDERS_PER_PAGE", 15)
    second = client.get(f"{url}?page=2").get_data(as_text=True)
    assert second.count('data-testid="handover"') == 5 and "Page 2 of 2" in second
    # An order ready at the pickup gets the form to record what was received; a cancelled one no handover.
    from marketplace.orders.models import Order
    from marketplace.orders.states import PartStatus

    ready, cancelled = db.session.query(Order).order_by(Order.id).limit(2).all()
    for part in ready.parts:
        part.status = PartStatus.READY
    for part in cancelled.parts:
        part.status = PartStatus.CANCELLED
    db.session.commit()
    first = client.get(url).get_data(as_text=True)
    assert first.count('name="received"') == 1 and f'action="/admin/orders/{ready.id}/collected"' in first
    assert first.count('data-testid="handover"></td>') == 1


def test_handovers_of_many_orders_are_each_orders_handover(app):
    from marketplace.accounts import services as accounts
    from marketplace.accounts.models import Means
    from marketplace.orders.models import Order
    from marketplace.orders.services.account_payment import handover_due, handovers_due

    admin, farms, products = _shop()
    _orders(farms[0], products, 6, 0)
    orders_ = db.session.query(Order).order_by(Order.id).all()
    for i, order in enumerate(orders_[:4]):
        accounts.record_top_up(admin, order.buyer_id, 300 * (i + 1) + (2000 if i == 3 else 0), Means.CASH)
    accounts.request_payback(orders_[3].buyer)
    db.session.commit()
    many = handovers_due(orders_)
    assert many == {order.id: handover_due(order) for order in orders_}
    assert many[orders_[3].id].payback_requested and many[orders_[0].id].balance_cents == 300
    assert {h.to_collect_cents for h in many.values()} > {0}


def test_admin_emails_and_products_lists_are_paginated_in_a_fixed_number_of_statements(app, client, monkeypatch):
    from marketplace.admin import services
    from marketplace.core.models import OutboundEmail
    from marketplace.reports import console

    admin, farms, products = _shop()
    db.session.add_all(OutboundEmail(recipient=f"m{i}@test.coop", subject=f"Mail {i:02d}", body="-")
                       for i in range(3))
    db.session.commit()
    login(client, admin)
    few = (_queries(client, "/admin/emails"), _queries(client, "/admin/products"))
    db.session.add_all(OutboundEmail(recipient=f"m{i}@test.coop", subject=f"Mail {i:02d}", body="-")
                       for i in range(3, 12))
    for i in range(9):
        make_product(farms[i % 2], f"Produce {i}")
    db.session.commit()
    assert (_queries(client, "/admin/emails"), _queries(client, "/admin/products")) == few
    monkeypatch.setattr(services, "EMAILS_PER_PAGE", 5)
    monkeypatch.setattr(console, "PRODUCTS_PER_PAGE", 5)
    emails = [client.get(f"/admin/emails?page={n}").get_data(as_text=True) for n in (1, 3)]
    assert "Mail 11" in emails[0] and "Mail 07" in emails[0] and "Mail 06" not in emails[0]
    assert "Mail 01" in emails[1] and "Page 3 of 3" in emails[1]
    first = client.get("/admin/products?q=produce").get_data(as_text=True)
    second = client.get("/admin/products?q=produce&page=2").get_data(as_text=True)
    assert first.count('name="reason"') == 5 and "/admin/products?page=2&amp;q=produce" in first
    assert second.count('name="reason"') == 4 and "Page 2 of 2" in second


def test_payments_ledger_statement_count_does_not_follow_its_entries(app, client):
    from marketplace.orders.models import Order
    from marketplace.payments.models import LedgerEntry, LedgerKind

    admin, farms, products = _shop()
    _orders(farms[0], products, 12, 0)
    orders_ = db.session.query(Order).order_by(Order.id).all()

    def entries(these) -> None:
        db.session.add_all(LedgerEntry(kind=LedgerKind.CHARGE, amount_cents=900, order_id=o.id,
                                       reference=f"charge:{o.id}") for o in these)
        db.session.commit()

    entries(orders_[:2])
    login(client, admin)
    few = _queries(client, "/payments/admin/ledger")
    entries(orders_[2:])
    many = _queries(client, "/payments/admin/ledger")
    page = client.get("/payments/admin/ledger").get_data(as_text=True)
    assert all(o.reference in page for o in orders_)
    assert many == few, f"{few} statements for 2 ledger entries, {many} for 12"


def test_the_payments_ledger_reaches_every_entry_a_page_at_a_time(app, client, monkeypatch):
    """It showed the 300 newest entries on the reconciliation's page, and no older one anywhere."""
    from marketplace.payments import reconciliation
    from marketplace.payments.models import LedgerEntry, LedgerKind

    admin, _farms, _products = _shop()
    db.session.add_all(LedgerEntry(kind=LedgerKind.CHARGE, amount_cents=100 + n, reference=f"charge:ref-{n:02d}")
                       for n in range(7))
    db.session.commit()
    monkeypatch.setattr(reconciliation, "LEDGER_PER_PAGE", 5)
    login(client, admin)
    first, second = (client.get(f"/payments/admin/ledger?page={n}").get_data(as_text=True) for n in (1, 2))
    assert [f"ref-{n:02d}" in first for n in range(7)] == [False, False, True, True, True, True, True]
    assert [f"ref-{n:02d}" in second for n in range(7)] == [True, True, False, False, False, False, False]
    assert "Page 2 of 2" in second and "/payments/admin/ledger?page=2" in first
    login(client, _farms[0])
    assert client.get("/payments/admin/ledger").status_code == 403
