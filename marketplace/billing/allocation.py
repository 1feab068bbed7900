"""The "fee at cost" rule: share the co-op's running cost of a period among its members.

The co-op keeps no margin, so the members together pay exactly what the period cost,
split by a rule the members voted (a ``FeeRule``). Pure Python, no Flask, no database:
money is integer cents and every share is computed exactly (integers / ``Fraction``),
so the fees always add up to the cent.

Semantics of ``allocate_fees(total_cost_cents, members, rule, carry_in_cents)``
-------------------------------------------------------------------------------
``amount = total_cost_cents + carry_in_cents`` is the amount to recover. ``carry_in_cents``
is what the previous period could not bill (positive) or the surplus it left (negative).
``total_cost_cents`` must be >= 0. Every member passed in is an *active* member.

0. If ``amount <= 0`` nobody pays anything and ``carry_out_cents = amount`` (a surplus
   is carried to the next period as a negative number). Otherwise:
1. Flat parts first: each member owes the flat part of their college. If the flat parts
   add up to more than ``amount``, they are scaled down in proportion to the flat parts
   (largest-remainder rounding, see below) so that exactly ``amount`` is billed and
   nobody pays more than the cost; there is then no proportional part.
2. The rest ``amount - sum(flat parts)`` is split in proportion to each member's weighted
   activity ``rule.weight(college) * activity_cents``.
3. If nobody has weighted activity > 0, the rest is split in proportion to the flat parts
   instead (only members whose college has a flat part > 0 take part). If no flat part is
   > 0 either, nothing can be billed and the rest becomes ``carry_out_cents`` (never lost).

Rounding (``largest_remainder``): each exact share is floored to the cent, then the cents
still missing are handed out one each to the largest fractional remainders; equal
remainders are broken by ``member_id`` ascending (smallest id first). Only members with a
positive exact share can receive such a cent, and each result is within 1 cent of (and
strictly less than 1 cent away from) its exact share.

Invariants (tested in ``tests/unit/test_allocation.py``):
* ``sum(fee.total_cents) + carry_out_cents == total_cost_cents + carry_in_cents``, exactly.
  Hence ``carry_out_cents`` is negative iff ``amount < 0`` (surplus), positive only in the
  "nothing can be billed" case of step 3 (or with no members at all), else 0.
* No fee is negative; ``recovered_cents == sum(fee.total_cents) == max(amount, 0) - max(carry_out_cents, 0)``.
* The result does not depend on the order of ``members`` (fees are keyed and ordered by id).
* A member with zero weighted activity pays only their college's flat part, unless the flat
  parts were scaled down (step 1) or step 3 applies.
* Doubling a college's weight never lowers that college's share of the proportional part,
  exact or rounded: its members' exact shares rise and everyone else's fall, and largest
  remainder gives member i ``ceil(exact_i - t)`` cents for one common threshold t, so if t
  rises the others cannot gain cents, and if t falls the college cannot lose any.
* Each proportional part is strictly within 1 cent of its exact share.

Performance: one pass of integer arithmetic plus one sort of the members that have a
non-zero remainder; 10,000 members take a few tens of milliseconds.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import pairwise
from math import lcm
from types import MappingProxyType
from typing import Any, NamedTuple, TypeVar

__all__ = [
    "COLLEGES",
    "Allocation",
    "FeeRule",
    "MemberActivity",
    "MemberFee",
    "allocate_fees",
    "largest_remainder",
]

# Same values as marketplace.members.models.College; duplicated so this module stays
# importable without Flask/SQLAlchemy (str-Enum members are accepted too, see _college).
COLLEGES: tuple[str, ...] = ("producer", "courier", "buyer", "supporter")

K = TypeVar("K", bound=Hashable)


def _is_int(value: object) -> bool:
    # bool is an int subclass, but True cents is always a bug.
    return isinstance(value, int) and not isinstance(value, bool)


def _college(value: object) -> str:
    """Normalise a college name (str or str-Enum such as College.PRODUCER) and validate it."""
    name = getattr(value, "value", value)
    if not isinstance(name, str) or name not in COLLEGES:
        raise ValueError(f"unknown college {value!r}; expected one of {', '.join(COLLEGES)}")
    return name


def _per_college(values: Mapping[Any, int] | None, what: str) -> Mapping[str, int]:
    """Complete a {college: int} mapping with zeros, refuse unknown colleges/negatives."""
    full = dict.fromkeys(COLLEGES, 0)
    for key, amount in (values or {}).items():
        college = _college(key)
        if not _is_int(amount):
            raise TypeError(f"{what} for college {college!r} must be an int, got {amount!r}")
        if amount < 0:
            raise ValueError(f"{what} for college {college!r} must not be negative, got {amount}")
        full[college] = amount
    # Read-only so a frozen rule cannot be changed behind its back.
    return MappingProxyType(full)


@dataclass(frozen=True)
class FeeRule:
    """The voted rule: per college a flat part (cents per active member) and a weight on activity.

    Activity is producers' sales, couriers' delivery pay, buyers' purchases (cents).
    Weights are non-negative ints in any unit (small ints, basis points...): only their
    ratios matter. Colleges left out have flat part 0 and weight 0.
    """

    flat_cents: Mapping[str, int] = field(default_factory=dict)
    weights: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        flat = _per_college(self.flat_cents, "flat part")
        weights = _per_college(self.weights, "weight")
        if not any(flat.values()) and not any(weights.values()):
            raise ValueError(
                "fee rule cannot recover any cost: all flat parts are zero and the weights "
                "sum to nothing; give at least one college a flat part or a weight > 0"
            )
        # frozen dataclass: normalised values must be set through object.__setattr__.
        object.__setattr__(self, "flat_cents", flat)
        object.__setattr__(self, "weights", weights)

    def __hash__(self) -> int:
        # MappingProxyType is unhashable; hash the (complete, ordered) contents instead.
        return hash((tuple(self.flat_cents.items()), tuple(self.weights.items())))

    def flat(self, college: str) -> int:
        """Flat part in cents owed by one active member of this college."""
        return self.flat_cents[_college(college)]

    def weight(self, college: str) -> int:
        """Weight applied to the activity (cents) of a member of this college."""
        return self.weights[_college(college)]


@dataclass(frozen=True)
class MemberActivity:
    """One active member and their activity over the period, in cents."""

    member_id: int
    college: str
    activity_cents: int = 0

    def __post_init__(self) -> None:
        if not _is_int(self.member_id):
            raise TypeError(f"member_id must be an int, got {self.member_id!r}")
        object.__setattr__(self, "college", _college(self.college))
        if not _is_int(self.activity_cents):
            raise TypeError(f"activity_cents must be an int (cents), got {self.activity_cents!r}")
        if self.activity_cents < 0:
            raise ValueError(
                f"activity of member {self.member_id} must not be negative, got {self.activity_cents}"
            )


@dataclass(frozen=True)
class MemberFee:
    """What one member owes for the period, and why."""

    member_id: int
    college: str
    flat_cents: int
    proportional_cents: int
    explanation: str

    @property
    def total_cents(self) -> int:
        """Flat part plus proportional part, in cents."""
        return self.flat_cents + self.proportional_cents


@dataclass(frozen=True)
class Allocation:
    """The result of allocate_fees: one MemberFee per member plus what moves to the next period."""

    total_cost_cents: int
    carry_in_cents: int
    fees: dict[int, MemberFee]  # keyed and ordered by member_id ascending
    flat_total_cents: int  # sum of the flat parts actually billed (after any scaling)
    proportional_total_cents: int  # the "rest" split on activity (or on flat parts, step 3)
    carry_out_cents: int  # < 0: surplus carried forward; > 0: cost that could not be billed
    summary: str  # one public sentence describing the period

    @property
    def amount_cents(self) -> int:
        """Amount to recover before clamping: cost plus carry-in (negative = surplus)."""
        return self.total_cost_cents + self.carry_in_cents

    @property
    def recovered_cents(self) -> int:
        """What the members are billed in total."""
        return self.flat_total_cents + self.proportional_total_cents


def largest_remainder(
    total: int,
    weights: Mapping[K, int | Fraction],
    tie_key: Callable[[K], Any] | None = None,
) -> dict[K, int]:
    """Split `total` cents exactly in proportion to `weights` (largest remainder, ties by tie_key asc)."""
    if not _is_int(total):
        raise TypeError(f"total must be an int (cents), got {total!r}")
    if total < 0:
        raise ValueError(f"total to split must not be negative, got {total}")
    for key, weight in weights.items():
        if not (_is_int(weight) or isinstance(weight, Fraction)):
            raise TypeError(f"weight of {key!r} must be an int or a Fraction, got {weight!r}")
        if weight < 0:
            raise ValueError(f"weight of {key!r} must not be negative, got {weight}")
    # Bring Fractions to one common denominator so the rest is pure int arithmetic
    # (faster than Fraction and still exact: the ratios are unchanged).
    denominator = 1
    for weight in weights.values():
        if isinstance(weight, Fraction) and weight.denominator != 1:
            denominator = lcm(denominator, weight.denominator)
    scaled = {key: int(weight * denominator) for key, weight in weights.items()}
    weight_sum = sum(scaled.values())
    if weight_sum == 0:
        if total == 0:
            return dict.fromkeys(weights, 0)
        raise ValueError(f"cannot split {total} over weights that sum to nothing")

    # Exact share of key = total * w / weight_sum = quotient + remainder / weight_sum.
    result: dict[K, int] = {}
    remainders: list[tuple[int, K]] = []
    handed_out = 0
    for key, weight in scaled.items():
        quotient, remainder = divmod(total * weight, weight_sum)
        result[key] = quotient
        handed_out += quotient
        if remainder:
            remainders.append((remainder, key))
    leftover = total - handed_out  # 0 <= leftover < len(remainders): sum of remainders / weight_sum
    if leftover:
        order = tie_key if tie_key is not None else (lambda k: k)
        # Largest remainder first; equal remainders go to the smallest tie key (deterministic).
        remainders.sort(key=lambda item: (-item[0], order(item[1])))
        for _, key in remainders[:leftover]:
            result[key] += 1
    return result


# ---------------------------------------------------------------------------------------
# Formatting for the explanations. Locale-neutral on purpose (1,234.56): this module must
# not need Flask-Babel; the web layer shows the structured fields with format_money.


def _money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole:,}.{part:02d}"


def _percent(numerator: int, denominator: int) -> str:
    # numerator/denominator as a percentage with 2 decimals, rounded half up, exactly.
    hundredths = (2 * 10_000 * numerator + denominator) // (2 * denominator)
    whole, part = divmod(hundredths, 100)
    return f"{whole:,}.{part:02d} %"


class _Split(NamedTuple):
    """One way of sharing the amount: flat and proportional parts, explanations, carry-out, summary."""

    flats: Mapping[int, int]
    props: Mapping[int, int]
    texts: Mapping[int, str]
    carry_out: int
    summary: str


def _check_arguments(total_cost_cents: int, rule: FeeRule, carry_in_cents: int) -> None:
    if not _is_int(total_cost_cents):
        raise TypeError(f"total_cost_cents must be an int (cents), got {total_cost_cents!r}")
    if total_cost_cents < 0:
        raise ValueError(f"the period's cost must not be negative, got {total_cost_cents} cents")
    if not _is_int(carry_in_cents):
        raise TypeError(f"carry_in_cents must be an int (cents), got {carry_in_cents!r}")
    if not isinstance(rule, FeeRule):
        raise TypeError(f"rule must be a FeeRule, got {type(rule).__name__}")


def _ordered_members(members: Sequence[MemberActivity]) -> list[MemberActivity]:
    """The members sorted by id (fixes the output order whatever the input order), each once."""
    ordered = sorted(members, key=lambda m: m.member_id)
    for previous, current in pairwise(ordered):
        if previous.member_id == current.member_id:
            raise ValueError(f"member {current.member_id} appears more than once")
    for member in ordered:
        if not isinstance(member, MemberActivity):
            raise TypeError(f"members must be MemberActivity, got {type(member).__name__}")
    return ordered


def _allocation(ordered: Sequence[MemberActivity], total_cost_cents: int, carry_in_cents: int,
                split: _Split) -> Allocation:
    fees = {
        m.member_id: MemberFee(
            member_id=m.member_id,
            college=m.college,
            flat_cents=split.flats.get(m.member_id, 0),
            proportional_cents=split.props.get(m.member_id, 0),
            explanation=split.texts[m.member_id],
        )
        for m in ordered
    }
    return Allocation(
        total_cost_cents=total_cost_cents,
        carry_in_cents=carry_in_cents,
        fees=fees,
        flat_total_cents=sum(split.flats.values()),
        proportional_total_cents=sum(split.props.values()),
        carry_out_cents=split.carry_out,
        summary=split.summary,
    )


def _nothing_to_recover(ordered: Sequence[MemberActivity], amount: int) -> _Split:
    """Step 0: a surplus is not refunded here; it is carried forward (negative carry-out)."""
    if amount < 0:
        text = f"nothing to pay: the surplus of {_money(-amount)} covers this period's cost"
        summary = f"surplus of {_money(-amount)} carried to the next period"
    elif amount == 0:
        text = "nothing to pay: nothing to recover this period"
        summary = "nothing to recover this period"
    else:
        text = ""  # unreachable per member: no members
        summary = f"no active member: {_money(amount)} carried to the next period"
    return _Split({}, {}, {m.member_id: text for m in ordered}, amount, summary)


def _scaled_flat_parts(ordered: Sequence[MemberActivity], flat_due: Mapping[int, int], amount: int) -> _Split:
    """Step 1, flat parts above the amount: scaled down to exactly `amount`, nobody pays more than the cost."""
    flat_sum = sum(flat_due.values())
    flats = largest_remainder(amount, flat_due)
    texts = {
        m.member_id: (
            f"flat {_money(flat_due[m.member_id])} ({m.college}) scaled down to "
            f"{_money(flats[m.member_id])}, because the flat parts ({_money(flat_sum)} in total) "
            f"exceed the {_money(amount)} to recover; no proportional part"
        )
        for m in ordered
    }
    summary = (
        f"{_money(amount)} recovered from flat parts scaled down from {_money(flat_sum)}; "
        "nothing carried to the next period"
    )
    return _Split(flats, {}, texts, 0, summary)


def _flat_text(m: MemberActivity, flat_due: Mapping[int, int]) -> str:
    return f"flat {_money(flat_due[m.member_id])} ({m.college})"


def _flat_parts_only(ordered: Sequence[MemberActivity], flat_due: Mapping[int, int], amount: int) -> _Split:
    """The flat parts add up to exactly the amount: no proportional part."""
    texts = {m.member_id: f"{_flat_text(m, flat_due)}; the flat parts cover the whole cost, "
             "no proportional part" for m in ordered}
    return _Split(flat_due, {}, texts, 0, f"{_money(amount)} recovered from flat parts only")


def _by_weighted_activity(ordered: Sequence[MemberActivity], flat_due: Mapping[int, int], amount: int,
                          weighted: Mapping[int, int], rule: FeeRule) -> _Split:
    """Step 2: the rest in proportion to weighted activity."""
    flat_sum = sum(flat_due.values())
    rest, weighted_sum = amount - flat_sum, sum(weighted.values())
    props = largest_remainder(rest, weighted)
    texts = {}
    rest_text, weighted_sum_text = _money(rest), _money(weighted_sum)  # formatted once
    for m in ordered:
        mine = weighted[m.member_id]
        if mine:
            texts[m.member_id] = (
                f"{_flat_text(m, flat_due)} + {_percent(mine, weighted_sum)} of the proportional part of "
                f"{rest_text} (your weighted activity {rule.weights[m.college]} x "
                f"{_money(m.activity_cents)} = {_money(mine)} / {weighted_sum_text}) "
                f"= {_money(props[m.member_id])}"
            )
        else:
            reason = ("no activity this period" if not m.activity_cents
                      else f"the {m.college} college has weight 0")
            texts[m.member_id] = f"{_flat_text(m, flat_due)}; no proportional part ({reason})"
    summary = (f"{_money(amount)} recovered: {_money(flat_sum)} from flat parts and "
               f"{_money(rest)} in proportion to weighted activity")
    return _Split(flat_due, props, texts, 0, summary)


def _by_flat_parts(ordered: Sequence[MemberActivity], flat_due: Mapping[int, int], amount: int) -> _Split:
    """Step 3: nobody had weighted activity; the flat parts serve as weights for the rest."""
    flat_sum = sum(flat_due.values())
    rest = amount - flat_sum
    props = largest_remainder(rest, flat_due)
    texts = {}
    for m in ordered:
        mine = flat_due[m.member_id]
        if mine:
            texts[m.member_id] = (
                f"{_flat_text(m, flat_due)} + {_percent(mine, flat_sum)} of the remaining {_money(rest)}, "
                f"shared in proportion to flat parts because nobody had weighted activity "
                f"= {_money(props[m.member_id])}"
            )
        else:
            texts[m.member_id] = (f"{_flat_text(m, flat_due)}; no proportional part "
                                  "(no flat part, no weighted activity)")
    summary = (f"{_money(amount)} recovered: {_money(flat_sum)} from flat parts and "
               f"{_money(rest)} in proportion to flat parts (no weighted activity)")
    return _Split(flat_due, props, texts, 0, summary)


def _nothing_billable(ordered: Sequence[MemberActivity], flat_due: Mapping[int, int], rest: int) -> _Split:
    """No flat part and no weighted activity: nothing can be billed; carry it, never drop it."""
    texts = {m.member_id: ("nothing to pay: no flat part and no weighted activity this period; "
                           f"{_money(rest)} carried to the next period") for m in ordered}
    return _Split(flat_due, {}, texts, rest, f"nothing could be billed: {_money(rest)} carried to the next period")


def allocate_fees(
    total_cost_cents: int,
    members: Sequence[MemberActivity],
    rule: FeeRule,
    carry_in_cents: int = 0,
) -> Allocation:
    """Share total_cost_cents + carry_in_cents among members by `rule` (see module docstring)."""
    _check_arguments(total_cost_cents, rule, carry_in_cents)
    ordered = _ordered_members(members)
    amount = total_cost_cents + carry_in_cents
    if amount <= 0 or not ordered:
        split = _nothing_to_recover(ordered, amount)
    else:
        flat_due = {m.member_id: rule.flat_cents[m.college] for m in ordered}
        rest = amount - sum(flat_due.values())
        weighted = {m.member_id: rule.weights[m.college] * m.activity_cents for m in ordered}
        if rest < 0:
            split = _scaled_flat_parts(ordered, flat_due, amount)
        elif rest == 0:
            split = _flat_parts_only(ordered, flat_due, amount)
        elif any(weighted.values()):
            split = _by_weighted_activity(ordered, flat_due, amount, weighted, rule)
        elif any(flat_due.values()):
            split = _by_flat_parts(ordered, flat_due, amount)
        else:
            split = _nothing_billable(ordered, flat_due, rest)
    return _allocation(ordered, total_cost_cents, carry_in_cents, split)
