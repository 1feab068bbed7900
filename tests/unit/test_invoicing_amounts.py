"""The rounding rule: lines, per-rate totals and the amount paid agree to the cent, whatever the basket."""
from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketplace.invoicing.amounts import LineInput, breakdown, unit_price_ht_e4, vat_in_ttc
from marketplace.money import weighed_amount_cents
from tests.thorough import examples

RATES = (0, 210, 550, 1000, 2000)

# A basket line as the shop prices it: by the piece (quantity x unit price) or weighed (grams x price per kg).
line_strategy = st.one_of(
    st.builds(lambda price, qty, rate: (price * qty, rate), st.integers(1, 50_000), st.integers(1, 999),
              st.sampled_from(RATES)),
    st.builds(lambda per_kg, grams, rate: (weighed_amount_cents(grams, per_kg), rate), st.integers(1, 20_000),
              st.integers(1, 60_000), st.sampled_from(RATES)),
)


@settings(max_examples=examples(400), deadline=None)
@given(st.lists(line_strategy, min_size=1, max_size=30), st.booleans())
def test_lines_rates_and_total_agree_with_the_amount_paid_to_the_cent(lines, franchise):
    paid = sum(ttc for ttc, _rate in lines)
    split = breakdown([LineInput(ttc, rate) for ttc, rate in lines], franchise=franchise)
    # The invoice total is what the buyer paid, and HT + VAT = TTC everywhere.
    assert split.ttc_cents == paid
    assert split.ht_cents + split.vat_cents == paid
    assert sum(r.ttc_cents for r in split.rates) == paid
    for rate in split.rates:
        members = [a for a in split.lines if a.vat_rate_bp == rate.vat_rate_bp]
        # Each rate's lines add up exactly to that rate's TTC, VAT and HT.
        assert sum(a.ttc_cents for a in members) == rate.ttc_cents
        assert sum(a.vat_cents for a in members) == rate.vat_cents
        assert sum(a.ht_cents for a in members) == rate.ht_cents
        # The rate's VAT is the VAT included in its TTC, to the half cent; HT x rate is within a cent of it.
        exact = Fraction(rate.ttc_cents * rate.vat_rate_bp, 10_000 + rate.vat_rate_bp)
        assert abs(rate.vat_cents - exact) <= Fraction(1, 2)
        assert abs(Fraction(rate.ht_cents * rate.vat_rate_bp, 10_000) - rate.vat_cents) <= 1
    assert sum(a.ht_cents for a in split.lines) == split.ht_cents
    assert all(0 <= a.vat_cents <= a.ttc_cents for a in split.lines)
    if franchise:
        assert split.vat_cents == 0 and {r.category for r in split.rates} == {"E"}


def test_vat_is_computed_once_per_rate_not_summed_from_rounded_lines():
    # Three lines of 0.10 at 5.5 %: each line's VAT would round to 0.01 (0.03 in all); the rate's is 0.02.
    split = breakdown([LineInput(10, 550)] * 3)
    assert vat_in_ttc(30, 550) == 2
    [rate] = split.rates
    assert (rate.ttc_cents, rate.vat_cents, rate.ht_cents) == (30, 2, 28)
    assert [a.vat_cents for a in split.lines] == [1, 1, 0]  # largest remainder, ties to the earlier line


def test_a_basket_at_several_rates():
    split = breakdown([LineInput(1124, 550), LineInput(1050, 550), LineInput(450, 2000), LineInput(299, 0)])
    assert [(r.vat_rate_bp, r.category, r.ttc_cents, r.vat_cents, r.ht_cents) for r in split.rates] == [
        (0, "Z", 299, 0, 299), (550, "S", 2174, 113, 2061), (2000, "S", 450, 75, 375)]
    assert (split.ttc_cents, split.vat_cents, split.ht_cents) == (2923, 188, 2735)


def test_a_franchise_seller_charges_no_vat():
    split = breakdown([LineInput(1124, 550), LineInput(450, 2000)], franchise=True)
    assert [(r.vat_rate_bp, r.category, r.vat_cents) for r in split.rates] == [(0, "E", 0)]
    assert split.ht_cents == split.ttc_cents == 1574


def test_unit_price_excluding_vat_has_four_decimals():
    # 1.873 kg whose HT is 10.66: 5.6914 per kg.
    assert unit_price_ht_e4(1124, 1873, 58) == 56914


def test_negative_amounts_are_refused():
    with pytest.raises(ValueError):
        breakdown([LineInput(-1, 550)])
