"""Fee at cost, through the web pages (SQLite): forms, buttons, statements, PDF, transparency."""
from __future__ import annotations

from datetime import timedelta

import pytest

from marketplace.billing.models import BillingPeriod, CostEntry, FeeRuleVersion, PeriodStatus, Statement
from marketplace.extensions import db
from marketplace.members.models import College
from tests.billing_fixtures import LineSpec, add_cost, adopt_rule, last_month, make_sale, past_distribution
from tests.factories import PASSWORD, get_admin, login, make_member, make_producer
from tests.refusals import refused


@pytest.fixture
def setup(app):
    month = last_month()
    producer = make_producer("farm@test.coop", "Ferme du Test")
    buyer = make_member("buyer@test.coop", College.BUYER)
    make_sale(buyer, producer, past_distribution(month + timedelta(days=5), [producer]),
              [LineSpec(price_cents=2_000, quantity=3)])
    adopt_rule({"producer": 300, "buyer": 50}, {"producer": 1, "buyer": 1})
    admin = get_admin()
    db.session.commit()
    return month, producer, buyer, admin


def _cost_form(month, amount="42.50", **extra):
    data = {"category": "hosting", "amount": amount, "vat": "7.08", "supplier": "Hoster", "note": "",
            "incurred_on": (month + timedelta(days=3)).isoformat()}
    data.update(extra)
    return data


def test_admin_records_a_cost_and_closes(setup, client) -> None:
    month, producer, buyer, admin = setup
    login(client, admin)
    response = client.post("/admin/billing", data=_cost_form(month))
    assert response.status_code == 302
    assert db.session.query(CostEntry).one().amount_cents == 4_250
    page = client.get("/admin/billing")
    assert page.status_code == 200 and b"Hoster" in page.data
    response = client.post("/admin/billing/close", data={"month": month.isoformat()})
    assert response.status_code == 302
    period = db.session.query(BillingPeriod).filter_by(starts_on=month).one()
    assert period.status == PeriodStatus.CLOSED and period.billed_cents == 4_250
    assert client.get(f"/admin/billing/periods/{period.id}").status_code == 200
    back, errors = refused(client, "/admin/billing/close", {"month": month.isoformat()})
    assert back == "/admin/billing" and len(errors) == 1 and "already closed" in errors[0]
    back, errors = refused(client, "/admin/billing/close", {"month": "last month"})
    assert back == "/admin/billing" and errors == ["Choose the month to close."]


@pytest.mark.parametrize("amount", ["-5", "abc", "1e3", "12.345", "0", ""])
def test_bad_amount_in_the_form_records_nothing(setup, client, amount) -> None:
    month, _p, _b, admin = setup
    login(client, admin)
    response = client.post("/admin/billing", data=_cost_form(month, amount=amount))
    assert response.status_code == 400
    assert b"amount" in response.data.lower()
    assert db.session.query(CostEntry).count() == 0


def test_non_admin_cannot_close_or_see_the_ledger(setup, client) -> None:
    month, producer, _b, _a = setup
    add_cost(1_000, month)
    db.session.commit()
    login(client, producer)
    assert client.post("/admin/billing/close", data={"month": month.isoformat()}).status_code == 403
    assert client.get("/admin/billing").status_code == 403
    assert client.post("/admin/billing", data=_cost_form(month)).status_code == 403
    assert db.session.query(BillingPeriod).one().status == PeriodStatus.OPEN
    assert db.session.query(Statement).count() == 0 and db.session.query(CostEntry).count() == 1


def test_anonymous_close_is_refused(setup, client) -> None:
    month = setup[0]
    response = client.post("/admin/billing/close", data={"month": month.isoformat()})
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert db.session.query(Statement).count() == 0


def test_statement_page_pdf_and_transparency_agree(setup, client) -> None:
    month, producer, buyer, admin = setup
    add_cost(4_250, month)
    db.session.commit()
    login(client, admin)
    client.post("/admin/billing/close", data={"month": month.isoformat()})
    client.post("/logout")
    statement = db.session.query(Statement).filter_by(user_id=producer.id).one()
    login(client, producer)
    listing = client.get("/billing")
    assert listing.status_code == 200 and f"/billing/statements/{statement.id}".encode() in listing.data
    page = client.get(f"/billing/statements/{statement.id}")
    assert page.status_code == 200 and b"60.00" in page.data  # activity: 3 x 20.00
    pdf = client.get(f"/billing/statements/{statement.id}.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    other = db.session.query(Statement).filter_by(user_id=buyer.id).one()
    assert client.get(f"/billing/statements/{other.id}").status_code == 404
    assert client.get(f"/billing/statements/{other.id}.pdf").status_code == 404
    client.post("/logout")
    public = client.get("/transparency")
    assert public.status_code == 200
    assert b"42.50" in public.data and b"<svg" in public.data


def test_rule_form_refuses_weights_summing_to_nothing(setup, client) -> None:
    login(client, setup[3])
    count = db.session.query(FeeRuleVersion).count()
    data = {f"rule-flat_{c}": "0" for c in ("producer", "courier", "buyer", "supporter")}
    data.update({f"rule-weight_{c}": "0" for c in ("producer", "courier", "buyer", "supporter")})
    data["rule-effective_from"] = last_month().isoformat()
    response = client.post("/admin/billing/rules", data=data)
    assert response.status_code == 400 and b"sum to nothing" in response.data
    data["rule-weight_buyer"] = "-1"
    assert client.post("/admin/billing/rules", data=data).status_code == 400
    data["rule-weight_buyer"] = "abc"
    assert client.post("/admin/billing/rules", data=data).status_code == 400
    assert db.session.query(FeeRuleVersion).count() == count
    data["rule-weight_buyer"] = "3"
    assert client.post("/admin/billing/rules", data=data).status_code == 302
    assert db.session.query(FeeRuleVersion).count() == count + 1


def test_member_votes_from_their_page(setup, client) -> None:
    month, producer, _b, admin = setup
    login(client, admin)
    data = {f"rule-flat_{c}": "0" for c in ("producer", "courier", "buyer", "supporter")}
    data.update({f"rule-weight_{c}": "1" for c in ("producer", "courier", "buyer", "supporter")})
    data["rule-effective_from"] = month.isoformat()
    client.post("/admin/billing/rules", data=data)
    rule = db.session.query(FeeRuleVersion).order_by(FeeRuleVersion.version.desc()).first()
    client.post("/logout")
    login(client, producer)
    assert client.post(f"/billing/rules/{rule.id}/vote", data={"choice": "for"}).status_code == 302
    back, errors = refused(client, f"/billing/rules/{rule.id}/vote", {"choice": "bogus"})
    assert back == "/billing" and errors == ["Vote for, against, or abstain."]
    assert b"You voted" in client.get("/billing").data
    client.post("/logout")
    login(client, admin)
    assert client.get("/admin/billing/rules").status_code == 200
    assert client.post(f"/admin/billing/rules/{rule.id}/tally").status_code == 302
