"""Member accounts: the ledger's rules, the member's and the admins' pages."""
from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from marketplace.accounts import services as accounts
from marketplace.accounts.models import AccountMovement, Means, MovementKind
from marketplace.audit.models import AuditEntry
from marketplace.core.errors import Conflict, NotAllowed, ServiceError
from marketplace.core.models import OutboundEmail
from marketplace.extensions import db
from tests.admin_fixtures import coop  # noqa: F401
from tests.factories import login


def test_the_balance_is_the_sum_of_the_movements_and_each_is_audited(coop):
    buyer, admin = coop["other_buyer"], coop["admin"]
    accounts.record_top_up(admin, buyer.id, 2000, Means.CASH, "Envelope at the pickup")
    accounts.post_movement(buyer.id, MovementKind.ORDER_PAYMENT, -1250, order_id=coop["done_order"].id)
    accounts.adjust(admin, buyer.id, -50, "Rounding agreed with Marie")
    db.session.commit()
    assert accounts.balance_cents(buyer.id) == 700
    assert [m.amount_cents for m in accounts.movements_of(buyer.id)] == [-50, -1250, 2000]
    actions = [e.action for e in db.session.query(AuditEntry).order_by(AuditEntry.id)
               if e.action.startswith("account.")]
    assert actions[-3:] == ["account.top_up", "account.order_payment", "account.adjustment"]


def test_no_balance_goes_below_zero_except_by_a_carried_over_difference_below_the_limit(coop):
    buyer = coop["other_buyer"]
    accounts.post_movement(buyer.id, MovementKind.TOP_UP, 300, means=Means.CASH)
    with pytest.raises(Conflict):
        accounts.post_movement(buyer.id, MovementKind.ORDER_PAYMENT, -301)
    with pytest.raises(Conflict):
        accounts.adjust(coop["admin"], buyer.id, -301, "Too much")
    accounts.post_movement(buyer.id, MovementKind.ORDER_PAYMENT, -300)
    accounts.post_movement(buyer.id, MovementKind.CARRY_OVER, -199)  # the default limit is 2.00
    with pytest.raises(Conflict):
        accounts.post_movement(buyer.id, MovementKind.CARRY_OVER, -2)
    assert accounts.balance_cents(buyer.id) == -199


@pytest.mark.parametrize("kind, amount", [(MovementKind.TOP_UP, -100), (MovementKind.DISPUTE_CREDIT, -1),
                                          (MovementKind.ORDER_PAYMENT, 100), (MovementKind.PAYBACK, 5),
                                          (MovementKind.TOP_UP, 0), (MovementKind.TOP_UP, 10**9)])
def test_each_kind_has_its_sign_and_amounts_are_bounded(coop, kind, amount):
    with pytest.raises(ServiceError):
        accounts.post_movement(coop["other_buyer"].id, kind, amount)


def test_an_adjustment_needs_a_reason_and_an_admin(coop):
    with pytest.raises(ServiceError) as refusal:
        accounts.adjust(coop["admin"], coop["other_buyer"].id, 100, "   ")
    assert refusal.value.field == "reason"
    with pytest.raises(NotAllowed):
        accounts.adjust(coop["other_buyer"], coop["other_buyer"].id, 100, "I deserve it")


def test_the_same_fact_is_posted_once(coop):
    first = accounts.post_movement(coop["other_buyer"].id, MovementKind.DISPUTE_CREDIT, 560, key="dispute:1")
    again = accounts.post_movement(coop["other_buyer"].id, MovementKind.DISPUTE_CREDIT, 560, key="dispute:1")
    assert first.id == again.id and accounts.balance_cents(coop["other_buyer"].id) == 560


@pytest.mark.parametrize("statement", ["UPDATE account_movements SET amount_cents = 99999",
                                       "DELETE FROM account_movements"])
def test_movements_are_append_only_in_the_database(coop, statement):
    accounts.post_movement(coop["other_buyer"].id, MovementKind.TOP_UP, 500, means=Means.CASH)
    db.session.commit()
    with pytest.raises(DatabaseError):
        db.session.execute(text(statement + f" WHERE user_id = {coop['other_buyer'].id}"))
    db.session.rollback()
    assert db.session.query(AccountMovement).filter_by(user_id=coop["other_buyer"].id).one().amount_cents == 500


def test_the_member_sees_movements_with_reason_and_order_and_asks_for_the_balance_back(coop, client):
    accounts.post_movement(coop["other_buyer"].id, MovementKind.DISPUTE_CREDIT, 560, reason="Mouldy carrots",
                           order_id=coop["done_order"].id)
    db.session.commit()
    login(client, coop["other_buyer"])
    page = client.get("/account/").get_data(as_text=True)
    assert "Mouldy carrots" in page and coop["done_order"].reference in page and "€5.60" in page
    assert client.post("/account/payback").status_code == 302
    assert any("balance back" in e.subject for e in db.session.query(OutboundEmail).filter_by(
        recipient="admin@test.coop"))
    assert client.get(f"/account/admin/{coop['other_buyer'].id}").status_code == 403
    assert client.get(f"/account/admin/{coop['buyer'].id}").status_code == 403


def test_an_admin_records_a_top_up_an_adjustment_and_a_payback(coop, client):
    buyer_id = coop["other_buyer"].id
    login(client, coop["admin"])
    assert client.get(f"/account/admin/{buyer_id}").status_code == 200
    assert client.post(f"/account/admin/{buyer_id}/top-up",
                       data={"means": "cheque", "amount": "20", "note": "Cheque 1234"}).status_code == 302
    refused = client.post(f"/account/admin/{buyer_id}/adjust", data={"direction": "debit", "amount": "1",
                                                                     "reason": ""})
    assert refused.status_code == 400
    assert client.post(f"/account/admin/{buyer_id}/adjust", data={"direction": "debit", "amount": "1.50",
                                                                  "reason": "Bag fee"}).status_code == 302
    assert client.post(f"/account/admin/{buyer_id}/adjust", data={"direction": "debit", "amount": "100",
                                                                  "reason": "Too much"}).status_code == 409
    assert accounts.balance_cents(buyer_id) == 1850
    page = client.get("/account/admin").get_data(as_text=True)
    assert "€18.50" in page and "The balances and the ledger agree." in page
    assert client.post(f"/account/admin/{buyer_id}/payback", data={"means": "cash"}).status_code == 302
    assert accounts.balance_cents(buyer_id) == 0
    kinds = [(m.kind, m.means) for m in accounts.movements_of(buyer_id)]
    assert kinds == [(MovementKind.PAYBACK, Means.CASH), (MovementKind.ADJUSTMENT, None),
                     (MovementKind.TOP_UP, Means.CHEQUE)]
    assert client.get("/account/admin/999999").status_code == 404


def test_only_erasure_may_rewrite_a_reason_never_an_amount(coop):
    accounts.post_movement(coop["other_buyer"].id, MovementKind.TOP_UP, 500, means=Means.CASH, reason="From Marie Curie")
    db.session.commit()
    db.session.execute(text(f"UPDATE account_movements SET reason = 'From […]' WHERE user_id = {coop['other_buyer'].id}"))
    db.session.commit()
    assert db.session.query(AccountMovement).filter_by(user_id=coop["other_buyer"].id).one().reason == "From […]"


def test_leaving_the_coop_settles_the_account_first_and_keeps_its_movements(coop, client):
    from marketplace.members.models import User
    from tests.factories import PASSWORD

    user_id = coop["other_buyer"].id
    orders_open = coop["open_order"]
    from marketplace.orders import services as orders

    orders.cancel_order(coop["other_buyer"], orders_open.id)
    accounts.record_top_up(coop["admin"], user_id, 700, Means.CASH, "Cash from Paul Other")
    db.session.commit()
    login(client, coop["other_buyer"])
    erase = {"password": PASSWORD, "confirmation": "ERASE"}
    assert client.post("/me/data/erase", data=erase).status_code == 409
    accounts.record_payback(coop["admin"], user_id, Means.CASH)
    db.session.commit()
    assert client.post("/me/data/erase", data=erase).status_code == 302
    db.session.expire_all()
    assert db.session.get(User, user_id).full_name != "Paul Other"
    movements = accounts.movements_of(user_id)
    assert [m.amount_cents for m in movements] == [-700, 700] and accounts.balance_cents(user_id) == 0
    assert "Paul Other" not in movements[1].reason


def test_the_overdraft_rule_is_a_published_setting_the_admin_changes(coop, client):
    login(client, coop["admin"])
    page = client.get("/admin/settings").get_data(as_text=True)
    assert 'name="account_carry_over_cents"' in page and 'value="200"' in page
    form = {k: v for k, v in _settings_form(page).items()}
    form["account_carry_over_cents"] = "50"
    assert client.post("/admin/settings", data=form).status_code == 302
    assert accounts.carry_over_limit_cents() == 50
    with pytest.raises(Conflict):
        accounts.post_movement(coop["other_buyer"].id, MovementKind.CARRY_OVER, -51)
    from flask import g

    g.pop("coop", None)  # the test holds one app context for every request: forget its cached settings
    assert "€0.50" in client.get("/account/").get_data(as_text=True)
    assert "€0.50" in client.get("/transparency").get_data(as_text=True)


def _settings_form(page: str) -> dict:
    """The settings form's current values, as a browser would post them back."""
    import re

    values = dict(re.findall(r'<input[^>]*name="([a-z_]+)"[^>]*value="([^"]*)"', page))
    values.update({m[0]: m[1] for m in re.findall(r'<select[^>]*name="([a-z_]+)".*?<option[^>]*selected[^>]*value="([^"]*)"',
                                                   page, re.S)})
    values.pop("csrf_token", None)
    return values
