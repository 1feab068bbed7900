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
from marketplace.web import REFUSED, form_status, perform, request_int

bp = Blueprint("disputes", __name__, url_prefix="/disputes")


@bp.route("/")
@login_required
def index():
    result = services.disputes_for(current_user, request_int("page", 1, minimum=1, maximum=100_000))
    return render_template("disputes/index.html", disputes=result.items, result=result)


@bp.route("/report/<int:line_id>", methods=["GET", "POST"])
@login_required
def report(line_id: int):
    line = services.disputable_line(current_user, line_id)
    form = OpenDisputeForm()
    if form.validate_on_submit():
        dispute = perform(services.open_dispute, current_user, line_id, DisputeReason(form.reason.data),
                          form.note.data, form=form, success=_("Reported: the producer and the admins are told."))
        if dispute is not REFUSED:
            return redirect(url_for("disputes.show", dispute_id=dispute.id))
    return render_template("disputes/report.html", form=form, line=line), form_status(form)


def _show(dispute, answer_form=None, resolve_form=None):
    posted = answer_form if answer_form is not None else resolve_form
    return render_template("disputes/show.html", dispute=dispute, answer_form=answer_form or AnswerForm(),
                           resolve_form=resolve_form or ResolveForm(),
                           max_cents=services.max_compensation_cents(dispute)), form_status(posted)


@bp.route("/<int:dispute_id>")
@login_required
def show(dispute_id: int):
    return _show(services.get_dispute(current_user, dispute_id))


@bp.route("/<int:dispute_id>/answer", methods=["POST"])
@login_required
def answer(dispute_id: int):
    dispute = services.get_dispute(current_user, dispute_id)
    form = AnswerForm()
    if form.validate_on_submit() and perform(services.answer_dispute, current_user, dispute_id, form.answer.data,
                                             form=form, success=_("Answer sent.")) is not REFUSED:
        return redirect(url_for("disputes.show", dispute_id=dispute_id))
    return _show(dispute, answer_form=form)  # after a refusal's rollback, `dispute` reloads as it is


@bp.route("/<int:dispute_id>/resolve", methods=["POST"])
@login_required
def resolve(dispute_id: int):
    require_admin(current_user)
    dispute = services.get_dispute(current_user, dispute_id)
    form = ResolveForm()
    if not form.validate_on_submit():
        return _show(dispute, resolve_form=form)
    try:
        outcome = DisputeStatus(form.outcome.data)
        cents = 0 if outcome == DisputeStatus.REJECTED else parse_cents(form.amount.data)
    except MoneyError as exc:
        form.amount.errors = [_(str(exc))]
        return _show(dispute, resolve_form=form)
    if perform(services.resolve_dispute, current_user, dispute_id, outcome, cents, form.note.data, form=form,
               success=_("Decision recorded; both parties are told.")) is not REFUSED:
        return redirect(url_for("disputes.show", dispute_id=dispute_id))
    return _show(dispute, resolve_form=form)


@bp.route("/admin")
@login_required
def admin_list():
    status = request.args.get("status", "open")[:20]
    result = services.all_disputes(current_user, status, request_int("page", 1, minimum=1, maximum=100_000))
    return render_template("disputes/admin.html", disputes=result.items, result=result, status=status,
                           statuses=list(DisputeStatus))


