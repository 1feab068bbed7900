"""AMAP contracts and standing orders on SQLite: subscribing, absences, the schedule, and order creation that
happens exactly once per subscriber and distribution (run twice, crashed in the middle, run late)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from marketplace.catalog.models import Product
from marketplace.contracts import services, tasks
from marketplace.contracts.models import DeliveryOutcome, PaymentMeans, SubscriptionDelivery
from marketplace.contracts.pdf import contract_pdf
from marketplace.core.errors import Conflict, ServiceError
from marketplace.core.models import OutboundEmail
from marketplace.extensions import db
from marketplace.orders import documents
from marketplace.orders import services as orders
from marketplace.orders.models import Order
from marketplace.orders.states import LineStatus, PartStatus, PaymentStatus
from tests.contracts_fixtures import CONTRACT_TEXT, make_contract, make_season, offer
from tests.factories import get_admin, make_member, make_producer, make_product


@pytest.fixture
def amap(app):
    ferme = make_producer("ferme@test.coop", "Ferme du Marais")
    leeks = make_product(ferme, "Leeks", price_cents=250, stock=None)
    potatoes = make_product(ferme, "Potatoes", price_cents=400, stock=None)
    season = make_season([ferme], weeks=4)
    contract = make_contract(ferme, season, [(leeks.variants[0].id, 2), (potatoes.variants[0].id, 1)])
    members = [make_member(f"member{i}@test.coop") for i in range(3)]
    db.session.commit()
    return dict(ferme=ferme, leeks=leeks, potatoes=potatoes, season=season, contract=contract, members=members)


def _subscribe_all(amap, means=PaymentMeans.CHEQUE):
    subs = [services.subscribe(m, amap["contract"].id, accepted_version=1, means=means) for m in amap["members"]]
    db.session.commit()
    return subs


def _orders_per_member(distribution_id: int) -> dict[int, int]:
    counts: dict[int, int] = {}
    for order in db.session.query(Order).filter_by(distribution_id=distribution_id):
        counts[order.buyer_id] = counts.get(order.buyer_id, 0) + 1
    return counts


def test_subscribing_keeps_the_text_version_and_date_and_makes_the_schedule(amap):
    [sub, *_] = _subscribe_all(amap)
    assert sub.accepted_version == 1 and sub.accepted_at is not None
    mail = db.session.query(OutboundEmail).filter(OutboundEmail.recipient == "member0@test.coop",
                                                  OutboundEmail.subject.contains("Your contract")).one()
    assert "version 1" in mail.body and "4 deliveries" in mail.body and "€24.00" in mail.body
    # 4 deliveries × 18.00 in 3 instalments, the leftover cent on the first.
    assert [row.amount_cents for row in sorted(sub.instalment_rows, key=lambda r: r.number)] == [2400, 2400, 2400]
    services.revise_text(amap["ferme"], amap["contract"].id, CONTRACT_TEXT + " Revised.")
    db.session.commit()
    assert sub.accepted_version == 1  # the member keeps the version they accepted
    with pytest.raises(ServiceError):  # a new member must accept the text as it now reads
        services.subscribe(make_member("late@test.coop"), amap["contract"].id, accepted_version=1,
                           means=PaymentMeans.CHEQUE)
    pdf = contract_pdf(sub)
    assert pdf.startswith(b"%PDF") and len(pdf) > 1000


def test_the_order_task_run_twice_makes_one_order_per_subscriber(amap):
    _subscribe_all(amap)
    first = amap["season"][0]
    assert tasks.create_due_orders() == 3
    assert tasks.create_due_orders() == 0
    db.session.expire_all()
    assert _orders_per_member(first.id) == {m.id: 1 for m in amap["members"]}
    # Only the open window is served: next week's distribution has no order yet.
    assert _orders_per_member(amap["season"][1].id) == {}
    order = db.session.query(Order).filter_by(buyer_id=amap["members"][0].id).one()
    assert order.origin == "contract" and order.quantities_locked and order.payment_status == PaymentStatus.PAID
    assert sorted((line.product_name, line.quantity) for p in order.parts for line in p.lines) == \
        [("Leeks", 2), ("Potatoes", 1)]
    assert db.session.query(OutboundEmail).filter(OutboundEmail.recipient == "member0@test.coop",
                                                  OutboundEmail.subject.contains(order.reference)).count() == 1


def test_a_crash_in_the_middle_keeps_what_was_done_and_the_rerun_does_the_rest_once(amap, monkeypatch):
    _subscribe_all(amap)
    first = amap["season"][0]
    from marketplace.contracts.services import ordering

    real = ordering.place_subscription_order
    calls = {"n": 0}

    def crash_on_the_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("worker killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(ordering, "place_subscription_order", crash_on_the_third)
    with pytest.raises(RuntimeError):
        tasks.create_due_orders()
    db.session.rollback()  # what the task boundary does with an exception: the third subscriber left nothing
    assert sum(_orders_per_member(first.id).values()) == 2
    assert db.session.query(SubscriptionDelivery).count() == 2
    monkeypatch.setattr(ordering, "place_subscription_order", real)
    assert tasks.create_due_orders() == 1
    assert tasks.create_due_orders() == 0
    assert _orders_per_member(first.id) == {m.id: 1 for m in amap["members"]}


def test_run_a_day_late_or_only_at_the_cut_off_still_one_order_each(amap):
    _subscribe_all(amap)
    first, second = amap["season"][0], amap["season"][1]
    # The first week's window opened a day ago (the fixture), the second's a day before this late run.
    assert services.create_due_orders() == 3
    late = second.opens_at + timedelta(days=1)
    assert services.create_due_orders(now=late) == 3  # the second week's (the first one's pickup is over)
    assert services.create_due_orders(now=late) == 0
    db.session.commit()
    assert _orders_per_member(second.id) == {m.id: 1 for m in amap["members"]}
    # A third week never swept before its cut-off: the cut-off makes the missing orders before the harvest list.
    third = amap["season"][2]
    assert orders.close_distribution(third.id, now=third.cutoff_at + timedelta(minutes=1))
    db.session.commit()
    assert _orders_per_member(third.id) == {m.id: 1 for m in amap["members"]}
    assert services.create_due_orders(now=third.cutoff_at + timedelta(hours=1)) == 0
    assert _orders_per_member(first.id) == {m.id: 1 for m in amap["members"]}


def test_a_line_that_cannot_be_served_is_reported_on_that_line(amap):
    _subscribe_all(amap)
    first = amap["season"][0]
    # The producer brings 2 bunches of leeks (one basket's worth) and no potatoes at all this week.
    offer(first, amap["ferme"], amap["leeks"].variants[0].id, 2)
    db.session.commit()
    assert tasks.create_due_orders() == 3
    by_member = {o.buyer_id: o for o in db.session.query(Order).filter_by(distribution_id=first.id)}
    lucky = by_member[amap["members"][0].id]
    lines = {line.product_name: line for p in lucky.parts for line in p.lines}
    assert lines["Leeks"].status == LineStatus.ACTIVE and lines["Potatoes"].status == LineStatus.REJECTED
    assert lines["Potatoes"].rejection_reason == "not_offered"
    unlucky = {line.product_name: line for p in by_member[amap["members"][1].id].parts for line in p.lines}
    assert unlucky["Leeks"].rejection_reason == "sold_out"
    mail = db.session.query(OutboundEmail).filter(OutboundEmail.recipient == "member1@test.coop",
                                                  OutboundEmail.subject.contains("placed for you")).one()
    assert "Sold out" in mail.body and "Not offered" in mail.body


def test_an_absence_means_no_basket_and_the_packing_list_says_who(amap):
    subs = _subscribe_all(amap)
    first = amap["season"][0]
    absent, handed = amap["members"][0], amap["members"][1]
    # Declared before the order is made: no order at all; after: the order's parts are cancelled.
    services.declare_absence(absent, subs[0].id, first.id)
    db.session.commit()
    tasks.create_due_orders()
    services.declare_absence(handed, subs[1].id, first.id, handover_to="Paul Martin")
    db.session.commit()
    claim = db.session.query(SubscriptionDelivery).filter_by(subscription_id=subs[0].id).one()
    assert claim.outcome == DeliveryOutcome.ABSENT and claim.order_id is None
    harvest = {row.product_name: row.quantity for row in orders.harvest_totals(first.id,
                                                                               amap["ferme"].producer_profile.id)}
    assert harvest == {"Leeks": 4, "Potatoes": 2}  # two baskets prepared: the hand-over's and the third member's
    doc = documents.packing_list(first.id, amap["ferme"].producer_profile.id)
    notes = [(row[0], row[4]) for row in doc.rows if row[0].startswith(("Absent", "Collected"))]
    assert notes == [("Absent: no basket to prepare", absent.full_name),
                     ("Collected by Paul Martin", handed.full_name)]
    sheet = [row[0] for row in documents.pickup_sheet(first.id).rows]
    assert f"{handed.full_name} (collected by Paul Martin)" in sheet and absent.full_name not in sheet
    # Absent after the order was made: its parts are cancelled, and back again when the member withdraws it.
    services.declare_absence(handed, subs[1].id, first.id)
    db.session.commit()
    order = db.session.query(Order).filter_by(buyer_id=handed.id).one()
    assert all(p.status == PartStatus.CANCELLED and p.cancel_reason == "absent" for p in order.parts)
    services.withdraw_absence(handed, subs[1].id, first.id)
    db.session.commit()
    live = [o for o in db.session.query(Order).filter_by(buyer_id=handed.id) if o.status != "cancelled"]
    assert len(live) == 1


def test_allowed_absences_are_not_charged_and_the_schedule_follows(amap):
    subs = _subscribe_all(amap)
    sub, member = subs[0], amap["members"][0]
    services.record_instalment(get_admin(), sub.id, PaymentMeans.CHEQUE)
    db.session.commit()
    for distribution in amap["season"][:3]:  # three absences, two allowed: one is charged
        services.declare_absence(member, sub.id, distribution.id)
    db.session.commit()
    assert services.amount_cents(sub) == 1800 * 2
    rows = sorted(sub.instalment_rows, key=lambda r: r.number)
    assert rows[0].paid_cents == 2400 and [r.amount_cents for r in rows[1:]] == [600, 600]
    assert sum(r.amount_cents for r in rows) == services.amount_cents(sub)
    assert services.absences_left(sub) == 0


def test_an_instalment_paid_from_the_member_account(amap):
    from marketplace.accounts import services as accounts
    from marketplace.accounts.models import Means

    subs = _subscribe_all(amap, means=PaymentMeans.ACCOUNT)
    member = amap["members"][0]
    with pytest.raises(Conflict):  # an empty account pays nothing
        services.pay_instalment_from_account(member, subs[0].id)
    db.session.rollback()
    accounts.record_top_up(get_admin(), member.id, 5000, Means.CASH)
    services.pay_instalment_from_account(member, subs[0].id)
    db.session.commit()
    assert accounts.balance_cents(member.id) == 5000 - 2400


def test_baskets_cannot_be_changed_unless_the_contract_allows(amap):
    subs = _subscribe_all(amap)
    with pytest.raises(Conflict):
        services.set_baskets(amap["members"][0], subs[0].id, amap["season"][0].id, 2)


def test_a_standing_order_repeats_the_basket_until_stopped(amap):
    member = make_member("weekly@test.coop")
    first, second = amap["season"][0], amap["season"][1]
    sub = services.start_standing_order(member, first.series_key, {amap["potatoes"].variants[0].id: 3})
    db.session.commit()
    services.create_due_orders()
    order = db.session.query(Order).filter_by(buyer_id=member.id).one()
    assert order.origin == "standing" and order.payment_status == PaymentStatus.DUE and not order.quantities_locked
    assert order.goods_estimated_cents == 3 * 400
    services.stop_standing_order(member, sub.id)
    db.session.commit()
    assert services.create_due_orders(now=second.opens_at + timedelta(minutes=1)) == 0  # stopped: nothing more
    assert db.session.query(Order).filter_by(buyer_id=member.id).count() == 1


def test_a_contract_order_is_changed_on_the_contract_page_not_line_by_line(amap):
    subs = _subscribe_all(amap)
    tasks.create_due_orders()
    order = db.session.query(Order).filter_by(buyer_id=amap["members"][0].id).one()
    line = order.parts[0].lines[0]
    with pytest.raises(Conflict):
        orders.change_line_quantity(amap["members"][0], order.id, line.id, 5)
    assert subs[0].id


def test_a_producer_cannot_put_another_producers_products_in_a_contract(amap):
    other = make_producer("other@test.coop", "Autre ferme")
    cheese = make_product(other, "Cheese", price_cents=500, stock=None)
    with pytest.raises(ServiceError):
        make_contract(amap["ferme"], amap["season"], [(cheese.variants[0].id, 1)])
    assert db.session.query(Product).count() == 3


def test_changing_the_baskets_resizes_the_order_and_the_amount(app):
    ferme = make_producer("ferme@test.coop", "Ferme du Marais")
    leeks = make_product(ferme, "Leeks", price_cents=250, stock=20)
    season = make_season([ferme], weeks=2)
    contract = make_contract(ferme, season, [(leeks.variants[0].id, 2)], changeable=True, instalments=1)
    member = make_member("member@test.coop")
    sub = services.subscribe(member, contract.id, accepted_version=1, means=PaymentMeans.CHEQUE)
    db.session.commit()
    tasks.create_due_orders()
    services.set_baskets(member, sub.id, season[0].id, 3)
    db.session.commit()
    order = db.session.query(Order).filter_by(buyer_id=member.id).one()
    assert [line.quantity for p in order.parts for line in p.lines] == [6]
    assert db.session.get(Product, leeks.id).stock == 20 - 6
    assert services.amount_cents(sub) == 1800 * (3 + 1)
    assert [row.amount_cents for row in sub.instalment_rows] == [1800 * 4]
    services.set_baskets(member, sub.id, season[0].id, 0)  # skip this week: not an absence, nothing charged
    db.session.commit()
    assert order.status == "cancelled" and db.session.get(Product, leeks.id).stock == 20
    assert services.amount_cents(sub) == 1800 and services.absences_left(sub) == 2


def test_a_standing_order_from_the_cart_starts_after_this_weeks_checkout(amap, client):
    from tests.factories import login

    member = make_member("weekly@test.coop")
    first = amap["season"][0]
    orders.choose_distribution(member, first.id)
    orders.add_to_cart(member, amap["potatoes"].id, 2)
    db.session.commit()
    login(client, member)
    response = client.post("/standing-orders/from-cart")
    assert response.status_code == 303
    assert services.create_due_orders() == 0  # this week's basket is the member's own checkout
    second = amap["season"][1]
    assert services.create_due_orders(now=second.opens_at) == 1
    order = db.session.query(Order).filter_by(buyer_id=member.id).one()
    assert order.distribution_id == second.id and order.origin == "standing"


def test_subscribing_without_ticking_the_box_is_refused_with_a_reason(amap, client):
    from tests.factories import login

    login(client, amap["members"][0])
    response = client.post(f"/contracts/{amap['contract'].id}/subscribe",
                           data={"version": "1", "means": "cheque"}, follow_redirects=True)
    assert "Tick the box to accept" in response.get_data(as_text=True)
    assert services.subscriptions_of(amap["members"][0]) == []
    response = client.post(f"/contracts/{amap['contract'].id}/subscribe",
                           data={"version": "1", "means": "cheque", "accept": "1"})
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "text version 1" in page and "Declare an absence" in page


def test_one_subscribers_refusal_does_not_stop_the_others(amap, monkeypatch):
    _subscribe_all(amap)
    from marketplace.contracts.services import ordering

    real = ordering.place_subscription_order

    def refuse_the_second(buyer, *args, **kwargs):
        if buyer.id == amap["members"][1].id:
            raise Conflict("refused for this one")
        return real(buyer, *args, **kwargs)

    monkeypatch.setattr(ordering, "place_subscription_order", refuse_the_second)
    assert tasks.create_due_orders() == 2
    monkeypatch.setattr(ordering, "place_subscription_order", real)
    assert tasks.create_due_orders() == 1  # its claim was undone with it: the next sweep makes it
    assert _orders_per_member(amap["season"][0].id) == {m.id: 1 for m in amap["members"]}


def test_a_producer_defines_a_contract_through_the_form(app, client):
    from tests.factories import login

    ferme = make_producer("ferme@test.coop", "Ferme du Marais")
    leeks = make_product(ferme, "Leeks", price_cents=250, stock=None)
    season = make_season([ferme], weeks=3)
    db.session.commit()
    login(client, ferme)
    form = {"title": "Panier d'hiver", "series_key": season[0].series_key, "variant_0": str(leeks.variants[0].id),
            "quantity_0": "2", "price": "15.50", "instalments": "3", "means": ["cheque", "bank_transfer"],
            "allowed_absences": "2", "text": "Un panier par semaine."}
    refused = client.post("/manage/contracts/new", data={**form, "price": "quinze"}, follow_redirects=True)
    assert "Enter the price of one delivery" in refused.get_data(as_text=True)
    response = client.post("/manage/contracts/new", data=form)
    assert response.status_code == 303
    contract = services.managed_contracts(ferme)[0]
    assert (contract.price_per_delivery_cents, contract.instalments, contract.means, contract.allowed_absences) == \
        (1550, 3, [PaymentMeans.BANK_TRANSFER, PaymentMeans.CHEQUE], 2)
    assert [(item.variant_id, item.quantity) for item in contract.items] == [(leeks.variants[0].id, 2)]
    page = client.get(f"/contracts/{contract.id}").get_data(as_text=True)
    assert "Un panier par semaine." in page and page.count("<li>") >= 3  # the season's three distributions
