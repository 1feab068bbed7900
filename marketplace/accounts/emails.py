"""E-mails about members' accounts (rendered in the recipient's language: core.mail)."""
from __future__ import annotations

from flask_babel import gettext as _

from marketplace.core.mail import email_template
from marketplace.money import format_money


@email_template(member="Marie Dupont", amount_cents=1250)
def payback_requested(member: str, amount_cents: int) -> tuple[str, str]:
    return (_("A member asks for their balance back"),
            _("%(member)s asks for their balance of %(amount)s back. Record the payback on their "
              "account page once it is handed over.", member=member, amount=format_money(amount_cents)))
