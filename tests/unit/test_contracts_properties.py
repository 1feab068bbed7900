"""Property, through the services and the database: whatever a subscriber does before the cut-offs (absences,
hand-overs, other numbers of baskets, changes of mind) while the coop records instalments, the instalments paid
at the end of the season equal the contract's rule to the cent: baskets taken × price, plus the absences
beyond the allowance (the allowed ones are free)."""
from __future__ import annotations

from itertools import count

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketplace.contracts import services
from marketplace.contracts.models import PaymentMeans
from marketplace.core.errors import Conflict
from marketplace.extensions import db
from tests.contracts_fixtures import make_contract, make_season
from tests.factories import get_admin, make_member, make_producer, make_product
from tests.thorough import examples

WEEKS, PRICE, ALLOWED = 6, 1733, 2  # a price that does not split evenly
_members = count(1)

ACTIONS = st.lists(st.one_of(
    st.tuples(st.just("absent"), st.integers(0, WEEKS - 1)),
    st.tuples(st.just("present"), st.integers(0, WEEKS - 1)),
    st.tuples(st.just("handover"), st.integers(0, WEEKS - 1)),
    st.tuples(st.just("baskets"), st.integers(0, WEEKS - 1), st.integers(0, 4)),
    st.tuples(st.just("pay"),),
), max_size=25)


@pytest.fixture
def season_contract(app):
    ferme = make_producer("ferme@test.coop", "Ferme du Marais")
    leeks = make_product(ferme, "Leeks", price_cents=250, stock=None)
    season = make_season([ferme], weeks=WEEKS, opens_in_hours=2)  # no window open yet: choices only
    contract = make_contract(ferme, season, [(leeks.variants[0].id, 1)], price_cents=PRICE, instalments=3,
                             allowed_absences=ALLOWED, changeable=True)
    db.session.commit()
    return season, contract


def _expected(share: int, state: dict[int, tuple[bool, int | None]]) -> int:
    """The rule, written from the test's own record of the member's choices."""
    charged, absences = 0, 0
    for week in range(WEEKS):
        absent, baskets = state.get(week, (False, None))
        taken = share if baskets is None else baskets
        if absent:
            absences += 1
            charged += taken if absences > ALLOWED else 0
        else:
            charged += taken
    return charged * PRICE


@settings(max_examples=examples(30), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=ACTIONS, share=st.integers(1, 3))
def test_instalments_paid_equal_the_rule_whatever_the_member_does(season_contract, actions, share):
    season, contract = season_contract
    admin = get_admin()
    member = make_member(f"prop{next(_members)}@test.coop")
    sub = services.subscribe(member, contract.id, accepted_version=1, means=PaymentMeans.CHEQUE, share=share)
    db.session.commit()
    state: dict[int, tuple[bool, int | None]] = {}
    for action in actions:
        kind, week = action[0], action[1] if len(action) > 1 else 0
        distribution_id = season[week].id
        absent, baskets = state.get(week, (False, None))
        if kind == "absent":
            services.declare_absence(member, sub.id, distribution_id)
            state[week] = (True, baskets)
        elif kind in ("present", "handover"):
            if kind == "present":
                services.withdraw_absence(member, sub.id, distribution_id)
            else:
                services.declare_absence(member, sub.id, distribution_id, handover_to="Paul Martin")
            state[week] = (False, baskets)
        elif kind == "baskets":
            services.set_baskets(member, sub.id, distribution_id, action[2])
            state[week] = (absent, action[2])
        else:
            try:
                services.record_instalment(admin, sub.id, PaymentMeans.CHEQUE)
            except Conflict:  # every instalment paid already
                db.session.rollback()
                continue
        db.session.commit()
    rows = services.refresh_schedule(sub)
    assert sum(row.amount_cents for row in rows) == _expected(share, state)  # the schedule always adds up
    # The season ends: the coop records what is left, the settlement included.
    while any(row.paid_cents is None for row in services.refresh_schedule(sub)):
        services.record_instalment(admin, sub.id, PaymentMeans.CHEQUE)
    db.session.commit()
    assert sum(row.paid_cents for row in sub.instalment_rows) == _expected(share, state)
    assert services.balance(sub).due_cents == 0
