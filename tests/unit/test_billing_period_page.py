"""The admin's page of a closed billing period: its statements paginated, as many statements (SQL) for many members
as for few, each row's link, amounts and "mark paid" form as before."""
from __future__ import annotations

from datetime import timedelta

from marketplace.billing import services
from marketplace.billing.models import BillingPeriod, Statement
from marketplace.extensions import db
from marketplace.members.models import College
from tests.billing_fixtures import LineSpec, adopt_rule, last_month, make_sale, past_distribution
from tests.factories import get_admin, login, make_member, make_producer
from tests.unit.test_catalogue_querycount import _queries


def test_period_statements_are_paginated_in_a_fixed_number_of_statements(app, client, monkeypatch):
    month = last_month()
    producer = make_producer("farm@test.coop", "Ferme du Test")
    buyer = make_member("buyer@test.coop", College.BUYER, name="Anne Buyer")
    make_sale(buyer, producer, past_distribution(month + timedelta(days=5), [producer]),
              [LineSpec(price_cents=2_000, quantity=3)])
    adopt_rule({"producer": 300, "buyer": 50}, {"producer": 1, "buyer": 1})
    admin = get_admin()
    db.session.commit()
    login(client, admin)
    client.post("/admin/billing", data={"category": "hosting", "amount": "42.50", "vat": "7.08", "supplier": "H",
                                        "note": "", "incurred_on": (month + timedelta(days=3)).isoformat()})
    assert client.post("/admin/billing/close", data={"month": month.isoformat()}).status_code == 302
    period = db.session.query(BillingPeriod).filter_by(starts_on=month).one()
    url = f"/admin/billing/periods/{period.id}"
    few = _queries(client, url)
    for i in range(12):  # more members billed that month (their statements written as the closing writes them)
        member = make_member(f"m{i}@test.coop", College.BUYER, name=f"Member {i:02d}")
        db.session.add(Statement(period_id=period.id, user_id=member.id, college="buyer", flat_cents=100 + i,
                                 total_cents=100 + i))
    db.session.commit()
    many = _queries(client, url)
    page = client.get(url).get_data(as_text=True)
    statements = db.session.query(Statement).filter_by(period_id=period.id).all()
    assert all(f'href="/billing/statements/{s.id}">{s.user.full_name}</a>' in page for s in statements)
    assert page.count('name="reference"') == sum(1 for s in statements if s.total_cents > 0)
    assert many == few, f"{few} statements (SQL) for {len(statements) - 12} members, {many} for {len(statements)}"
    monkeypatch.setattr(services.statements, "STATEMENTS_PER_PAGE", 10)
    second = client.get(f"{url}?page=2").get_data(as_text=True)
    assert second.count('href="/billing/statements/') == len(statements) - 10 and "Page 2 of 2" in second
