"""Fee at cost, service level (SQLite): ledger, rules and votes, close, statements, collection."""
from __future__ import annotations

import types
from datetime import date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from marketplace.billing import services
from marketplace.dispatch import services as dispatch_services
from marketplace.payments import services as payment_services
from marketplace.billing.models import (BillingPeriod, CostCategory, CostEntry, DuesEntry, DuesKind, PeriodStatus,
                                        RuleStatus, Statement, VoteChoice)
from marketplace.core.errors import Conflict, NotAllowed, ServiceError
from marketplace.core.models import OutboundEmail
from marketplace.extensions import db
from marketplace.members.models import College, User
from marketplace.orders.models import OrderLine
from marketplace.orders.states import PartStatus
from tests.billing_fixtures import LineSpec, add_cost, adopt_rule, last_month, make_sale, past_distribution
from tests.factories import get_admin, make_member, make_producer
from tests.thorough import examples


def _snapshot() -> tuple:
    """Everything a failed action must leave untouched."""
    return (db.session.query(func.count(Statement.id)).scalar(), db.session.query(func.count(DuesEntry.id)).scalar(),
            db.session.query(func.count(CostEntry.id)).scalar(), db.session.query(func.count(OutboundEmail.id)).scalar(),
            tuple(db.session.query(BillingPeriod.id, BillingPeriod.status).order_by(BillingPeriod.id)))


@pytest.fixture
def coop(app):
    """A producer who sold in last month, a buyer, a courier, a supporter, a rule in force."""
    month = last_month()
    producer = make_producer("farm@test.coop", "Ferme du Test")
    other = make_producer("orchard@test.coop", "Verger")
    buyer = make_member("buyer@test.coop", College.BUYER)
    courier = make_member("courier@test.coop", College.COURIER)
    supporter = make_member("friend@test.coop", College.SUPPORTER)
    distribution = past_distribution(month + timedelta(days=9), [producer, other])
    make_sale(buyer, producer, distribution, [LineSpec(price_cents=450, quantity=4)])               # 18.00
    make_sale(buyer, producer, distribution, [LineSpec(price_cents=1000, weight_priced_g=500, weighed_grams=777)])
    make_sale(buyer, other, distribution, [LineSpec(price_cents=1234, quantity=1)], status=PartStatus.READY)
    adopt_rule({"producer": 300, "buyer": 50}, {"producer": 2, "courier": 1, "buyer": 1})
    db.session.commit()
    return types.SimpleNamespace(month=month, producer=producer, other=other, buyer=buyer, courier=courier,
                                 supporter=supporter, admin=get_admin(), distribution=distribution)


def _close(coop, actor=None) -> BillingPeriod:
    period = services.close_month(actor or coop.admin, coop.month)
    db.session.commit()
    return period


def test_close_bills_exactly_the_costs(coop) -> None:
    add_cost(12_345, coop.month + timedelta(days=2), CostCategory.HOSTING, vat_cents=2_057, supplier="OVH")
    add_cost(9_999, coop.month + timedelta(days=20), CostCategory.ACCOUNTING)
    period = _close(coop)
    statements = {s.user_id: s for s in db.session.query(Statement).filter_by(period_id=period.id)}
    assert sum(s.total_cents for s in statements.values()) == 22_344 == period.billed_cents
    assert period.status == PeriodStatus.CLOSED and period.carry_out_cents == 0
    # Activity: 4 x 4.50 + round_half_up(777 g x 10.00/kg) = 18.00 + 7.77; the READY part is not a sale yet.
    assert statements[coop.producer.id].activity_cents == 2_577
    assert statements[coop.other.id].activity_cents == 0
    assert statements[coop.buyer.id].activity_cents == 2_577
    assert period.producer_sales_cents == 2_577 and period.member_count == 5  # the admin is not a member
    # Flat parts are honoured; members without activity pay only their college's flat part.
    assert statements[coop.other.id].total_cents == 300
    assert statements[coop.courier.id].total_cents == 0
    assert statements[coop.supporter.id].total_cents == 0
    # Proportional part: weights 2 (producer) and 1 (buyer) on the same activity: 2/3 and 1/3 of the rest.
    rest = 22_344 - 300 * 2 - 50
    assert statements[coop.producer.id].proportional_cents in (rest * 2 // 3, rest * 2 // 3 + 1)
    charges = db.session.query(DuesEntry).filter_by(period_id=period.id, kind=DuesKind.CHARGE).all()
    assert sum(c.amount_cents for c in charges) == 22_344
    assert db.session.query(OutboundEmail).filter(OutboundEmail.recipient == "farm@test.coop",
                                                  OutboundEmail.subject.like("Your coop fee%")).count() == 1


def test_closing_twice_changes_nothing(coop) -> None:
    add_cost(5_000, coop.month + timedelta(days=1))
    period = _close(coop)
    before = _snapshot()
    fees = sorted(db.session.execute(select(Statement.user_id, Statement.total_cents)).all())
    with pytest.raises(services.PeriodAlreadyClosed, match="already closed"):
        services.close_period(period.id, coop.admin)
    db.session.rollback()
    assert _snapshot() == before
    assert sorted(db.session.execute(select(Statement.user_id, Statement.total_cents)).all()) == fees


def test_cost_after_close_lands_in_next_period_as_adjustment(coop) -> None:
    add_cost(5_000, coop.month + timedelta(days=1))
    period = _close(coop)
    late = add_cost(700, coop.month + timedelta(days=3), CostCategory.INSURANCE, note="forgotten invoice")
    db.session.commit()
    assert late.period_id != period.id and late.adjusts_period_id == period.id
    assert late.period.starts_on == services.next_month(coop.month)
    db.session.refresh(period)
    assert period.total_cost_cents == 5_000 and sum(c.amount_cents for c in period.costs) == 5_000
    with pytest.raises(Conflict, match="closed period"):
        services.delete_cost(coop.admin, db.session.query(CostEntry).filter_by(period_id=period.id).first().id)
    db.session.rollback()


def test_non_admin_cannot_close(coop) -> None:
    add_cost(5_000, coop.month + timedelta(days=1))
    db.session.commit()
    before = _snapshot()
    with pytest.raises(NotAllowed, match="administrators"):
        services.close_month(coop.producer, coop.month)
    db.session.rollback()
    assert _snapshot() == before


def test_current_month_cannot_be_closed_before_it_ends(coop) -> None:
    period = services.get_or_create_period(services.coop_today())
    with pytest.raises(Conflict, match="has not ended yet"):
        services.close_period(period.id, coop.admin)


def test_periods_close_in_order(coop) -> None:
    older = services.get_or_create_period(services.previous_month(coop.month))
    db.session.commit()
    with pytest.raises(Conflict, match="first"):
        services.close_month(coop.admin, coop.month)
    db.session.rollback()
    assert db.session.get(BillingPeriod, older.id).status == PeriodStatus.OPEN


def test_no_rule_in_force_refuses_and_leaves_period_open(app) -> None:
    make_member("someone@test.coop")
    add_cost(1_000, last_month())
    db.session.commit()
    with pytest.raises(ServiceError, match="No fee rule"):
        services.close_month(get_admin(), last_month())
    db.session.rollback()
    assert db.session.query(BillingPeriod).one().status == PeriodStatus.OPEN
    assert db.session.query(Statement).count() == 0


def test_carry_over_is_billed_next_period(app) -> None:
    # Only producers' sales carry weight and nobody sold: nothing can be billed, it is carried.
    make_member("buyer@test.coop")
    adopt_rule({}, {"producer": 1})
    month = last_month()
    older = services.previous_month(month)
    add_cost(1_000, older)
    db.session.commit()
    first = services.close_month(get_admin(), older)
    db.session.commit()
    assert first.carry_out_cents == 1_000 and first.billed_cents == 0
    producer = make_producer("late@test.coop")
    make_sale(make_member("b2@test.coop"), producer, past_distribution(month + timedelta(days=3), [producer]))
    add_cost(500, month)
    db.session.commit()
    second = services.close_month(get_admin(), month)
    db.session.commit()
    assert second.carry_in_cents == 1_000 and second.billed_cents == 1_500
    assert db.session.query(Statement).filter_by(period_id=second.id, user_id=producer.id).one().total_cents == 1_500


# ---------------------------------------------------------------- hostile input


@pytest.mark.parametrize("amount", [-1, 0, "12.5", 12.5, None, True])
def test_bad_cost_amount_is_refused(app, amount) -> None:
    before = _snapshot()
    with pytest.raises(ServiceError):
        services.record_cost(get_admin(), services.CostInput(category="hosting", amount_cents=amount,
                                                             incurred_on=last_month()))
    db.session.rollback()
    assert _snapshot()[2] == before[2]


def test_bad_cost_fields_are_refused(app) -> None:
    admin = get_admin()
    for data, message in [
        (services.CostInput(category="bribes", amount_cents=100, incurred_on=last_month()), "category"),
        (services.CostInput(category="hosting", amount_cents=100, vat_cents=101, incurred_on=last_month()), "VAT"),
        (services.CostInput(category="hosting", amount_cents=100, vat_cents=-1, incurred_on=last_month()), "VAT"),
        (services.CostInput(category="hosting", amount_cents=100, incurred_on=date.today() + timedelta(days=40)),
         "future"),
    ]:
        with pytest.raises(ServiceError, match=message):
            services.record_cost(admin, data)
    with pytest.raises(NotAllowed):
        services.record_cost(make_member("x@test.coop"), services.CostInput("hosting", 100, last_month()))


def test_receipt_must_be_a_pdf_or_image(app) -> None:
    admin = get_admin()
    with pytest.raises(ServiceError, match="PDF, PNG or JPEG"):
        services.record_cost(admin, services.CostInput("hosting", 100, last_month()), receipt=b"MZ\x90\x00evil",
                             receipt_name="invoice.exe")
    entry = services.record_cost(admin, services.CostInput("hosting", 100, last_month()),
                                 receipt=b"%PDF-1.4 test", receipt_name="../../invoice.pdf")
    path, name = services.receipt_file(admin, entry.id)
    assert path.read_bytes() == b"%PDF-1.4 test" and name == "invoice.pdf"


@pytest.mark.parametrize("flat,weights", [({}, {}), ({"buyer": 0}, {"producer": 0, "buyer": 0})])
def test_rule_that_recovers_nothing_is_refused(app, flat, weights) -> None:
    with pytest.raises(ServiceError, match="sum to nothing"):
        services.propose_rule(get_admin(), services.RuleInput(flat, weights, last_month()))


@pytest.mark.parametrize("flat,weights", [({"buyer": -5}, {"producer": 1}), ({"buyer": 50}, {"producer": -1}),
                                          ({"buyer": "5"}, {"producer": 1}), ({"buyer": 50}, {"producer": 1.5}),
                                          ({"landlord": 50}, {"producer": 1})])
def test_rule_with_bad_numbers_is_refused(app, flat, weights) -> None:
    with pytest.raises(ServiceError):
        services.propose_rule(get_admin(), services.RuleInput(flat, weights, last_month()))
    db.session.rollback()
    assert services.rule_in_force(date(2100, 1, 1)) is None


# ---------------------------------------------------------------- rules and votes


def _proposal():
    return services.propose_rule(get_admin(), services.RuleInput({"producer": 300}, {"buyer": 1}, last_month()))


def test_vote_adopts_with_quorum_and_majority(app) -> None:
    members = [make_member(f"m{i}@test.coop") for i in range(8)]
    services.update_billing_settings(get_admin(), quorum_percent=50, majority_percent=50, allow_admin_decision=False)
    rule = _proposal()
    for member, choice in zip(members, ["for", "for", "for", "against", "abstain"]):
        services.cast_vote(member, rule.id, choice)
    services.cast_vote(members[3], rule.id, VoteChoice.FOR)  # changes their vote: still one vote
    services.tally_vote(get_admin(), rule.id)
    assert rule.status == RuleStatus.ADOPTED
    assert (rule.electorate, rule.votes_for, rule.votes_against, rule.votes_abstain) == (8, 4, 0, 1)
    assert services.rule_in_force(last_month()) == rule


def test_vote_without_quorum_is_rejected_and_results_kept(app) -> None:
    members = [make_member(f"m{i}@test.coop") for i in range(10)]
    services.update_billing_settings(get_admin(), quorum_percent=30, majority_percent=50, allow_admin_decision=False)
    rule = _proposal()
    services.cast_vote(members[0], rule.id, "for")
    services.cast_vote(members[1], rule.id, "for")
    services.tally_vote(get_admin(), rule.id)
    assert rule.status == RuleStatus.REJECTED and rule.votes_for == 2 and rule.quorum_percent == 30
    with pytest.raises(Conflict, match="closed"):
        services.cast_vote(members[2], rule.id, "for")


def test_tie_is_not_a_majority(app) -> None:
    members = [make_member(f"m{i}@test.coop") for i in range(2)]
    rule = _proposal()
    services.cast_vote(members[0], rule.id, "for")
    services.cast_vote(members[1], rule.id, "against")
    assert services.tally_vote(get_admin(), rule.id).status == RuleStatus.REJECTED


def test_only_active_members_vote(app) -> None:
    rule = _proposal()
    pending = make_member("pending@test.coop", active=False)
    with pytest.raises(NotAllowed):
        services.cast_vote(pending, rule.id, "for")
    with pytest.raises(ServiceError, match="for, against"):
        services.cast_vote(make_member("ok@test.coop"), rule.id, "maybe")


def test_admin_decision_needs_setting_and_reference(app) -> None:
    rule = _proposal()
    with pytest.raises(NotAllowed, match="vote"):
        services.adopt_by_decision(get_admin(), rule.id, "GA 2024")
    services.update_billing_settings(get_admin(), quorum_percent=25, majority_percent=50, allow_admin_decision=True)
    with pytest.raises(ServiceError, match="reference"):
        services.adopt_by_decision(get_admin(), rule.id, "  ")
    services.adopt_by_decision(get_admin(), rule.id, "GA 2024-06-01 #3")
    assert rule.status == RuleStatus.ADOPTED and rule.ga_reference == "GA 2024-06-01 #3"


def test_bad_settings_are_refused(app) -> None:
    for quorum, majority in [(-1, 50), (101, 50), (20, 100), ("x", 50)]:
        with pytest.raises(ServiceError):
            services.update_billing_settings(get_admin(), quorum_percent=quorum, majority_percent=majority,
                                             allow_admin_decision=False)


# ---------------------------------------------------------------- collection


def test_withholding_is_idempotent_and_settles_oldest_first(coop) -> None:
    add_cost(5_000, coop.month + timedelta(days=1))
    _close(coop)
    due = services.fees_due_cents(coop.producer.id)
    assert due > 0
    assert services.record_withholding(coop.producer.id, 100, "tr_1") == 100
    assert services.record_withholding(coop.producer.id, 100, "tr_1") == 0  # delivered twice
    assert services.fees_due_cents(coop.producer.id) == due - 100
    with pytest.raises(Conflict, match="is due"):
        services.record_withholding(coop.producer.id, due, "tr_2")
    for bad in (0, -5, 1.5):
        with pytest.raises(ServiceError):
            services.record_withholding(coop.producer.id, bad, "tr_3")
    assert services.record_withholding(coop.producer.id, due - 100, "tr_4") == due - 100
    assert services.fees_due_cents(coop.producer.id) == 0


def test_admin_marks_a_statement_paid(coop) -> None:
    add_cost(5_000, coop.month + timedelta(days=1))
    period = _close(coop)
    statement = db.session.query(Statement).filter_by(period_id=period.id, user_id=coop.other.id).one()
    with pytest.raises(NotAllowed):
        services.record_payment(coop.buyer, statement.id, "cash")
    assert services.record_payment(coop.admin, statement.id, "cash", "receipt 12") == 300
    with pytest.raises(Conflict, match="settled"):
        services.record_payment(coop.admin, statement.id, "cash")
    assert services.fees_due_cents(coop.other.id) == 0
    [report] = services.transparency_report()
    producers = next(c for c in report.colleges if c.college == "producer")
    assert producers.collected_cents == 300 and report.due_cents == 5_000


# ---------------------------------------------------------------- other domains' hooks


def test_processing_fees_are_recorded_once(coop, monkeypatch) -> None:
    day = datetime.combine(coop.month + timedelta(days=4), datetime.min.time())
    monkeypatch.setattr(payment_services, "processing_fees_between",
                        lambda start, end: [(day.date(), 42, "txn_1"), (day, 58, "txn_2")])
    period = services.get_or_create_period(coop.month)
    start, end = services.utc_bounds(period)
    assert services.sync_processing_fees(start, end) == 2
    assert services.sync_processing_fees(start, end) == 0
    period = _close(coop)
    assert period.total_cost_cents == 100
    assert {c.category for c in period.costs} == {CostCategory.PAYMENT_PROCESSING}


def test_courier_pay_from_dispatch_is_their_activity(coop, monkeypatch) -> None:
    monkeypatch.setattr(dispatch_services, "courier_pay_by_member", lambda start, end: {coop.courier.id: 4_000})
    add_cost(5_000, coop.month)
    period = _close(coop)
    statement = db.session.query(Statement).filter_by(period_id=period.id, user_id=coop.courier.id).one()
    assert statement.activity_cents == 4_000 and statement.proportional_cents > 0
    assert period.courier_pay_cents == 4_000


# ---------------------------------------------------------------- SQL activity == OrderLine.final_cents

line_specs = st.builds(
    LineSpec,
    price_cents=st.integers(1, 10**6),
    quantity=st.integers(1, 500),
    weight_priced_g=st.one_of(st.none(), st.integers(1, 50_000)),
    weighed_grams=st.one_of(st.none(), st.integers(1, 100_000)),
    rejected=st.booleans(),
)


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=st.lists(line_specs, min_size=1, max_size=6))
def test_sql_line_amount_matches_python(app, specs) -> None:
    specs = [s if s.weight_priced_g else LineSpec(s.price_cents, s.quantity, None, None, s.rejected) for s in specs]
    # Members are created once (password hashing is slow); each example's sale is rolled back.
    producer = db.session.query(User).filter_by(email="prop-farm@test.coop").one_or_none()
    if producer is None:
        producer, _buyer = make_producer("prop-farm@test.coop"), make_member("prop-buyer@test.coop")
        db.session.commit()
    buyer = db.session.query(User).filter_by(email="prop-buyer@test.coop").one()
    distribution = past_distribution(last_month(), [producer])
    order = make_sale(buyer, producer, distribution, specs)
    ids = [line.id for line in order.parts[0].lines]
    sql = dict(db.session.execute(select(OrderLine.id, services.line_amount_sql()).where(OrderLine.id.in_(ids))).all())
    for line in order.parts[0].lines:
        assert sql[line.id] == line.final_cents
    start, end = services.utc_bounds(services.get_or_create_period(last_month()))
    assert services.producer_sales_by_member(start, end)[producer.id] == order.parts[0].final_cents
    db.session.rollback()
