"""E-mails about accounts and membership (rendered in the recipient's language: core.mail)."""
from __future__ import annotations

from flask_babel import gettext as _

from marketplace.core.mail import email_template

EXAMPLE_LINK = "https://shop.example/members/link/abc"


@email_template(number=42)
def welcome(number: int) -> tuple[str, str]:
    return (_("Welcome to the coop"),
            _("Your membership has been approved. Your member number is %(n)d.", n=number))


@email_template(reason="dossier incomplet")
def application_rejected(reason: str) -> tuple[str, str]:
    return (_("Your membership application"),
            _("Your application was not accepted: %(reason)s", reason=reason))


@email_template(login=EXAMPLE_LINK, reset=EXAMPLE_LINK)
def address_taken(login: str, reset: str) -> tuple[str, str]:
    return (_("Someone tried to open an account with your address"), _(
        "Someone (maybe you) tried to open an account at the coop's shop with this e-mail address, which "
        "already has one. If it was you, log in: %(login)s\nForgot your password? Choose a new one within "
        "two hours with this link: %(reset)s\nIf it was not you, ignore this e-mail: nothing has changed.",
        login=login, reset=reset))


@email_template(link=EXAMPLE_LINK)
def confirm_address(link: str) -> tuple[str, str]:
    return (_("Confirm your e-mail address"), _(
        "Welcome! To use your account at the coop's shop, confirm your e-mail address within seven days: open "
        "this link and enter your password.\n%(link)s\nIf you did not open an account, ignore this e-mail.",
        link=link))


@email_template(link=EXAMPLE_LINK)
def reset_password(link: str) -> tuple[str, str]:
    return (_("Reset your password"),
            _("Someone asked to reset your password. If it was you, open this link within two hours:")
            + "\n" + link + "\n" + _("Otherwise, ignore this e-mail."))


@email_template(shares=3)
def shares_changed(shares: int) -> tuple[str, str]:
    return (_("Your shares in the coop"),
            _("The register now shows %(n)d share(s) in your name.", n=shares))
