"""E-mails about contracts, to members (rendered in the recipient's language: core.mail)."""
from __future__ import annotations

from flask_babel import gettext as _

from marketplace.core.mail import email_template
from marketplace.money import format_money


@email_template(title="Panier de légumes", version=2, deliveries=12, first_cents=7200, instalments=3)
def subscribed(title: str, version: int, deliveries: int, first_cents: int, instalments: int) -> tuple[str, str]:
    return (_("Your contract: %(title)s", title=title),
            _("You accepted version %(v)d of the contract \"%(title)s\": %(n)d deliveries, paid in %(k)d "
              "instalment(s), the first %(first)s. Your contract (PDF), its schedule and your absences are on "
              "your contract's page.", v=version, title=title, n=deliveries, k=instalments,
              first=format_money(first_cents)))


@email_template(title="", reason="Moved to another town", made=3)  # "": a standing order
def subscription_stopped(title: str, reason: str, made: int) -> tuple[str, str]:
    title = title or _("Standing order")
    return (_("Your subscription is stopped: %(title)s", title=title),
            _("Your subscription \"%(title)s\" has been stopped by the coop: %(reason)s. No order will be made for "
              "the next distributions; the %(n)d order(s) already made stay as they are. Your schedule has been "
              "recomputed for the deliveries you had: see your contract's page.", title=title, reason=reason,
              n=made))
