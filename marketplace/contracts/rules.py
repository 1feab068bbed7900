"""A contract's money, as plain rules: what a member owes for a season and how it is paid in instalments.

No database here: the services read the rows, call these functions and store what they return.

The amount rule (what the coop expects, as AMAPs and csa-admin do it):

    amount = price_per_basket × ( Σ baskets of every delivery the member did not skip
                                 + Σ baskets of every absence beyond the allowance )

- A delivery's baskets are the subscription's share (usually 1), or what an amendment set for that
  delivery before its cut-off (0 to 3 baskets, say: "two baskets this week, none the next").
  An amendment to 0 is not an absence: the member took nothing and pays nothing for that delivery.
- An absence declared before the cut-off means the basket is not prepared. The first `allowed_absences`
  absences of the season (in date order) are free: they are not charged. Every absence beyond them is
  charged at the delivery's baskets as they stood (the producer grew the vegetables all the same).
- A hand-over (someone else collects the basket) is not an absence: the basket is prepared and charged.
- A cancelled distribution is not a delivery at all: it is charged to nobody (its subscription orders are
  cancelled with it, and every schedule of the series recomputed at once: distributions.signals
  .distribution_cancelled, handled in contracts.handlers). Nor is a delivery of which
  nothing at all could be served (every line sold out or not offered: the order has no live part).

What each delivery's order costs (so that invoices match the instalments):

    order total = price_per_basket × the delivery's baskets   (for every delivery charged above)

- The contract's order lines do not carry the variants' own prices: the delivery's amount is split over the
  lines actually served, in proportion to their own prices (offer price × quantity, the weight estimate for
  weight-priced goods), cents exact by largest remainder, ties to the earlier line in (producer, variant)
  order (money.allocate_cents, applied by orders.services.standing.apply_agreed_total). A multi-producer
  basket therefore gives each producer the share of their lines, and each producer's invoice for the
  delivery is the sum of their lines' shares. A line that cannot be served costs nothing; the others take
  the whole amount.
- An absence beyond the allowance is charged, so the basket is prepared all the same (AMAP practice: it is
  owed): its order is made and kept like any other, with the same lines and amounts; the packing list and the
  pickup sheet say the member is absent and the basket owed (not collected); the producer is invoiced for it
  as usual when the pickup closes the order. An allowed absence makes no order and no invoice.
- So for every subscriber, once each delivery's order is made (its window opened): Σ totals of the contract's
  orders == the rule's amount == Σ instalments, to the cent (tests/unit/test_contracts_order_amounts.py).
  Not covered: a producer who rejects a line or cancels a part after the order was made (their own decision,
  credited by invoicing) lowers that order below the contract's price while the schedule still charges it.
- A subscription stopped by the coop (admin or the contract's producer) keeps the deliveries whose order was
  already made, and only those after the stop's time that had none are dropped from the rule.

The instalment rule: the season's amount is split into N instalments (1, 3 or any N), cents exact, the
leftover cents placed one each on the FIRST instalments (so 100 in 3 is 34, 33, 33). When absences or
amendments change the amount, the instalments already paid stay as paid and the instalments still to
come are recomputed the same way over what remains; the last instalment settles the difference, and may
be negative (a credit to the member) when more was paid than the rule's amount. So, at the end of the
season, the instalments paid sum to the rule's amount to the cent.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MAX_INSTALMENTS = 52


@dataclass(frozen=True)
class DeliveryPlan:
    """One delivery of the season as it stands for one subscriber."""

    baskets: int        # the share, or the amended number of baskets for this delivery
    absent: bool = False
    cancelled: bool = False  # the distribution itself was cancelled: nobody pays for it
    unserved: bool = False   # its order was made but nothing could be served: nobody pays for it


def split_instalments(total_cents: int, count: int) -> list[int]:
    """`total_cents` in `count` instalments, cents exact; the leftover cents go one each to the first ones.

    A negative total (a credit) is split the same way, with its leftover on the first instalments too."""
    if not 1 <= count <= MAX_INSTALMENTS:
        raise ValueError(f"between 1 and {MAX_INSTALMENTS} instalments")
    sign = -1 if total_cents < 0 else 1
    base, leftover = divmod(abs(total_cents), count)
    return [sign * (base + (1 if i < leftover else 0)) for i in range(count)]


def charged_per_delivery(deliveries: Sequence[DeliveryPlan], allowed_absences: int) -> list[int]:
    """Baskets charged for each delivery, in order: the baskets taken, an absence's beyond the allowance, else 0."""
    charged, absences = [], 0
    for delivery in deliveries:
        if delivery.cancelled:
            charged.append(0)
            continue
        if delivery.absent:
            absences += 1
        free = delivery.absent and absences <= allowed_absences
        charged.append(0 if free or delivery.unserved else delivery.baskets)
    return charged


def charged_baskets(deliveries: Sequence[DeliveryPlan], allowed_absences: int) -> int:
    """Baskets the member pays for: every delivery taken, and every absence beyond the allowance."""
    return sum(charged_per_delivery(deliveries, allowed_absences))


def absence_charged(deliveries: Sequence[DeliveryPlan], allowed_absences: int) -> list[bool]:
    """For each delivery: is it an absence beyond the allowance (basket prepared and owed)?"""
    result, absences = [], 0
    for delivery in deliveries:
        if delivery.absent and not delivery.cancelled:
            absences += 1
            result.append(absences > allowed_absences)
        else:
            result.append(False)
    return result


def free_absences_taken(deliveries: Sequence[DeliveryPlan], allowed_absences: int) -> int:
    """How many of the allowed absences the member has used."""
    return min(allowed_absences, sum(1 for d in deliveries if d.absent and not d.cancelled))


def amount_due_cents(price_per_basket_cents: int, deliveries: Sequence[DeliveryPlan], allowed_absences: int) -> int:
    """The season's amount under the rule above."""
    return price_per_basket_cents * charged_baskets(deliveries, allowed_absences)


def reschedule(amount_cents: int, paid_cents: Sequence[int], count: int) -> list[int]:
    """The whole schedule: the instalments already paid as they were, the rest recomputed over what remains.

    `paid_cents` are the first len(paid_cents) instalments (already paid). When every instalment is paid
    and the amount changed afterwards, one settling instalment is appended (positive: still due; negative:
    the credit owed back to the member)."""
    paid = list(paid_cents)
    remaining = amount_cents - sum(paid)
    left = count - len(paid)
    if left <= 0:
        return paid + ([remaining] if remaining else [])
    return paid + split_instalments(remaining, left)
