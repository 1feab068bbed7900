"""Invoices: download, registers and exports, the billing mandate, buyers' and couriers' invoicing details."""
from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from marketplace.core.legal import IDENTITY_FIELDS
from marketplace.extensions import db
from marketplace.invoicing import documents, facturx, issuing, mandate, parties, registers
from marketplace.invoicing.forms import BuyerIdentityForm, CourierIdentityForm, MandateForm
from marketplace.invoicing.models import BuyerIdentity
from marketplace.members.services import require_admin
from marketplace.web import REFUSED, act, form_status, perform, request_int

bp = Blueprint("invoicing", __name__)


@bp.app_template_global()
def invoices_of_order(order) -> dict:
    """For the order page: the invoices the viewer may download, and how many are still to come."""
    if not current_user.is_authenticated:
        return {"invoices": [], "waiting": 0}
    return {"invoices": registers.order_invoices(current_user, order),
            "waiting": registers.order_waiting_count(order) if order.buyer_id == current_user.id else 0}


def _csv(text: str, name: str) -> Response:
    return Response(text, mimetype="text/csv",  # csv_text starts with the BOM
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _period():
    return registers.parse_period(request.args.get("start", "").strip()[:10] or None,
                                  request.args.get("end", "").strip()[:10] or None)


@bp.route("/invoices")
@login_required
def my_invoices():
    first, last = _period()
    is_seller = current_user.is_active_member and current_user.membership.college.value in ("producer", "courier")
    register = registers.seller_register_page(current_user, first, last, _page("page")) if is_seller else None
    party = mandate.party_of(current_user) if is_seller else None
    start, end = request.args.get("start", ""), request.args.get("end", "")
    return render_template("invoicing/index.html", register=register, is_seller=is_seller,
                           waiting=registers.seller_waiting_count(current_user) if is_seller else 0,
                           received=registers.received_invoices_page(current_user, first, last,
                                                                     _page("received_page")),
                           mandate=mandate.mandate_in_force(party, current_user.id) if party else None,
                           start=start, end=end, filters={k: v for k, v in (("start", start), ("end", end)) if v})


def _page(name: str) -> int:
    return request_int(name, 1, minimum=1, maximum=100_000)


@bp.route("/invoices/register.csv")
@login_required
def register_csv():
    first, last = _period()
    rows = registers.seller_register(current_user, first, last)
    return _csv(registers.register_csv(rows), f"registre-factures-{first or 'debut'}-{last or 'fin'}.csv")


@bp.route("/invoices/<int:invoice_id>.pdf")
@login_required
def download(invoice_id: int):
    invoice = registers.viewable_invoice(current_user, invoice_id)
    document = documents.stored_document(invoice)
    db.session.commit()
    return Response(document.pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{documents.filename(invoice)}"'})


@bp.route("/invoices/<int:invoice_id>.xml")
@login_required
def download_xml(invoice_id: int):
    invoice = registers.viewable_invoice(current_user, invoice_id)
    return Response(facturx.invoice_xml(invoice), mimetype="application/xml",
                    headers={"Content-Disposition": f'attachment; filename="factur-x-{invoice.number_text}.xml"'})


@bp.route("/invoices/mandate", methods=["GET", "POST"])
@login_required
def mandate_page():
    party = mandate.party_of(current_user)
    form = MandateForm(version=str(mandate.current_version(party)))
    if form.validate_on_submit() and perform(
            issuing.accept_mandate_and_catch_up, current_user, request_int("version", form=True, required=True),
            request.remote_addr or "", form=form, success=_("Billing mandate accepted.")) is not REFUSED:
        return redirect(url_for("invoicing.my_invoices"))
    return render_template("invoicing/mandate.html", form=form, text=mandate.mandate_text(party),
                           in_force=mandate.mandate_in_force(party, current_user.id)), form_status(form)


@bp.route("/invoices/mandate/revoke", methods=["POST"])
@login_required
def revoke_mandate():
    return act(mandate.revoke_mandate, current_user, success=_("Billing mandate ended."),
               back=url_for("invoicing.mandate_page"))


@bp.route("/invoices/business", methods=["GET", "POST"])
@login_required
def business():
    form = BuyerIdentityForm(obj=db.session.get(BuyerIdentity, current_user.id))
    if form.validate_on_submit() and perform(
            parties.save_buyer_identity, current_user, business_name=form.business_name.data, siren=form.siren.data,
            vat_number=form.vat_number.data, form=form, success=_("Invoicing details saved.")) is not REFUSED:
        return redirect(url_for("invoicing.business"))
    return render_template("invoicing/business.html", form=form), form_status(form)


@bp.route("/invoices/courier", methods=["GET", "POST"])
@login_required
def courier_identity():
    profile = parties.own_courier_profile(current_user)
    form = CourierIdentityForm(obj=profile)
    if request.method == "GET" and profile is not None:
        form.self_employed.data = profile.business_status.value == "self_employed"
        form.vat_regime.data = profile.vat_regime.value if profile.vat_regime else ""
    if form.validate_on_submit() and perform(
            parties.save_courier_identity, current_user, self_employed=form.self_employed.data,
            **{name: getattr(form, name).data or "" for name in IDENTITY_FIELDS}, form=form,
            success=_("Invoicing details saved.")) is not REFUSED:
        return redirect(url_for("invoicing.courier_identity"))
    return render_template("invoicing/courier.html", form=form, profile=profile), form_status(form)


# ---------------------------------------------------------------- admins

@bp.route("/admin/invoicing")
@login_required
def admin_index():
    require_admin(current_user)
    waiting = registers.waiting_drafts_page(current_user, _page("page"))
    return render_template("invoicing/admin.html", waiting=waiting.items, pages=waiting,
                           coop_gaps=parties.coop_gaps())


@bp.route("/admin/invoicing/journal.csv")
@login_required
def journal_csv():
    first, last = _period()
    invoices = registers.journal(current_user, first, last)
    return _csv(registers.journal_csv(invoices), f"journal-ventes-{first or 'debut'}-{last or 'fin'}.csv")


@bp.route("/admin/invoicing/issue-pending", methods=["POST"])
@login_required
def issue_pending():
    require_admin(current_user)
    back = url_for("invoicing.admin_index")
    issued = perform(issuing.issue_pending, back=back)
    flash(_("%(n)d invoice(s) issued.", n=len(issued)), "success")
    return redirect(back)

