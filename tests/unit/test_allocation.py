"""The fee-at-cost allocation rule: hand-computed examples, properties, hostile input."""
from __future__ import annotations

import enum
import random
from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from marketplace.billing.allocation import (
    COLLEGES,
    Allocation,
    FeeRule,
    MemberActivity,
    allocate_fees,
    largest_remainder,
)
from tests.thorough import examples

PROPERTY = settings(max_examples=examples(200), deadline=None)

# The rule used in the examples: producers 3.00 + weight 2, couriers 0.00 + weight 1,
# buyers 0.50 + weight 1, supporters nothing.
RULE = FeeRule(
    flat_cents={"producer": 300, "courier": 0, "buyer": 50},
    weights={"producer": 2, "courier": 1, "buyer": 1},
)


def _members() -> list[MemberActivity]:
    """3 producers (ids 1-3), 2 couriers (4-5), 5 buyers (6-10)."""
    return [
        MemberActivity(1, "producer", 50_000),
        MemberActivity(2, "producer", 30_000),
        MemberActivity(3, "producer", 20_000),
        MemberActivity(4, "courier", 10_000),
        MemberActivity(5, "courier", 0),
        MemberActivity(6, "buyer", 40_000),
        MemberActivity(7, "buyer", 30_000),
        MemberActivity(8, "buyer", 20_000),
        MemberActivity(9, "buyer", 10_000),
        MemberActivity(10, "buyer", 0),
    ]


def _sum_fees(allocation: Allocation) -> int:
    return sum(fee.total_cents for fee in allocation.fees.values())


# --------------------------------------------------------------------------- examples


def test_example_100_eur_three_producers_two_couriers_five_buyers() -> None:
    # Flats: 3 x 3.00 + 5 x 0.50 = 11.50, rest 88.50 = 8850 cents.
    # Weighted activity: producers 100000, 60000, 40000; couriers 10000, 0;
    # buyers 40000, 30000, 20000, 10000, 0; total 310000.
    # Exact shares 8850 * w / 310000, floors sum to 8844, 6 cents left over, given to
    # remainders .9677 (8), .9355 (3 and 6, tie), .9032 (2), .8387 (1), then .4839 is a tie
    # between 4 and 9: the smaller id, 4, gets the last cent.
    allocation = allocate_fees(10_000, _members(), RULE)
    expected_prop = {1: 2855, 2: 1713, 3: 1142, 4: 286, 5: 0, 6: 1142, 7: 856, 8: 571, 9: 285, 10: 0}
    expected_flat = {1: 300, 2: 300, 3: 300, 4: 0, 5: 0, 6: 50, 7: 50, 8: 50, 9: 50, 10: 50}
    assert {i: f.proportional_cents for i, f in allocation.fees.items()} == expected_prop
    assert {i: f.flat_cents for i, f in allocation.fees.items()} == expected_flat
    assert {i: f.total_cents for i, f in allocation.fees.items()} == {
        1: 3155, 2: 2013, 3: 1442, 4: 286, 5: 0, 6: 1192, 7: 906, 8: 621, 9: 335, 10: 50,
    }
    assert allocation.flat_total_cents == 1150
    assert allocation.proportional_total_cents == 8850
    assert allocation.recovered_cents == 10_000
    assert allocation.carry_out_cents == 0
    assert list(allocation.fees) == list(range(1, 11))
    assert allocation.fees[1].explanation == (
        "flat 3.00 (producer) + 32.26 % of the proportional part of 88.50 "
        "(your weighted activity 2 x 500.00 = 1,000.00 / 3,100.00) = 28.55"
    )
    assert allocation.fees[10].explanation == "flat 0.50 (buyer); no proportional part (no activity this period)"
    assert allocation.fees[5].explanation == "flat 0.00 (courier); no proportional part (no activity this period)"


def test_tie_on_remainder_goes_to_smallest_member_id() -> None:
    # Same as above with the courier and the small buyer swapping ids: the buyer (now 4) wins.
    members = [
        replace(m, member_id={4: 9, 9: 4}.get(m.member_id, m.member_id)) for m in _members()
    ]
    allocation = allocate_fees(10_000, members, RULE)
    assert allocation.fees[4].college == "buyer"
    assert allocation.fees[4].proportional_cents == 286
    assert allocation.fees[9].college == "courier"
    assert allocation.fees[9].proportional_cents == 285


def test_flats_exceeding_the_cost_are_scaled_down() -> None:
    # Flats 3 x 300 + 5 x 50 = 1150 > 1000: shares 1000*300/1150 = 260.87 and
    # 1000*50/1150 = 43.48; floors 3*260 + 5*43 = 995; 5 leftover cents go to the three
    # producers (remainder .87), then to the two smallest buyer ids (remainder .48).
    members = [m for m in _members() if m.college != "courier"]
    allocation = allocate_fees(1_000, members, RULE)
    assert {i: f.flat_cents for i, f in allocation.fees.items()} == {
        1: 261, 2: 261, 3: 261, 6: 44, 7: 44, 8: 43, 9: 43, 10: 43,
    }
    assert all(f.proportional_cents == 0 for f in allocation.fees.values())
    assert allocation.recovered_cents == 1_000
    assert allocation.carry_out_cents == 0
    assert "scaled down to 2.61" in allocation.fees[1].explanation


def test_flats_exactly_equal_to_cost_leave_no_proportional_part() -> None:
    members = [m for m in _members() if m.college != "courier"]
    allocation = allocate_fees(1_150, members, RULE)
    assert {f.total_cents for f in allocation.fees.values() if f.college == "producer"} == {300}
    assert {f.total_cents for f in allocation.fees.values() if f.college == "buyer"} == {50}
    assert allocation.proportional_total_cents == 0
    assert allocation.carry_out_cents == 0


def test_no_weighted_activity_falls_back_on_flat_parts() -> None:
    # Flats 300+300+50+50 = 700; rest 1300 split 300:300:50:50 -> 557.14, 557.14, 92.86,
    # 92.86; floors sum to 1298, the two cents go to the buyers (remainder .86).
    members = [
        MemberActivity(1, "producer", 0),
        MemberActivity(2, "producer", 0),
        MemberActivity(3, "buyer", 0),
        MemberActivity(4, "buyer", 0),
        MemberActivity(5, "courier", 0),
    ]
    allocation = allocate_fees(2_000, members, RULE)
    assert {i: f.proportional_cents for i, f in allocation.fees.items()} == {1: 557, 2: 557, 3: 93, 4: 93, 5: 0}
    assert {i: f.total_cents for i, f in allocation.fees.items()} == {1: 857, 2: 857, 3: 143, 4: 143, 5: 0}
    assert allocation.carry_out_cents == 0
    assert "in proportion to flat parts" in allocation.fees[1].explanation


def test_nothing_billable_is_carried_out_not_lost() -> None:
    rule = FeeRule(weights={"producer": 1})
    members = [MemberActivity(1, "buyer", 5_000), MemberActivity(2, "producer", 0)]
    allocation = allocate_fees(1_234, members, rule, carry_in_cents=100)
    assert _sum_fees(allocation) == 0
    assert allocation.carry_out_cents == 1_334
    assert "13.34 carried to the next period" in allocation.summary


def test_no_members_carries_everything_out() -> None:
    allocation = allocate_fees(5_000, [], RULE)
    assert allocation.fees == {}
    assert allocation.carry_out_cents == 5_000


def test_surplus_is_carried_out_as_negative() -> None:
    allocation = allocate_fees(1_000, _members(), RULE, carry_in_cents=-1_500)
    assert all(f.total_cents == 0 for f in allocation.fees.values())
    assert allocation.carry_out_cents == -500
    assert allocation.recovered_cents == 0
    assert "surplus of 5.00" in allocation.summary


def test_positive_carry_in_is_recovered() -> None:
    allocation = allocate_fees(10_000, _members(), RULE, carry_in_cents=234)
    assert allocation.recovered_cents == 10_234
    assert allocation.amount_cents == 10_234
    assert allocation.carry_out_cents == 0


def test_zero_cost_bills_nothing() -> None:
    allocation = allocate_fees(0, _members(), RULE)
    assert _sum_fees(allocation) == 0 and allocation.carry_out_cents == 0


def test_weight_zero_college_pays_only_flat() -> None:
    rule = FeeRule(flat_cents={"buyer": 50}, weights={"producer": 1})
    members = [MemberActivity(1, "producer", 1_000), MemberActivity(2, "buyer", 99_999)]
    allocation = allocate_fees(1_000, members, rule)
    assert allocation.fees[2].total_cents == 50
    assert allocation.fees[2].explanation.endswith("(the buyer college has weight 0)")
    assert allocation.fees[1].total_cents == 950


def test_str_enum_colleges_are_accepted() -> None:
    class College(str, enum.Enum):  # mirrors marketplace.members.models.College
        PRODUCER = "producer"
        BUYER = "buyer"

    rule = FeeRule(flat_cents={College.PRODUCER: 100}, weights={College.BUYER: 1})
    member = MemberActivity(1, College.PRODUCER, 0)
    assert member.college == "producer" and type(member.college) is str
    assert rule.flat("producer") == 100 and rule.weight(College.BUYER) == 1


def test_rule_is_frozen_and_hashable() -> None:
    assert hash(RULE) == hash(FeeRule(flat_cents={"producer": 300, "buyer": 50},
                                      weights={"producer": 2, "courier": 1, "buyer": 1}))
    with pytest.raises(TypeError):
        RULE.flat_cents["producer"] = 0  # type: ignore[index]


def test_ten_thousand_members() -> None:
    # Not timed (no timing assertions in unit tests); checks the large case stays exact.
    rng = random.Random(42)
    members = [
        MemberActivity(i, rng.choice(COLLEGES), rng.choice([0, rng.randint(0, 10**7)]))
        for i in range(10_000)
    ]
    allocation = allocate_fees(987_654_321, members, RULE, carry_in_cents=-12_345)
    assert _sum_fees(allocation) + allocation.carry_out_cents == 987_654_321 - 12_345
    assert allocation.carry_out_cents == 0


# --------------------------------------------------------------------------- hostile input


def test_negative_cost_is_refused() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        allocate_fees(-1, _members(), RULE)


@pytest.mark.parametrize("rule_kwargs", [
    {},
    {"flat_cents": {"producer": 0}, "weights": {"buyer": 0}},
    {"flat_cents": dict.fromkeys(COLLEGES, 0), "weights": dict.fromkeys(COLLEGES, 0)},
])
def test_all_zero_rule_is_refused(rule_kwargs: dict) -> None:
    with pytest.raises(ValueError, match="sum to nothing"):
        FeeRule(**rule_kwargs)


def test_unknown_college_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown college"):
        MemberActivity(1, "landlord", 0)
    with pytest.raises(ValueError, match="unknown college"):
        FeeRule(flat_cents={"landlord": 100})
    with pytest.raises(ValueError, match="unknown college"):
        FeeRule(weights={"Producer": 1})


def test_negative_flat_weight_or_activity_is_refused() -> None:
    with pytest.raises(ValueError, match="flat part .* must not be negative"):
        FeeRule(flat_cents={"producer": -1}, weights={"buyer": 1})
    with pytest.raises(ValueError, match="weight .* must not be negative"):
        FeeRule(flat_cents={"producer": 100}, weights={"buyer": -1})
    with pytest.raises(ValueError, match="must not be negative"):
        MemberActivity(1, "buyer", -5)


def test_duplicate_member_is_refused() -> None:
    with pytest.raises(ValueError, match="more than once"):
        allocate_fees(100, [MemberActivity(1, "buyer", 1), MemberActivity(1, "producer", 1)], RULE)


def test_floats_are_refused() -> None:
    with pytest.raises(TypeError):
        allocate_fees(10.5, _members(), RULE)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        MemberActivity(1, "buyer", 1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        FeeRule(weights={"buyer": 0.5})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        largest_remainder(10, {"a": 0.5})  # type: ignore[dict-item]


def test_largest_remainder_hostile() -> None:
    with pytest.raises(ValueError):
        largest_remainder(-1, {"a": 1})
    with pytest.raises(ValueError):
        largest_remainder(5, {"a": 0, "b": 0})
    with pytest.raises(ValueError):
        largest_remainder(5, {"a": -1, "b": 2})
    assert largest_remainder(0, {"a": 0}) == {"a": 0}
    assert largest_remainder(0, {}) == {}


def test_largest_remainder_examples() -> None:
    assert largest_remainder(10, {"a": 1, "b": 1, "c": 1}) == {"a": 4, "b": 3, "c": 3}
    # tie_key reverses the tie-break.
    assert largest_remainder(10, {"a": 1, "b": 1, "c": 1}, tie_key=lambda k: -ord(k)) == {"a": 3, "b": 3, "c": 4}
    assert largest_remainder(100, {1: Fraction(1, 3), 2: Fraction(2, 3)}) == {1: 33, 2: 67}


# --------------------------------------------------------------------------- properties

colleges = st.sampled_from(COLLEGES)


@st.composite
def fee_rules(draw: st.DrawFn) -> FeeRule:
    flat = draw(st.dictionaries(colleges, st.one_of(st.just(0), st.integers(0, 5_000))))
    weights = draw(st.dictionaries(colleges, st.one_of(st.just(0), st.integers(0, 10_000))))
    assume(any(flat.values()) or any(weights.values()))
    return FeeRule(flat_cents=flat, weights=weights)


@st.composite
def member_lists(draw: st.DrawFn, max_size: int = 25) -> list[MemberActivity]:
    rows = draw(st.lists(
        st.tuples(colleges, st.one_of(st.just(0), st.integers(0, 10**8))), max_size=max_size,
    ))
    ids = draw(st.lists(st.integers(0, 10**6), min_size=len(rows), max_size=len(rows), unique=True))
    return [MemberActivity(i, college, activity) for i, (college, activity) in zip(ids, rows)]


@st.composite
def activity_scenarios(draw: st.DrawFn) -> tuple[int, int, list[MemberActivity], FeeRule]:
    """(cost, carry, members, rule) where step 2 applies, built directly rather than filtered."""
    members = draw(member_lists())
    rule = draw(fee_rules())
    # Guarantee one member with weighted activity > 0: give a college a weight and add a member.
    college = draw(colleges)
    if rule.weight(college) == 0:
        rule = FeeRule(flat_cents=rule.flat_cents, weights={**rule.weights, college: draw(st.integers(1, 10_000))})
    new_id = max((m.member_id for m in members), default=0) + 1
    members.insert(draw(st.integers(0, len(members))),
                   MemberActivity(new_id, college, draw(st.integers(1, 10**8))))
    flats = sum(rule.flat(m.college) for m in members)
    amount = flats + draw(st.one_of(st.integers(1, 100), st.integers(1, 10**9)))
    # carry <= amount keeps the cost (amount - carry) non-negative.
    carry = draw(st.one_of(st.just(0), st.integers(-amount, amount)))
    return amount - carry, carry, members, rule


@st.composite
def fallback_scenarios(draw: st.DrawFn) -> tuple[int, int, list[MemberActivity], FeeRule]:
    """(cost, carry, members, rule) where nobody has weighted activity but some flat part is > 0."""
    members = [replace(m, activity_cents=0) for m in draw(member_lists())]
    rule = draw(fee_rules())
    college = draw(colleges)
    if rule.flat(college) == 0:
        rule = FeeRule(flat_cents={**rule.flat_cents, college: draw(st.integers(1, 5_000))}, weights=rule.weights)
    members.append(MemberActivity(max((m.member_id for m in members), default=0) + 1, college, 0))
    flats = sum(rule.flat(m.college) for m in members)
    cost = flats + draw(st.one_of(st.integers(1, 100), st.integers(1, 10**9)))
    return cost, 0, members, rule


costs = st.one_of(st.just(0), st.integers(0, 10**9), st.integers(0, 10_000))
carries = st.one_of(st.just(0), st.integers(-10**9, 10**9), st.integers(-10_000, 10_000))


def _mode(cost: int, carry: int, members: list[MemberActivity], rule: FeeRule) -> str:
    """Which step of the semantics applies, recomputed independently of the implementation."""
    amount = cost + carry
    flats = sum(rule.flat(m.college) for m in members)
    weighted = sum(rule.weight(m.college) * m.activity_cents for m in members)
    if amount <= 0 or not members:
        return "none"
    if flats >= amount:
        return "flats"
    if weighted > 0:
        return "activity"
    return "fallback" if flats > 0 else "carry"


@PROPERTY
@given(costs, carries, member_lists(), fee_rules())
def test_fees_and_carry_out_add_up_exactly(cost, carry, members, rule) -> None:
    allocation = allocate_fees(cost, members, rule, carry)
    amount = cost + carry
    total = _sum_fees(allocation)
    assert total + allocation.carry_out_cents == amount
    assert allocation.recovered_cents == total == max(amount, 0) - max(allocation.carry_out_cents, 0)
    assert all(f.flat_cents >= 0 and f.proportional_cents >= 0 for f in allocation.fees.values())
    assert set(allocation.fees) == {m.member_id for m in members}
    mode = _mode(cost, carry, members, rule)
    if amount < 0:
        assert allocation.carry_out_cents == amount and total == 0
    elif mode == "carry" or (mode == "none" and amount > 0):
        assert allocation.carry_out_cents == amount and total == 0
    else:
        assert allocation.carry_out_cents == 0
    if mode == "flats":
        # Nobody pays more than their flat part, and only flats are billed.
        for m in members:
            fee = allocation.fees[m.member_id]
            assert fee.proportional_cents == 0 and fee.flat_cents <= rule.flat(m.college)


@PROPERTY
@given(costs, carries, member_lists(), fee_rules(), st.randoms(use_true_random=False))
def test_same_result_in_any_member_order(cost, carry, members, rule, rnd) -> None:
    shuffled = list(members)
    rnd.shuffle(shuffled)
    first = allocate_fees(cost, members, rule, carry)
    second = allocate_fees(cost, shuffled, rule, carry)
    assert first == second
    assert list(first.fees.items()) == list(second.fees.items())
    assert list(first.fees) == sorted(first.fees)


@PROPERTY
@given(activity_scenarios())
def test_zero_weighted_activity_pays_only_flat(scenario) -> None:
    cost, carry, members, rule = scenario
    assert _mode(cost, carry, members, rule) == "activity"
    allocation = allocate_fees(cost, members, rule, carry)
    for m in members:
        fee = allocation.fees[m.member_id]
        assert fee.flat_cents == rule.flat(m.college)
        if m.activity_cents == 0 or rule.weight(m.college) == 0:
            assert fee.proportional_cents == 0
            assert fee.total_cents == rule.flat(m.college)


@PROPERTY
@given(fallback_scenarios())
def test_fallback_bills_only_members_with_a_flat_part(scenario) -> None:
    cost, carry, members, rule = scenario
    assert _mode(cost, carry, members, rule) == "fallback"
    allocation = allocate_fees(cost, members, rule, carry)
    assert allocation.carry_out_cents == 0
    rest = allocation.proportional_total_cents
    flats = {m.member_id: rule.flat(m.college) for m in members}
    for m in members:
        fee = allocation.fees[m.member_id]
        assert fee.flat_cents == flats[m.member_id]
        assert abs(fee.proportional_cents - Fraction(rest * flats[m.member_id], sum(flats.values()))) < 1
        if flats[m.member_id] == 0:
            assert fee.total_cents == 0


@PROPERTY
@given(activity_scenarios())
def test_weights_are_honoured(scenario) -> None:
    cost, carry, members, rule = scenario
    assert _mode(cost, carry, members, rule) == "activity"
    allocation = allocate_fees(cost, members, rule, carry)
    rest = allocation.proportional_total_cents
    weighted = {m.member_id: rule.weight(m.college) * m.activity_cents for m in members}
    weighted_sum = sum(weighted.values())
    for m in members:
        fee = allocation.fees[m.member_id]
        # Strictly within one cent of the exact share.
        assert abs(fee.proportional_cents - Fraction(rest * weighted[m.member_id], weighted_sum)) < 1
        if rule.weight(m.college) == 0:
            assert fee.proportional_cents == 0
    active = [m for m in members if m.activity_cents > 0]
    for a in active:
        for b in active:
            if rule.weight(a.college) > rule.weight(b.college):
                pa = allocation.fees[a.member_id].proportional_cents
                pb = allocation.fees[b.member_id].proportional_cents
                # pa/act_a >= pb/act_b up to one cent of rounding on each side:
                # pa/act_a > exact_rate_a - 1/act_a >= exact_rate_b - 1/act_a > pb/act_b - 1/act_b - 1/act_a
                assert pa * b.activity_cents - pb * a.activity_cents > -(a.activity_cents + b.activity_cents)


@PROPERTY
@given(activity_scenarios(), colleges)
def test_doubling_a_weight_never_lowers_that_colleges_share(scenario, college) -> None:
    cost, carry, members, rule = scenario
    assert _mode(cost, carry, members, rule) == "activity"
    doubled = FeeRule(
        flat_cents=rule.flat_cents,
        weights={**rule.weights, college: 2 * rule.weight(college)},
    )
    before = allocate_fees(cost, members, rule, carry)
    after = allocate_fees(cost, members, doubled, carry)

    def share(allocation: Allocation) -> int:
        return sum(f.proportional_cents for f in allocation.fees.values() if f.college == college)

    def exact(r: FeeRule) -> Fraction:
        weighted = [(m.college, r.weight(m.college) * m.activity_cents) for m in members]
        return Fraction(sum(w for c, w in weighted if c == college), sum(w for _, w in weighted))

    assert exact(doubled) >= exact(rule)
    assert share(after) >= share(before)
    assert after.proportional_total_cents == before.proportional_total_cents


weight_maps = st.dictionaries(
    st.integers(0, 1_000),
    st.one_of(
        st.integers(0, 10**9),
        st.fractions(min_value=0, max_value=10**6, max_denominator=1_000),
    ),
    max_size=40,
)


@PROPERTY
@given(st.integers(0, 10**9), weight_maps)
def test_largest_remainder_properties(total, weights) -> None:
    weight_sum = sum(weights.values(), Fraction(0))
    assume(weight_sum > 0)
    result = largest_remainder(total, weights)
    assert set(result) == set(weights)
    assert sum(result.values()) == total
    for key, weight in weights.items():
        exact_share = Fraction(total) * weight / weight_sum
        assert abs(result[key] - exact_share) < 1
        assert result[key] >= 0
        if weight == 0:
            assert result[key] == 0
    # Insertion order of the mapping does not matter.
    assert largest_remainder(total, dict(reversed(list(weights.items())))) == result
