"""E-mails about orders, to buyers and producers (rendered in the recipient's language: core.mail)."""
from __future__ import annotations

from datetime import datetime

from flask_babel import format_datetime
from flask_babel import gettext as _

from marketplace.catalog.models import Unit
from marketplace.core.mail import email_template
from marketplace.money import format_money
from marketplace.web import known_word

UNIT_CODES = frozenset(unit.value for unit in Unit)


def _minimum_not_reached(producer: str, min_cents: int, total_cents: int) -> str:
    return _("%(producer)s's minimum order for this distribution (%(min)s) was not reached (%(total)s).",
             producer=producer, min=format_money(min_cents), total=format_money(total_cents))


@email_template(ref="C-0042", producer="Ferme du Marais", min_cents=5000, total_cents=1850)
def part_cancelled_under_minimum(ref: str, producer: str, min_cents: int, total_cents: int) -> tuple[str, str]:
    return (_("Part of your order %(ref)s is cancelled", ref=ref),
            _minimum_not_reached(producer, min_cents, total_cents) + " " + _("You will not pay for these products."))


@email_template(ref="C-0042", place="Marché de Talensac", day=datetime(2026, 12, 3, 17, 0))
def order_cancelled_with_distribution(ref: str, place: str, day: datetime) -> tuple[str, str]:
    """The coop cancelled the distribution the order was for (naive UTC, shown in the coop's time zone)."""
    return (_("Your order %(ref)s is cancelled", ref=ref),
            _("The coop cancelled the distribution at %(place)s on %(day)s. Your order %(ref)s is cancelled: "
              "you will not pay for it, and a card payment is released or refunded.",
              place=place, day=format_datetime(day, "short"), ref=ref))


@email_template(producer="Ferme du Marais", min_cents=5000, total_cents=1850)
def no_harvest(producer: str, min_cents: int, total_cents: int) -> tuple[str, str]:
    return _("No harvest for this distribution"), _minimum_not_reached(producer, min_cents, total_cents)


@email_template(place="Marché de Talensac", lines=[("Pommes Reinette", 3, "kg", None), ("Chou", 2, "piece", 900)])
def harvest_list(place: str, lines: list[tuple[str, int, str, int | None]]) -> tuple[str, str]:
    """`lines`: (product name, quantity, unit code, estimated grams or None)."""
    body = "\n".join(f"- {name}: {quantity} × {known_word(unit, UNIT_CODES)}" + (f" (~{grams} g)" if grams else "")
                     for name, quantity, unit, grams in lines)
    return (_("Harvest list for %(place)s", place=place),
            _("Ordering is closed. Please harvest and pack:") + "\n" + body)


@email_template(ref="C-0042", producer="Ferme du Marais", product="Pommes Reinette", reason="gel", amount_cents=450)
def line_unavailable(ref: str, producer: str, product: str, reason: str, amount_cents: int) -> tuple[str, str]:
    return (_("A product of your order %(ref)s is unavailable", ref=ref),
            _("%(producer)s cannot supply %(product)s: %(reason)s. You will not pay for it (%(amount)s).",
              producer=producer, product=product, reason=reason, amount=format_money(amount_cents)))


@email_template(ref="C-0042", total_cents=3275)
def order_ready(ref: str, total_cents: int) -> tuple[str, str]:
    return (_("Order %(ref)s is ready", ref=ref),
            _("Every producer has packed your order %(ref)s. Amount due: %(total)s.",
              ref=ref, total=format_money(total_cents)))


@email_template(ref="C-0042", place="Marché de Talensac", total_cents=3275)
def order_confirmed(ref: str, place: str, total_cents: int) -> tuple[str, str]:
    return (_("Order %(ref)s confirmed", ref=ref),
            _("Thank you! Your order %(ref)s for %(when)s is placed. Estimated total: %(total)s. "
              "You can change it until the cut-off.", ref=ref, when=place, total=format_money(total_cents)))


@email_template(ref="C-0042", code="4821")
def on_its_way(ref: str, code: str) -> tuple[str, str]:
    return (_("Order %(ref)s is on its way", ref=ref),
            _("A coop courier has your order %(ref)s. Have your delivery code ready: %(code)s.", ref=ref, code=code))


@email_template(ref="C-0042")
def delivered_to_buyer(ref: str) -> tuple[str, str]:
    return (_("Order %(ref)s delivered", ref=ref),
            _("Your order %(ref)s has been delivered. Thank you!", ref=ref))


@email_template(ref="C-0042")
def delivered_to_producer(ref: str) -> tuple[str, str]:
    return (_("Order %(ref)s delivered", ref=ref),
            _("Your part of order %(ref)s has been delivered to the buyer.", ref=ref))


@email_template(ref="C-0042", place="Marché de Talensac", total_cents=2200,
                unserved=[("Poireaux", "sold_out")], paid_by_contract=True)
def subscription_order_placed(ref: str, place: str, total_cents: int, unserved: list[tuple[str, str]],
                              paid_by_contract: bool) -> tuple[str, str]:
    """`unserved`: (product name, reason code of orders.events.REASONS) for each line that could not be served."""
    from marketplace.orders.events import reason_text

    if paid_by_contract:
        body = _("Your basket for %(place)s is ordered (order %(ref)s). It is paid by your contract.",
                 place=place, ref=ref)
    else:
        body = _("Your standing order for %(place)s is placed (order %(ref)s). Estimated total: %(total)s.",
                 place=place, ref=ref, total=format_money(total_cents))
    lines = "\n".join(f"- {name}: {reason_text(reason)}" for name, reason in unserved)
    if lines:
        body += "\n" + _("Could not be served this time:") + "\n" + lines
    body += "\n" + _("You can change it or declare an absence until the cut-off.")
    return _("Order %(ref)s placed for you", ref=ref), body
