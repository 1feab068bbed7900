"""E-mails about the coop's fees (rendered in the recipient's language: core.mail)."""
from __future__ import annotations

from datetime import date

from flask_babel import format_date
from flask_babel import gettext as _

from marketplace.core.mail import email_template
from marketplace.money import format_money


@email_template(month=date(2026, 10, 1), amount_cents=412, how="3.00 + 1.12", url="https://shop.example/my-fees")
def fee_statement(month: date, amount_cents: int, how: str, url: str) -> tuple[str, str]:
    """`how`: the allocation's own explanation (locale-neutral figures)."""
    label = format_date(month, "MMMM y")
    return (_("Your coop fee for %(p)s: %(amount)s", p=label, amount=format_money(amount_cents)),
            _("The coop keeps no margin: its members share exactly what running it cost in %(p)s.\n\n"
              "Your fee: %(amount)s.\nHow it was computed: %(how)s\n\nYour statement (web page and PDF) is "
              "under \"My fees\" on the coop's site: %(url)s", p=label,
              amount=format_money(amount_cents), how=how, url=url))
