"""E-mails about a reported problem, to the buyer, the producer and the admins (core.mail)."""
from __future__ import annotations

from flask_babel import gettext as _

from marketplace.core.mail import email_template
from marketplace.disputes.models import DisputeReason, DisputeStatus
from marketplace.money import format_money


@email_template(ref="C-0042", buyer="Marie Dupont", reason=DisputeReason.DAMAGED, product="Œufs", note="3 cassés")
def problem_reported(ref: str, buyer: str, reason: DisputeReason, product: str, note: str) -> tuple[str, str]:
    return (_("Problem reported on order %(ref)s", ref=ref),
            _("%(buyer)s reports a problem (%(reason)s) with %(product)s: %(note)s",
              buyer=buyer, reason=_(reason.value), product=product, note=note))


@email_template(ref="C-0042", producer="Ferme du Marais", product="Œufs", answer="Désolés !")
def producer_answered(ref: str, producer: str, product: str, answer: str) -> tuple[str, str]:
    return (_("The producer answered about order %(ref)s", ref=ref),
            _("%(producer)s answers about %(product)s: %(answer)s", producer=producer, product=product,
              answer=answer))


@email_template(ref="C-0042", product="Œufs", outcome=DisputeStatus.CREDITED, amount_cents=120, note="")
def decision(ref: str, product: str, outcome: DisputeStatus, amount_cents: int, note: str) -> tuple[str, str]:
    text = {
        DisputeStatus.REFUNDED: _("%(amount)s is refunded to the card used for the order.",
                                  amount=format_money(amount_cents)),
        DisputeStatus.CREDITED: _("%(amount)s is credited to your account with the coop: it pays your next "
                                  "order first, or is handed back on request.", amount=format_money(amount_cents)),
        DisputeStatus.REJECTED: _("No compensation."),
    }[outcome]
    return (_("Decision on the problem with order %(ref)s", ref=ref),
            f"{product}: {text} {note}".rstrip())
