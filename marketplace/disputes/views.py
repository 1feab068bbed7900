"""Report a problem, answer it, decide it."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from marketplace.disputes import services
from marketplace.disputes.forms import AnswerForm, OpenDisputeForm, ResolveForm
from marketplace.disputes.models import DisputeReason, DisputeStatus
from marketplace.members.services import require_admin
from marketplace.money import MoneyError, parse_cents
from marketplace.web import attach_error, run_service

bp = Blueprint("disputes", __name__, url_prefix="/disputes")


@bp.route("/")
@login_required
def index():
    return render_template("disputes/index.html", disputes=services.disputes_for(current_user))


@bp.route("/report/<int:line_id>", methods=["GET", "POST"])
@login_required
def report(line_id: int):
    line = services.disputable_line(current_user, line_id)
    form = OpenDisputeForm()
    status = 200
    if form.validate_on_submit():
        dispute, error = run_service(services.open_dispute, current_user, line_id, DisputeReason(form.reason.data),
                                     form.note.data, success=_("Reported: the producer and the admins are told."))
        if error is None:
            return redirect(url_for("disputes.show", dispute_id=dispute.id))
        attach_error(form, error)
        status = error.status_code
    elif form.errors:
        status = 400
    return render_template("disputes/report.html", form=form, line=line), status


def _show(dispute, answer_form=None, resolve_form=None, status=200):
    return render_template("disputes/show.html", dispute=dispute, answer_form=answer_form or AnswerForm(),
                           resolve_form=resolve_form or ResolveForm(),
                           max_cents=services.max_compensation_cents(dispute)), status


@bp.route("/<int:dispute_id>")
@login_required
def show(dispute_id: int):
    return _show(services.get_dispute(current_user, dispute_id))


@bp.route("/<int:dispute_id>/answer", methods=["POST"])
@login_required
def answer(dispute_id: int):
    dispute = services.get_dispute(current_user, dispute_id)
    form = AnswerForm()
    if not form.validate_on_submit():
        return _show(dispute, answer_form=form, status=400)
    _r, error = run_service(services.answer_dispute, current_user, dispute_id, form.answer.data,
                            success=_("Answer sent."))
    if error is not None:
        attach_error(form, error)
        return _show(services.get_dispute(current_user, dispute_id), answer_form=form, status=error.status_code)
    return redirect(url_for("disputes.show", dispute_id=dispute_id))


@bp.route("/<int:dispute_id>/resolve", methods=["POST"])
@login_required
def resolve(dispute_id: int):
    require_admin(current_user)
    dispute = services.get_dispute(current_user, dispute_id)
    form = ResolveForm()
    if not form.validate_on_submit():
        return _show(dispute, resolve_form=form, status=400)
    try:
        outcome = DisputeStatus(form.outcome.data)
        cents = 0 if outcome == DisputeStatus.REJECTED else parse_cents(form.amount.data)
    except MoneyError as exc:
        form.amount.errors = [_(str(exc))]
        return _show(dispute, resolve_form=form, status=400)
    _r, error = run_service(services.resolve_dispute, current_user, dispute_id, outcome, cents, form.note.data,
                            success=_("Decision recorded; both parties are told."))
    if error is not None:
        attach_error(form, error)
        return _show(services.get_dispute(current_user, dispute_id), resolve_form=form, status=error.status_code)
    return redirect(url_for("disputes.show", dispute_id=dispute_id))


@bp.route("/admin")
@login_required
def admin_list():
    status = request.args.get("status", "open")[:20]
    return render_template("disputes/admin.html", disputes=services.all_disputes(current_user, status),
                           status=status, statuses=list(DisputeStatus))


