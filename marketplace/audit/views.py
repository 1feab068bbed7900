"""The audit log, for admins and the members' representatives."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from marketplace.audit import services
from marketplace.audit.forms import ReaderForm
from marketplace.csvexport import csv_response
from marketplace.web import action_response, attach_error, request_int, run_service

bp = Blueprint("audit", __name__, url_prefix="/audit")


def _filters() -> dict:
    return {"action": request.args.get("action", "")[:80], "actor_id": request_int("actor"),
            "subject_type": request.args.get("subject", "")[:60]}


@bp.route("/")
@login_required
def index():
    result = services.read_log(current_user, **_filters(), subject_id=request.args.get("id", "")[:64],
                               page=request_int("page", 1, minimum=1, maximum=999_999))
    return render_template("audit/index.html", result=result, args=request.args)


@bp.route("/export.csv")
@login_required
def export():
    rows = services.export_rows(current_user, **_filters())
    return csv_response("audit-log.csv", [_("Id"), _("When (UTC)"), _("Actor id"), _("Action"), _("Subject"),
                                          _("Subject id"), _("Before"), _("After"), _("Note")],
                        ([e.id, e.created_at, e.actor_id or "", e.action, e.subject_type, e.subject_id,
                          e.before_json, e.after_json, e.note] for e in rows))


@bp.route("/readers", methods=["GET", "POST"])
@login_required
def readers():
    form = ReaderForm()
    status = 200
    if form.validate_on_submit():
        _r, error = run_service(services.grant_reader, current_user, form.email.data,
                                success=_("This member can now read the audit log."))
        if error is None:
            return redirect(url_for("audit.readers"))
        attach_error(form, error)
        status = error.status_code
    elif form.errors:
        status = 400
    return render_template("audit/readers.html", form=form, readers=services.readers(current_user)), status


@bp.route("/readers/<int:user_id>/revoke", methods=["POST"])
@login_required
def revoke(user_id: int):
    _r, error = run_service(services.revoke_reader, current_user, user_id, success=_("Access removed."))
    return action_response(error, url_for("audit.readers"))
