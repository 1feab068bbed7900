"""E-mails about invoices (rendered in the recipient's language: core.mail)."""
from __future__ import annotations

from flask_babel import gettext as _

from marketplace.core.mail import email_template


@email_template(no_mandate=True)
def sales_waiting_for_invoices(no_mandate: bool) -> tuple[str, str]:
    """`no_mandate`: the billing mandate is not accepted yet; otherwise the seller identity is incomplete."""
    what = (_("accept the billing mandate") if no_mandate
            else _("complete your seller identity (legal name, address, SIRET, VAT)"))
    return (_("Your sales are waiting for their invoices"),
            _("The coop issues the invoices for your sales in your name. To do so, please %(what)s on the "
              "\"Invoices\" page. Your waiting sales will then be invoiced at once.", what=what))


@email_template(what="C-0042", error="SIRET manquant")
def invoicing_failed(what: str, error: str) -> tuple[str, str]:
    return (_("Invoicing failed: %(what)s", what=what),
            _("No invoice was issued for %(what)s: %(error)s. Issue it from the invoicing page once "
              "the cause is fixed.", what=what, error=error))
