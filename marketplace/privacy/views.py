"""A member's own data: download it, erase the account."""
from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user

from marketplace.extensions import db
from marketplace.privacy import services
from marketplace.privacy.forms import EraseForm
from marketplace.web import REFUSED, form_status, perform

bp = Blueprint("privacy", __name__, url_prefix="/me/data")


@bp.route("/")
@login_required
def index():
    return render_template("privacy/data.html", form=EraseForm())


@bp.route("/export.zip")
@login_required
def export():
    archive = services.export_archive(current_user)
    db.session.commit()
    return Response(archive, mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="my-data-{current_user.id}.zip"'})


@bp.route("/erase", methods=["POST"])
@login_required
def erase():
    form = EraseForm()
    if form.validate_on_submit() and perform(services.erase_account, current_user, form.password.data,
                                             form.confirmation.data, form=form) is not REFUSED:
        logout_user()
        flash(_("Your account is erased. Your orders are kept anonymously, as accounting law requires."), "success")
        return redirect(url_for("core.home"))
    return render_template("privacy/data.html", form=form), form_status(form)
