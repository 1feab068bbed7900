"""Property: for any season, absences and amendments, the instalments paid equal the contract rule's amount
(baskets taken × price, plus absences beyond the allowance; allowed absences free), to the cent."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketplace.contracts.rules import (
    DeliveryPlan,
    amount_due_cents,
    reschedule,
    split_instalments,
)
from tests.thorough import examples

# What happens to one delivery of the season: taken as planned, absent, amended to k baskets, or cancelled.
EVENTS = st.one_of(st.just(("taken", 0)), st.just(("absent", 0)), st.just(("cancelled", 0)),
                   st.tuples(st.just("amended"), st.integers(0, 5)))


def _oracle(price: int, share: int, events: list[tuple[str, int]], allowed: int) -> int:
    """The rule written another way: every basket planned, less those not taken, less the free absences."""
    planned = [share if kind != "amended" else k for kind, k in events]
    absent_positions = [i for i, (kind, _k) in enumerate(events) if kind == "absent"]
    free = set(absent_positions[:allowed])
    total = 0
    for i, (kind, _k) in enumerate(events):
        if kind == "cancelled" or i in free:
            continue
        total += planned[i]
    return total * price


def _plan(share: int, events: list[tuple[str, int]], known: int) -> list[DeliveryPlan]:
    """The season as known before delivery `known`: what happened so far, the rest as planned."""
    plans = []
    for i, (kind, k) in enumerate(events):
        if i >= known:
            plans.append(DeliveryPlan(baskets=share))
        elif kind == "amended":
            plans.append(DeliveryPlan(baskets=k))
        else:
            plans.append(DeliveryPlan(baskets=share, absent=kind == "absent", cancelled=kind == "cancelled"))
    return plans


@settings(max_examples=examples(300), deadline=None)
@given(price=st.integers(1, 20_000), share=st.integers(1, 3), allowed=st.integers(0, 6),
       events=st.lists(EVENTS, min_size=1, max_size=40), count_choice=st.sampled_from(["1", "3", "n"]),
       n=st.integers(2, 12))
def test_instalments_paid_equal_the_rules_amount_to_the_cent(price, share, allowed, events, count_choice, n):
    count = {"1": 1, "3": 3, "n": n}[count_choice]
    deliveries = len(events)
    # Instalment i falls due before delivery (i × deliveries) // count: spread over the season.
    due_before = [(i * deliveries) // count for i in range(count)]
    first = split_instalments(amount_due_cents(price, _plan(share, events, 0), allowed), count)
    assert sum(first) == price * share * deliveries
    assert max(first) - min(first) <= 1 and first == sorted(first, reverse=True)  # leftover cents first

    paid: list[int] = []
    for i in range(count):
        known = _plan(share, events, due_before[i])
        schedule = reschedule(amount_due_cents(price, known, allowed), paid, count)
        paid.append(schedule[len(paid)])
    final = reschedule(amount_due_cents(price, _plan(share, events, deliveries), allowed), paid, count)
    assert sum(final) == _oracle(price, share, events, allowed)
    assert final[:count] == paid  # what was paid stays as paid; at most one settling instalment follows
    assert len(final) in (count, count + 1)


@pytest.mark.parametrize(("total", "count", "expected"), [
    (10000, 3, [3334, 3333, 3333]), (100, 1, [100]), (7, 4, [2, 2, 2, 1]), (0, 3, [0, 0, 0]), (-5, 2, [-3, -2]),
])
def test_split_places_the_leftover_cents_on_the_first_instalments(total, count, expected):
    assert split_instalments(total, count) == expected


def test_allowed_absences_are_free_and_later_ones_charged():
    season = [DeliveryPlan(1, absent=True), DeliveryPlan(1), DeliveryPlan(2, absent=True), DeliveryPlan(1, absent=True),
              DeliveryPlan(1, cancelled=True)]
    # Two allowed: the first two absences are free, the third (1 basket) is charged; the cancelled one is nobody's.
    assert amount_due_cents(1500, season, 2) == 1500 * (1 + 1)
    assert amount_due_cents(1500, season, 0) == 1500 * (1 + 1 + 2 + 1)


def test_split_refuses_a_count_out_of_bounds():
    with pytest.raises(ValueError):
        split_instalments(100, 0)
