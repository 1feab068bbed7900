"""E-mails about card payments and transfers (rendered in the recipient's language: core.mail)."""
from __future__ import annotations

from datetime import datetime

from flask_babel import format_datetime
from flask_babel import gettext as _

from marketplace.core.mail import email_template
from marketplace.money import format_money
from marketplace.payments.labels import error_text


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


# ---------------------------------------------------------------- alerts to the admins (PaymentAlert)
# Stored as the composer's name and its values, worded for each reader (payments.common.raise_alert).

@email_template(ref="payout-part-12", error="account not enabled")
def payout_blocked(ref: str, error: str) -> tuple[str, str]:
    return (_("A payout is blocked"),
            _("%(ref)s: %(error)s", ref=ref, error=error_text(error)) + " "
            + _("Check the member's Stripe account, then retry it from the payments page."))


@email_template(ref="payout-part-12", amount_cents=2810, member="Claire Moreau", available_cents=1200)
def payout_waiting(ref: str, amount_cents: int, member: str, available_cents: int) -> tuple[str, str]:
    reason = _("The coop's Stripe balance has %(available)s available; %(needed)s is needed. It is paid "
               "as soon as funds are available.", available=format_money(max(available_cents, 0)),
               needed=format_money(amount_cents))
    return (_("A payout waits for the coop's Stripe balance"),
            _("%(ref)s (%(amount)s to %(member)s): %(reason)s", ref=ref, amount=format_money(amount_cents),
              member=member, reason=reason) + " "
            + _("Top up the coop's Stripe balance if card payments will not cover it soon."))


@email_template(ref="C-0042", amount_cents=450, buyer="Marie Dupont", error="expired_or_canceled_card")
def refund_failed(ref: str, amount_cents: int, buyer: str, error: str) -> tuple[str, str]:
    return (_("Refund failed for order %(ref)s", ref=ref),
            _("%(amount)s could not be refunded to %(buyer)s's card: %(error)s. Next step: give it back "
              "another way (bank transfer), then mark it refunded on the payments page.",
              amount=format_money(amount_cents), buyer=buyer, error=error_text(error)))


@email_template(member="Claire Moreau", amount_cents=450, error="insufficient funds")
def reversal_refused(member: str, amount_cents: int, error: str) -> tuple[str, str]:
    return (_("A reversal from %(member)s was refused", member=member),
            _("%(amount)s could not be taken back from %(member)s's Stripe account (%(error)s): it is retried "
              "every day. Next step: ask them to keep the funds on Stripe, or let the coop bear it from the "
              "payments page.", amount=format_money(amount_cents), member=member, error=error_text(error)))


@email_template(ref="C-0042", amount_cents=450)
def refund_pending(ref: str, amount_cents: int) -> tuple[str, str]:
    return (_("A refund has been pending for days"),
            _("%(amount)s for order %(ref)s is still pending at Stripe. Check it in the Stripe "
              "dashboard.", amount=format_money(amount_cents), ref=ref))


@email_template(orders=[{"ref": "C-0042", "charged": 3275, "transferred": 3000, "refunded": 0, "withheld": 0,
                         "chargebacks": 0, "coop_cost": 0, "difference": 275, "problems": []}],
                platform=["txn_1: transfer without a payout"])
def not_reconciled(orders: list[dict], platform: list[str]) -> tuple[str, str]:
    """`orders`: payments.reconciliation.describe's values; `platform`: Stripe movements found wrong, as found."""
    money = ("charged", "transferred", "refunded", "withheld", "chargebacks", "coop_cost", "difference")
    lines = [_("%(ref)s: charged %(charged)s, transferred %(transferred)s, refunded %(refunded)s, withheld "
               "%(withheld)s, chargebacks %(chargebacks)s, borne by the coop %(coop_cost)s, difference "
               "%(difference)s", ref=o["ref"], **{k: format_money(o[k]) for k in money})
             + "".join(f" {p}" for p in o["problems"]) for o in orders]
    return _("Payments do not reconcile"), "\n".join(lines + list(platform))


@email_template(type="charge.refunded", id="evt_1", object="ch_1")
def event_unmatched(type: str, id: str, object: str) -> tuple[str, str]:
    return (_("Payment event needs checking"),
            _("Stripe sent %(type)s (%(id)s) about %(object)s, which matches nothing in the shop. "
              "Check it in the Stripe dashboard.", type=type, id=id, object=object))


@email_template(ref="C-0042", due_at="2026-12-01T10:00:00", amount_cents=3275, reason="fraudulent", fee_cents=1500,
                rule="coop_absorbs")
def chargeback_opened(ref: str, due_at: str, amount_cents: int, reason: str, fee_cents: int,
                      rule: str) -> tuple[str, str]:
    """`due_at`: ISO naive UTC or ""; `rule`: the published rule's code (payments.chargebacks.RULES)."""
    from marketplace.payments.chargebacks import RULES

    due = format_datetime(datetime.fromisoformat(due_at), "y-MM-dd HH:mm") if due_at else "?"  # coop's time
    return (_("Chargeback on order %(ref)s: answer before %(due)s", ref=ref, due=due),
            _("The buyer's bank disputed %(amount)s (%(reason)s). Stripe took it from the coop's balance with "
              "its fee of %(fee)s. Send the evidence (delivery, weighing, messages) from the Stripe dashboard "
              "before %(due)s, then follow it on the payments page. If it is lost: %(rule)s",
              amount=format_money(amount_cents), reason=reason, fee=format_money(fee_cents), due=due,
              rule=RULES.get(rule, rule)))


@email_template(ref="C-0042", amount_cents=3275, handed=True)
def hold_lapsed(ref: str, amount_cents: int, handed: bool) -> tuple[str, str]:
    due = (_("The goods were handed over: %(amount)s is due from the buyer, to collect another way.",
             amount=format_money(amount_cents)) if handed else
           _("The order is not delivered yet: %(amount)s is due at pickup or delivery.",
             amount=format_money(amount_cents)))
    return (_("Order %(ref)s: the card hold lapsed before capture", ref=ref),
            due + " " + _("Nothing was charged on the card."))


@email_template(ref="C-0042", due_cents=3500, held_cents=3275)
def above_hold(ref: str, due_cents: int, held_cents: int) -> tuple[str, str]:
    return (_("Order %(ref)s: amount above the card hold", ref=ref),
            _("%(due)s is due but only %(held)s was authorised; %(gap)s must be collected another way.",
              due=format_money(due_cents), held=format_money(held_cents), gap=format_money(due_cents - held_cents)))
