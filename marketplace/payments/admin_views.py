"""Money that needs an admin (alerts, waiting payouts, failed refunds, chargebacks) and the member's dashboard link.

Routes of the payments blueprint (marketplace.payments.views.bp): each parses, calls a service, renders.
"""
from __future__ import annotations

from flask import redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from marketplace.members.services import require_admin
from marketplace.payments import chargebacks, common, payouts, refunds, services
from marketplace.payments.forms import OutsideRefundForm
from marketplace.payments.views import bp
from marketplace.web import act, perform


@bp.route("/payments/admin/attention")
@login_required
def attention():
    require_admin(current_user)
    return render_template("payments/attention.html", alerts=common.open_alerts(current_user),
                           payouts=payouts.stuck_payouts(current_user), credits=refunds.stuck_credits(current_user),
                           form=OutsideRefundForm())


@bp.route("/payments/admin/chargebacks")
@login_required
def chargeback_list():
    rows = chargebacks.chargebacks(current_user)
    return render_template("payments/chargebacks.html", chargebacks=rows,
                           rule=chargebacks.RULES[chargebacks.lost_chargeback_rule()])


@bp.route("/payments/admin/alerts/<int:alert_id>/resolve", methods=["POST"])
@login_required
def resolve_alert(alert_id: int):
    return act(common.resolve_alert, current_user, alert_id, success=_("Alert closed."),
               back=url_for("payments.attention"))


@bp.route("/payments/admin/payouts/<int:payout_id>/retry", methods=["POST"])
@login_required
def retry_payout(payout_id: int):
    return act(payouts.retry_payout, current_user, payout_id, success=_("The payout is sent again."),
               back=url_for("payments.attention"))


@bp.route("/payments/admin/credits/<int:credit_id>/refunded-outside", methods=["POST"])
@login_required
def refunded_outside(credit_id: int):
    require_admin(current_user)
    form = OutsideRefundForm()
    note = form.note.data if form.validate_on_submit() else ""
    return act(refunds.mark_refunded_outside_stripe, current_user, credit_id, note,
               success=_("Recorded: the money was given back."), back=url_for("payments.attention"))


@bp.route("/payments/admin/credits/<int:credit_id>/absorb", methods=["POST"])
@login_required
def absorb_reversal(credit_id: int):
    return act(refunds.absorb_reversal, current_user, credit_id,
               success=_("The coop bears it: recorded as a running cost."), back=url_for("payments.attention"))


@bp.route("/payments/account/dashboard", methods=["POST"])
@login_required
def stripe_dashboard():
    url = perform(services.dashboard_link, current_user, back=url_for("payments.account"))
    return redirect(url, code=303)
