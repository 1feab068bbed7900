"""E-mails from the admins' console to producers (rendered in the recipient's language: core.mail)."""
from __future__ import annotations

from flask_babel import gettext as _

from marketplace.core.mail import email_template


@email_template(name="Pommes Reinette", reason="produit non local")
def product_hidden(name: str, reason: str) -> tuple[str, str]:
    return (_("%(name)s is hidden from the shop", name=name),
            _("The coop's administrators have hidden %(name)s from the shop: %(reason)s\n"
              "Reply to this e-mail if you think this is a mistake.", name=name, reason=reason))


@email_template(name="Pommes Reinette")
def product_shown(name: str) -> tuple[str, str]:
    return (_("%(name)s is back in the shop", name=name),
            _("The coop's administrators have put %(name)s back in the shop.", name=name))
