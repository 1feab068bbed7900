"""Invoices vs instalments: a contract's orders cost what the contract charges, to the cent.

Property, through the services and the database: for any season (share, a basket over two producers whose
prices do not split evenly), absences, hand-overs and amendments made before or after the orders exist, the
sum of the subscriber's contract order totals == the rule's amount == the instalments' total. An absence
beyond the allowance keeps its order (the basket is prepared and owed): it is in the order totals."""
from __future__ import annotations

from datetime import timedelta
from itertools import count

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketplace.contracts import services, tasks
from marketplace.contracts.models import DeliveryOutcome, PaymentMeans, SubscriptionDelivery
from marketplace.core.errors import Conflict
from marketplace.distributions.services import cancel_distribution
from marketplace.extensions import db
from marketplace.invoicing.models import Invoice
from marketplace.orders import documents
from marketplace.orders import services as orders
from marketplace.orders.models import Order
from marketplace.orders.states import PartStatus
from marketplace.timeutil import utcnow
from tests.contracts_fixtures import make_contract, make_season
from tests.factories import get_admin, make_member, make_product
from tests.invoicing_fixtures import coop_can_invoice, invoicing_producer, prepare
from tests.thorough import examples

WEEKS, PRICE, ALLOWED = 5, 1733, 1
_members = count(1)

ACTIONS = st.lists(st.one_of(
    st.tuples(st.just("absent"), st.integers(0, WEEKS - 1)),
    st.tuples(st.just("present"), st.integers(0, WEEKS - 1)),
    st.tuples(st.just("handover"), st.integers(0, WEEKS - 1)),
    st.tuples(st.just("baskets"), st.integers(0, WEEKS - 1), st.integers(0, 3)),
    st.tuples(st.just("orders"),),
    st.tuples(st.just("pay"),),
    st.tuples(st.just("cancel"), st.integers(0, WEEKS - 1)),
), max_size=20)


@pytest.fixture
def two_farms(app):
    coop_can_invoice()
    ferme = invoicing_producer("ferme@test.coop", "Ferme du Marais")
    verger = invoicing_producer("verger@test.coop", "Verger des Landes", franchise=True)
    leeks = make_product(ferme, "Leeks", price_cents=250, stock=None)
    carrots = make_product(ferme, "Carrots", price_cents=330, stock=None)
    apples = make_product(verger, "Apples", price_cents=410, stock=None)
    season = make_season([ferme, verger], weeks=WEEKS)
    for distribution in season:  # every window open: orders exist for the whole season, cut-offs still to come
        distribution.opens_at = utcnow() - timedelta(hours=1)
    contract = make_contract(get_admin(), season, [(leeks.variants[0].id, 2), (carrots.variants[0].id, 1),
                                                   (apples.variants[0].id, 3)],
                             price_cents=PRICE, instalments=3, allowed_absences=ALLOWED, changeable=True)
    db.session.commit()
    return {"ferme": ferme, "verger": verger, "season": season, "contract": contract}


def _order_totals(member_id: int) -> int:
    return sum(order.goods_estimated_cents for order in db.session.query(Order).filter_by(buyer_id=member_id))


def _expected(share: int, state: dict[int, tuple[bool, int | None]], cancelled: set[int]) -> int:
    charged, absences = 0, 0
    for week in range(WEEKS):
        if week in cancelled:  # nobody's delivery
            continue
        absent, baskets = state.get(week, (False, None))
        taken = share if baskets is None else baskets
        absences += absent
        charged += 0 if absent and absences <= ALLOWED else taken
    return charged * PRICE


@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=ACTIONS, share=st.integers(1, 2))
def test_contract_orders_add_up_to_the_rule_and_the_instalments(two_farms, actions, share):
    season = two_farms["season"]
    member = make_member(f"amounts{next(_members)}@test.coop")
    sub = services.subscribe(member, two_farms["contract"].id, accepted_version=1, means=PaymentMeans.CHEQUE,
                             share=share)
    db.session.commit()
    state: dict[int, tuple[bool, int | None]] = {}
    for action in actions:
        if action[0] == "orders":
            tasks.create_due_orders()
            continue
        if action[0] == "pay":
            try:
                services.record_instalment(get_admin(), sub.id, PaymentMeans.CHEQUE)
            except Conflict:  # every instalment paid already
                db.session.rollback()
            else:
                db.session.commit()
            continue
        week = action[1]
        absent, baskets = state.get(week, (False, None))
        if season[week].cancelled_at is not None:  # nothing to choose there any more
            continue
        if action[0] == "cancel":  # rarely: the distributions are shared by every example of the run
            if week == WEEKS - 1:
                cancel_distribution(get_admin(), season[week].id)
        elif action[0] == "absent":
            services.declare_absence(member, sub.id, season[week].id)
            state[week] = (True, baskets)
        elif action[0] == "present":
            services.withdraw_absence(member, sub.id, season[week].id)
            state[week] = (False, baskets)
        elif action[0] == "handover":
            services.declare_absence(member, sub.id, season[week].id, handover_to="Paul Martin")
            state[week] = (False, baskets)
        else:
            services.set_baskets(member, sub.id, season[week].id, action[2])
            state[week] = (absent, action[2])
        db.session.commit()
    tasks.create_due_orders()
    rows = services.refresh_schedule(sub)
    expected = _expected(share, state, {week for week, d in enumerate(season) if d.cancelled_at is not None})
    assert _order_totals(member.id) == services.amount_cents(sub) == sum(r.amount_cents for r in rows) == expected
    # The season ends: the coop records what is left (a settlement included): paid == ordered, to the cent.
    while any(row.paid_cents is None for row in services.refresh_schedule(sub)):
        services.record_instalment(get_admin(), sub.id, PaymentMeans.CHEQUE)
    db.session.commit()
    assert sum(row.paid_cents for row in sub.instalment_rows) == _order_totals(member.id) == expected


def test_each_delivery_is_split_over_the_producers_to_the_cent(two_farms):
    member = make_member("split@test.coop")
    sub = services.subscribe(member, two_farms["contract"].id, accepted_version=1, means=PaymentMeans.CHEQUE)
    db.session.commit()
    tasks.create_due_orders()
    order = db.session.query(Order).filter_by(buyer_id=member.id, distribution_id=two_farms["season"][0].id).one()
    # Own prices: leeks 2 × 250, carrots 330, apples 3 × 410 = 500 + 330 + 1230 = 2060 for a 1733 basket.
    lines = {line.product_name: line.agreed_cents for part in order.parts for line in part.lines}
    assert lines == {"Leeks": 421, "Carrots": 277, "Apples": 1035}
    assert order.goods_estimated_cents == 1733
    ferme, verger = two_farms["ferme"].producer_profile.id, two_farms["verger"].producer_profile.id
    assert {part.producer_id: part.estimated_cents for part in order.parts} == {ferme: 698, verger: 1035}
    # The pickup closes it: each producer's invoice is their share; together, one delivery's price.
    prepare(order)
    orders.mark_collected(get_admin(), order.id)
    db.session.commit()
    invoices = {inv.producer_id: inv.total_ttc_cents for inv in db.session.query(Invoice).filter_by(order_id=order.id)}
    assert invoices == {ferme: 698, verger: 1035}
    assert sum(invoices.values()) == services.amount_cents(sub) // 5  # one delivery of the five
    notes = {inv.payment_note for inv in db.session.query(Invoice).filter_by(order_id=order.id)}
    assert notes == {"Payée par les échéances du contrat « Panier de légumes »."}


def test_an_absence_beyond_the_allowance_keeps_the_basket_prepared_and_owed(two_farms):
    season = two_farms["season"]
    member = make_member("owed@test.coop", name="Anne Owed")
    sub = services.subscribe(member, two_farms["contract"].id, accepted_version=1, means=PaymentMeans.CHEQUE)
    db.session.commit()
    tasks.create_due_orders()
    services.declare_absence(member, sub.id, season[0].id)  # the allowed one: no basket
    services.declare_absence(member, sub.id, season[1].id)  # beyond: prepared, owed
    db.session.commit()
    claims = {c.distribution_id: c for c in db.session.query(SubscriptionDelivery).filter_by(subscription_id=sub.id)}
    assert claims[season[0].id].outcome == DeliveryOutcome.ABSENT
    assert claims[season[1].id].outcome == DeliveryOutcome.ABSENT_OWED
    owed = claims[season[1].id].order
    assert owed.goods_estimated_cents == PRICE and all(p.status == PartStatus.PLACED for p in owed.parts)
    doc = documents.packing_list(season[1].id, two_farms["ferme"].producer_profile.id)
    assert [row[0] for row in doc.rows if row[4] == "Anne Owed"] == ["Carrots", "Leeks",  # prepared all the same
                                                                     "Collected by nobody: absent, basket owed"]
    # Withdrawing the first absence makes the second one the allowed one: its order is cancelled.
    services.withdraw_absence(member, sub.id, season[0].id)
    db.session.commit()
    db.session.refresh(owed)
    assert all(p.status == PartStatus.CANCELLED for p in owed.parts)
    assert _order_totals(member.id) == services.amount_cents(sub) == PRICE * (WEEKS - 1)
