"""Reports and CSV exports (accountant, general assembly) and the admin console's product/order pages."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from marketplace.core.errors import ServiceError
from marketplace.core.services import get_setting
from marketplace.csvexport import cents_cell, csv_response
from marketplace.members.services import require_admin
from marketplace.reports import console, services
from marketplace.reports.forms import FeeRuleForm, HideProductForm, SharesForm
from marketplace.web import REFUSED, act, form_status, perform, request_date, request_int

bp = Blueprint("reports", __name__)


@bp.before_request
@login_required
def only_admins():
    require_admin(current_user)


def _period():
    for name in ("from", "to"):
        request_date(name)  # a malformed or out-of-range date is a clear 400, not a silent default or an overflow
    return services.parse_period(request.args.get("from"), request.args.get("to"))


def _page(template: str, **context):
    return render_template(f"reports/{template}", period=_period(), **context)


@bp.route("/reports/")
def index():
    return _page("index.html")


@bp.route("/reports/sales")
def sales():
    rows = services.sales_by_producer(current_user, _period())
    return _page("sales.html", rows=rows, bars=services.chart_bars(rows, "sales_cents"))


@bp.route("/reports/sales.csv")
def sales_csv():
    period = _period()
    rows = services.sales_by_producer(current_user, period)
    return csv_response(f"sales-by-producer-{period.start}-{period.end}.csv",
                        [_("Producer"), _("Orders"), _("Sales incl. VAT (EUR)"), _("of which VAT (EUR)")],
                        ([r.label, r.values["orders"], cents_cell(r.values["sales_cents"]),
                          cents_cell(r.values["vat_cents"])] for r in rows))


@bp.route("/reports/couriers")
def couriers():
    rows = services.courier_deliveries(current_user, _period())
    return _page("couriers.html", rows=rows, bars=services.chart_bars(rows, "pay_cents"))


@bp.route("/reports/couriers.csv")
def couriers_csv():
    period = _period()
    rows = services.courier_deliveries(current_user, period)
    return csv_response(f"deliveries-by-courier-{period.start}-{period.end}.csv",
                        [_("Courier"), _("Runs"), _("Stops"), _("Kilometres"), _("Pay (EUR)")],
                        ([r.label, r.values["runs"], r.values["stops"], str(r.values["km"]).replace(".", ","),
                          cents_cell(r.values["pay_cents"])] for r in rows))


@bp.route("/reports/pickup-points")
def pickup_points():
    rows = services.orders_by_pickup_point(current_user, _period())
    return _page("pickup_points.html", rows=rows, bars=services.chart_bars(rows, "orders"))


@bp.route("/reports/pickup-points.csv")
def pickup_points_csv():
    period = _period()
    rows = services.orders_by_pickup_point(current_user, period)
    return csv_response(f"orders-by-pickup-point-{period.start}-{period.end}.csv",
                        [_("Pickup point"), _("Orders"), _("Goods sold incl. VAT (EUR)")],
                        ([r.label, r.values["orders"], cents_cell(r.values["sales_cents"])] for r in rows))


@bp.route("/reports/members")
def members():
    from marketplace.members.models import College, MembershipStatus

    result = services.member_register_page(current_user, request_int("page", 1, minimum=1, maximum=100_000))
    # Enum labels translated once for the page, not once per row.
    labels = {e.value: _(e.value) for e in (*College, *MembershipStatus)}
    return _page("members.html", memberships=result.items, result=result, labels=labels, shares_form=SharesForm())


@bp.route("/reports/members.csv")
def members_csv():
    rows = services.member_register(current_user)
    return csv_response("member-register.csv",
                        [_("Member number"), _("Name"), _("E-mail"), _("College"), _("Status"), _("Joined"),
                         _("Shares"), _("Nominal value (EUR)"), _("Capital (EUR)")],
                        ([m.member_number or "", m.user.full_name, m.user.email, m.college, m.status,
                          m.joined_at.date() if m.joined_at else "", m.shares_count, cents_cell(m.share_nominal_cents),
                          cents_cell(m.shares_total_cents)] for m in rows))


@bp.route("/reports/costs")
def costs():
    entries = services.cost_ledger(current_user, _period())
    rows = services.costs_by_category(entries)
    return _page("costs.html", entries=entries, rows=rows, bars=services.chart_bars(rows, "amount_cents"),
                 total=sum(e.amount_cents for e in entries))


@bp.route("/reports/costs.csv")
def costs_csv():
    period = _period()
    entries = services.cost_ledger(current_user, period)
    return csv_response(f"cost-ledger-{period.start}-{period.end}.csv",
                        [_("Date"), _("Category"), _("Supplier"), _("Amount incl. VAT (EUR)"), _("VAT (EUR)"),
                         _("Note")],
                        ([e.incurred_on, e.category, e.supplier, cents_cell(e.amount_cents), cents_cell(e.vat_cents),
                          e.note] for e in entries))


# ---------------------------------------------------------------- console: products, orders, shares, fee rule

@bp.route("/admin/products")
def products():
    hidden_only = request.args.get("hidden") == "1"
    q = request.args.get("q", "")[:100]
    result = console.search_products(current_user, q, hidden_only,
                                     request_int("page", 1, minimum=1, maximum=100_000))
    filters = {**({"q": q} if q else {}), **({"hidden": "1"} if hidden_only else {})}
    return render_template("reports/products.html", products=result.items, result=result, q=q, filters=filters,
                           hidden_only=hidden_only, form=HideProductForm())


@bp.route("/admin/products/<int:product_id>/hide", methods=["POST"])
def hide_product(product_id: int):
    form = HideProductForm()
    reason = form.reason.data if form.validate_on_submit() else ""
    return act(console.hide_product, current_user, product_id, reason or "",
               success=_("Product hidden; the producer is told why."), back=url_for("reports.products"))


@bp.route("/admin/products/<int:product_id>/unhide", methods=["POST"])
def unhide_product(product_id: int):
    return act(console.unhide_product, current_user, product_id, success=_("Product back in the shop."),
               back=url_for("reports.products"))


@bp.route("/admin/orders/<int:order_id>")
def order(order_id: int):
    from marketplace.disputes.models import Dispute
    from marketplace.extensions import db

    item = console.order_detail(current_user, order_id)
    disputes = db.session.query(Dispute).filter_by(order_id=order_id).all()
    return render_template("reports/order.html", order=item, disputes=disputes)


@bp.route("/admin/members/<int:membership_id>/shares", methods=["POST"])
def shares(membership_id: int):
    form = SharesForm()
    return act(lambda: console.change_shares(current_user, membership_id, *_shares_and_reason(form)),
               success=_("Shares updated in the register."), back=url_for("reports.members"))


def _shares_and_reason(form: SharesForm) -> tuple[int, str]:
    if not form.validate_on_submit():
        raise ServiceError(_("Give a number of shares between 1 and 1000 and a reason."))
    return form.shares_count.data, form.reason.data


@bp.route("/admin/delivery-fee-rule", methods=["GET", "POST"])
def fee_rule():
    form = FeeRuleForm(data={"text": get_setting("delivery_fee_rule_text")})
    if form.validate_on_submit() and perform(console.set_delivery_fee_rule, current_user, form.text.data, form=form,
                                             success=_("Saved.")) is not REFUSED:
        return redirect(url_for("reports.fee_rule"))
    return render_template("reports/fee_rule.html", form=form), form_status(form)


