"""E-mails about card payments and transfers (rendered in the recipient's language: core.mail)."""
from __future__ import annotations

from flask_babel import gettext as _

from marketplace.core.mail import email_template
from marketplace.money import format_money


@email_template(ref="C-0042", max_cents=3930)
def card_authorised(ref: str, max_cents: int) -> tuple[str, str]:
    return (_("Card authorised for order %(ref)s", ref=ref),
            _("Your card is authorised for at most %(max)s. You will be charged the final amount "
              "once the producers have weighed and packed your order.", max=format_money(max_cents)))


@email_template(ref="C-0042", amount_cents=3275)
def card_charged(ref: str, amount_cents: int) -> tuple[str, str]:
    return (_("Payment of order %(ref)s", ref=ref),
            _("Your card has been charged %(amount)s for order %(ref)s. Each producer's receipt is on "
              "your order page.", amount=format_money(amount_cents), ref=ref))


@email_template(ref="C-0042", amount_cents=450, reason="fruits abîmés")
def refunded(ref: str, amount_cents: int, reason: str) -> tuple[str, str]:
    return (_("Refund for order %(ref)s", ref=ref),
            _("%(amount)s has been refunded to your card: %(reason)s", amount=format_money(amount_cents),
              reason=reason))


@email_template(ref="C-0042", amount_cents=2810, withheld_cents=300)
def payment_sent(ref: str, amount_cents: int, withheld_cents: int) -> tuple[str, str]:
    body = _("%(amount)s has been transferred to your Stripe account (%(ref)s).", amount=format_money(amount_cents),
             ref=ref)
    if withheld_cents:
        body += " " + _("%(w)s was withheld for your coop fees due.", w=format_money(withheld_cents))
    return _("Payment sent: %(amount)s", amount=format_money(amount_cents)), body


@email_template(ref="C-0042", amount_cents=1200)
def chargeback_taken_back(ref: str, amount_cents: int) -> tuple[str, str]:
    return (_("A chargeback on order %(ref)s", ref=ref),
            _("The buyer's bank took back the payment of order %(ref)s and the coop lost the dispute. By the "
              "coop's published rule, %(amount)s is taken back from what you were paid for it.",
              ref=ref, amount=format_money(amount_cents)))
