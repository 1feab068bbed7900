"""The audit log, for admins and the members' representatives."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from marketplace.audit import services
from marketplace.audit.forms import ReaderForm
from marketplace.csvexport import csv_response
from marketplace.web import REFUSED, act, form_status, perform, request_int

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
    if form.validate_on_submit() and perform(services.grant_reader, current_user, form.email.data, form=form,
                                             success=_("This member can now read the audit log.")) is not REFUSED:
        return redirect(url_for("audit.readers"))
    return render_template("audit/readers.html", form=form, readers=services.readers(current_user)), form_status(form)


@bp.route("/readers/<int:user_id>/revoke", methods=["POST"])
@login_required
def revoke(user_id: int):
    return act(services.revoke_reader, current_user, user_id, success=_("Access removed."),
               back=url_for("audit.readers"))
