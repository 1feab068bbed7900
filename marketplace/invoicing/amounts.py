"""The rounding rule of every invoice, in one pure function.

Prices in this shop include VAT (the catalogue stores the price paid, VAT included, and a VAT
rate per product). An invoice must show amounts excluding VAT, the VAT and totals per rate, and
they must agree to the cent with what the buyer paid. The rule:

1. Each line's amount including VAT (TTC) is what the buyer pays for it (weighed lines: weight x
   price per kg, rounded half up to the cent, as at the checkout).
2. Per VAT rate: TTC = the sum of its lines; VAT = TTC x rate / (1 + rate), rounded half up to
   the cent; HT = TTC - VAT. (VAT computed once per rate, never summed from rounded lines.)
3. That VAT is shared among the rate's lines in proportion to their TTC, by largest remainder
   (ties to the earlier line), so each line's VAT and HT add up exactly to the rate's totals.
4. The invoice totals are the sums over the rates; total TTC = the amount paid.

A seller under the VAT franchise (art. 293 B du CGI) charges no VAT: every line is exempt, HT = TTC.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from marketplace.money import round_half_up

FRANCHISE_MENTION = "TVA non applicable, art. 293 B du CGI"
FRANCHISE_EXEMPTION_CODE = "VATEX-FR-FRANCHISE"


@dataclass(frozen=True)
class LineInput:
    ttc_cents: int
    vat_rate_bp: int


@dataclass(frozen=True)
class LineAmounts:
    ttc_cents: int
    vat_rate_bp: int
    category: str
    vat_cents: int

    @property
    def ht_cents(self) -> int:
        return self.ttc_cents - self.vat_cents


@dataclass(frozen=True)
class RateTotal:
    vat_rate_bp: int
    category: str
    ttc_cents: int
    vat_cents: int

    @property
    def ht_cents(self) -> int:
        return self.ttc_cents - self.vat_cents


@dataclass(frozen=True)
class Breakdown:
    lines: list[LineAmounts]
    rates: list[RateTotal]

    @property
    def ttc_cents(self) -> int:
        return sum(r.ttc_cents for r in self.rates)

    @property
    def vat_cents(self) -> int:
        return sum(r.vat_cents for r in self.rates)

    @property
    def ht_cents(self) -> int:
        return self.ttc_cents - self.vat_cents


def vat_category(vat_rate_bp: int, franchise: bool) -> str:
    """EN 16931 VAT category: E exempt (franchise), Z zero rate, S standard (any positive rate)."""
    if franchise:
        return "E"
    return "Z" if vat_rate_bp == 0 else "S"


def vat_in_ttc(ttc_cents: int, vat_rate_bp: int) -> int:
    """The VAT included in an amount: TTC x rate / (1 + rate), rounded half up to the cent."""
    return round_half_up(Fraction(ttc_cents * vat_rate_bp, 10_000 + vat_rate_bp))


def _share(total: int, weights: list[int]) -> list[int]:
    """Split `total` cents in proportion to `weights` (largest remainder, ties to the earlier one)."""
    whole = sum(weights)
    if whole == 0:
        return [0] * len(weights)
    exact = [Fraction(total * w, whole) for w in weights]
    shares = [int(x) for x in exact]  # floor: every term is non-negative
    left = total - sum(shares)
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in order[:left]:
        shares[i] += 1
    return shares


def breakdown(lines: list[LineInput], franchise: bool = False) -> Breakdown:
    """Per-line and per-rate amounts under the rule above; a franchise seller's lines are exempt."""
    if any(line.ttc_cents < 0 or line.vat_rate_bp < 0 for line in lines):
        raise ValueError("invoice amounts and rates are never negative (a credit note is its own document)")
    rates = [0 if franchise else line.vat_rate_bp for line in lines]
    vat_of_line = [0] * len(lines)
    totals = []
    for rate in sorted(set(rates)):
        members = [i for i, r in enumerate(rates) if r == rate]
        ttc = sum(lines[i].ttc_cents for i in members)
        vat = vat_in_ttc(ttc, rate)
        for i, share in zip(members, _share(vat, [lines[i].ttc_cents for i in members]), strict=False):
            vat_of_line[i] = share
        totals.append(RateTotal(rate, vat_category(rate, franchise), ttc, vat))
    amounts = [LineAmounts(line.ttc_cents, rate, vat_category(rate, franchise), vat)
               for line, rate, vat in zip(lines, rates, vat_of_line, strict=False)]
    return Breakdown(amounts, totals)


def unit_price_ht_e4(ttc_cents: int, quantity_milli: int, vat_cents: int) -> int:
    """A line's unit price excluding VAT, in ten-thousandths of a euro: its HT / its quantity."""
    if quantity_milli <= 0:
        return 0
    return round_half_up(Fraction((ttc_cents - vat_cents) * 100 * 1000, quantity_milli))
