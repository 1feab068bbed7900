"""Card checkout, Stripe webhooks, onboarding of producers and couriers, statements, receipts, admin."""
from __future__ import annotations

import click
import stripe
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from marketplace.core.errors import ServiceError
from marketplace.extensions import csrf, db
from marketplace.members.services import require_admin
from marketplace.money import MoneyError, parse_cents
from marketplace.orders.models import Order, OrderLine
from marketplace.payments import reconciliation, services, sync, webhooks
from marketplace.payments.common import alert_text
from marketplace.payments.forms import DisputeRefundForm
from marketplace.payments.labels import error_text, ledger_label
from marketplace.web import REFUSED, act, form_status, json_object, perform, request_int

bp = Blueprint("payments", __name__)
bp.add_app_template_global(ledger_label, "ledger_label")
bp.add_app_template_global(alert_text, "payment_alert_text")
bp.add_app_template_global(error_text, "payment_error_text")


# ---------------------------------------------------------------- buyer: hosted checkout

@bp.route("/payments/orders/<int:order_id>/pay", methods=["POST"])
@login_required
def start_checkout(order_id: int):
    # POST: it creates the Checkout Session. Checkout hands over here with a 307, which repeats its POST.
    url = perform(services.start_checkout, current_user, order_id,
                  back=url_for("orders.order_page", order_id=order_id))
    return redirect(url, code=303)


@bp.route("/payments/top-up", methods=["POST"])
@login_required
def start_top_up():
    """A member tops their account up by card (the coop's hosted Checkout page)."""
    from marketplace.payments import topups

    back = url_for("accounts.mine")
    try:
        amount_cents = parse_cents(request.form.get("amount"))
    except MoneyError as exc:  # money.py's fixed English sentences, translated here
        flash(_(str(exc)), "error")
        return redirect(back, 303)
    url = perform(topups.start_top_up, current_user, amount_cents, back=back)
    return redirect(url, code=303)


@bp.route("/payments/orders/<int:order_id>/return")
@login_required
def checkout_return(order_id: int):
    # Coming back from Stripe proves nothing by itself: the payment is read back from Stripe.
    order = sync.sync_on_return(current_user, order_id)
    db.session.commit()
    return render_template("payments/return.html", order=order)


@bp.route("/payments/orders/<int:order_id>/cancelled", methods=["GET", "POST"])
@login_required
def checkout_cancelled(order_id: int):
    order = db.session.get(Order, order_id)
    if order is None or order.buyer_id != current_user.id:
        abort(404, _("No such order."))
    if request.method == "POST":
        return act(services.abandon_checkout, current_user, order_id, success=_("Order cancelled."),
                   back=url_for("orders.order_page", order_id=order_id))
    return render_template("payments/cancelled.html", order=order)


@bp.route("/payments/orders/<int:order_id>/receipts/<int:part_id>")
@login_required
def receipt(order_id: int, part_id: int):
    part = services.part_receipt(current_user, order_id, part_id)
    return render_template("payments/receipt.html", part=part, order=part.order,
                           refunded=services.part_refunded_cents(part.id))


# ---------------------------------------------------------------- Stripe webhooks

@bp.route("/stripe/webhook", methods=["POST"])
@csrf.exempt
def webhook():
    return _receive(connect=False)


@bp.route("/stripe/connect-webhook", methods=["POST"])
@csrf.exempt
def connect_webhook():
    # Events about members' Stripe accounts: Stripe sends them to their own endpoint and secret.
    return _receive(connect=True)


def _receive(connect: bool):
    payload = request.get_data()
    try:
        json_object(payload)  # one JSON object of sane depth, or a 400 before anything else reads it
    except ServiceError as exc:
        return {"error": exc.message}, 400
    try:
        webhooks.receive_webhook(payload, request.headers.get("Stripe-Signature", ""), connect=connect)
    except (ValueError, stripe.SignatureVerificationError):
        db.session.rollback()
        return {"error": "invalid payload or signature"}, 400
    db.session.commit()
    return {"received": True}, 200


# ---------------------------------------------------------------- producers and couriers: Stripe account

@bp.route("/payments/account")
@login_required
def account():
    return render_template("payments/account.html", statement=services.member_statement(current_user))


@bp.route("/payments/account/connect", methods=["POST"])
@login_required
def connect():
    return _to_onboarding()


@bp.route("/payments/account/return")
@login_required
def onboarding_return():
    account = services.account_of(current_user.id)
    if account is not None:
        services.sync_account(account.stripe_account_id)
        db.session.commit()
    return redirect(url_for("payments.account"))


@bp.route("/payments/account/refresh")
@login_required
def onboarding_refresh():
    # Stripe sends the member here (a GET) when a link expired: a fresh link is only made on their POST.
    return render_template("payments/onboarding_refresh.html")


def _to_onboarding():
    """Send the member to Stripe's hosted onboarding, or back to their page with the reason."""
    url = perform(services.start_onboarding, current_user, back=url_for("payments.account"))
    return redirect(url, code=303)


# ---------------------------------------------------------------- admin: ledger, events, disputes

@bp.route("/payments/admin")
@login_required
def admin():
    require_admin(current_user)
    flagged = reconciliation.events_to_check(current_user, request_int("events", 1, minimum=1, maximum=100_000))
    reconciled = reconciliation.balances_page(current_user, request_int("page", 1, minimum=1, maximum=100_000))
    return render_template("payments/admin.html", flagged=flagged, balances=reconciled.balances,
                           result=reconciled.pages)


@bp.route("/payments/admin/ledger")
@login_required
def ledger():
    entries = reconciliation.ledger_page(current_user, request_int("page", 1, minimum=1, maximum=1_000_000))
    return render_template("payments/ledger.html", entries=entries.items, result=entries)


@bp.route("/payments/admin/lines/<int:line_id>/refund", methods=["GET", "POST"])
@login_required
def dispute_refund(line_id: int):
    require_admin(current_user)
    line = db.session.get(OrderLine, line_id)
    if line is None:
        abort(404)
    form = DisputeRefundForm()
    if form.validate_on_submit():
        try:
            cents = parse_cents(form.amount.data)
        except MoneyError as exc:
            form.amount.errors.append(_(str(exc)))
        else:
            if perform(services.resolve_dispute, current_user, line_id, cents, form.reason.data, form=form,
                       success=_("Refund on its way; the producer's transfer is reversed.")) is not REFUSED:
                return redirect(url_for("orders.order_page", order_id=line.part.order_id))
    return render_template("payments/dispute.html", form=form, line=line), form_status(form)


# ---------------------------------------------------------------- CLI: flask payments reconcile

@bp.cli.command("reconcile")
@click.option("--no-stripe", is_flag=True, help="Check the ledger only, without asking Stripe.")
def reconcile_command(no_stripe: bool) -> None:
    """For each card order: charged = transferred + refunded + withheld, to the cent. Exit 1 on a mismatch."""
    balances = reconciliation.reconcile(check_stripe=not no_stripe)
    wrong = [b for b in balances if not b.ok]
    for b in balances:
        state = "OK" if b.ok else "MISMATCH"
        if b.ok and not b.settled and b.difference:
            state = "PENDING"
        click.echo(f"{state:<9} {b.reference}: charged {b.charged} - refunded {b.refunded} - chargebacks "
                   f"{b.chargebacks} + borne by the coop {b.coop_cost} = transferred {b.transferred} + withheld "
                   f"{b.withheld} (difference {b.difference}) {'; '.join(b.stripe_problems)}")
    platform = [] if no_stripe else reconciliation.reconcile_platform()
    for problem in platform:
        click.echo(f"MISMATCH  platform balance: {problem}")
    if wrong or platform:
        reconciliation.reconcile_and_alert(check_stripe=not no_stripe)
    click.echo(f"{len(balances)} order(s) checked, {len(wrong) + len(platform)} mismatch(es).")
    if wrong or platform:
        raise SystemExit(1)


from marketplace.payments import admin_views  # noqa: E402,F401  (more routes on this blueprint)
