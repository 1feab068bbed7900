"""Property: whatever happens to accounts, each balance is the sum of its movements, never below the published
floor, and the balances add up to the coop's member-money liability in the ledger."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketplace.accounts import services as accounts
from marketplace.accounts.models import AccountMovement, Means, MovementKind
from marketplace.core.errors import Conflict
from marketplace.extensions import db
from marketplace.members.models import User
from tests.factories import get_admin, make_member
from tests.thorough import examples

# (kind, sign): top-ups, orders paid, weighing differences either way, rejected lines, refunds, adjustments.
OPERATIONS = st.sampled_from([
    (MovementKind.TOP_UP, 1), (MovementKind.ORDER_PAYMENT, -1), (MovementKind.CARRY_OVER, 1),
    (MovementKind.CARRY_OVER, -1), (MovementKind.REJECTED_LINE_CREDIT, 1), (MovementKind.REFUND_TO_ACCOUNT, 1),
    (MovementKind.ADJUSTMENT, 1), (MovementKind.ADJUSTMENT, -1), (MovementKind.PAYBACK, -1),
])
STEPS = st.lists(st.tuples(st.integers(0, 2), OPERATIONS, st.integers(1, 5000)), max_size=40)


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_balances_are_their_movements_never_below_the_floor_and_add_up_to_the_liability(app, steps):
    admin = get_admin()
    # The database lives as long as the test, across examples: the members are made once.
    members = [db.session.query(User).filter_by(email=f"prop{i}@test.coop").first()
               or make_member(f"prop{i}@test.coop") for i in range(3)]
    db.session.commit()
    expected = {m.id: accounts.balance_cents(m.id) for m in members}
    start = dict(expected)
    total_before = accounts.member_liability_cents()
    limit = accounts.carry_over_limit_cents()
    for who, (kind, sign), cents in steps:
        user_id = members[who].id
        amount = sign * cents
        try:
            if kind == MovementKind.ADJUSTMENT:
                accounts.adjust(admin, user_id, amount, "Correction")
            else:
                accounts.post_movement(user_id, kind, amount, means=Means.CASH if kind == MovementKind.TOP_UP else None)
        except Conflict:
            floor = -limit if kind == MovementKind.CARRY_OVER else 0
            assert expected[user_id] + amount < floor  # refused only below the published floor
        else:
            expected[user_id] += amount
        db.session.commit()
        assert accounts.balance_cents(user_id) == expected[user_id] >= -limit
    for member in members:
        movements = db.session.query(AccountMovement).filter_by(user_id=member.id).all()
        assert accounts.balance_cents(member.id) == sum(m.amount_cents for m in movements) == expected[member.id]
    assert accounts.member_liability_cents() - total_before == sum(expected.values()) - sum(start.values())
    treasury = accounts.treasury(admin)
    assert treasury.reconciled and treasury.liability_cents == accounts.member_liability_cents()
