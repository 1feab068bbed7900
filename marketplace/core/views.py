"""Home page, language switch, uploaded photos, privacy page."""
from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, send_from_directory, session, url_for

from marketplace.web import is_safe_next

bp = Blueprint("core", __name__)


@bp.route("/")
def home():
    from marketplace.catalog.models import ProducerProfile
    from marketplace.distributions.services import open_distributions, upcoming_distributions
    from marketplace.extensions import db

    producers = db.session.query(ProducerProfile).order_by(ProducerProfile.name).limit(12).all()
    return render_template("home.html", open_distributions=open_distributions(),
                           upcoming=upcoming_distributions(), producers=producers)


@bp.route("/lang/<code>", methods=["POST", "GET"])
def set_language(code: str):
    if code in current_app.config["LANGUAGES"]:
        session["lang"] = code
    target = request.args.get("next") or request.form.get("next")
    return redirect(target if is_safe_next(target) else url_for("core.home"))


@bp.route("/uploads/<path:filename>")
def uploaded_file(filename: str):
    return send_from_directory(current_app.config["UPLOAD_FOLDER"], filename, max_age=86400)


@bp.route("/privacy")
def privacy():
    return render_template("privacy.html")


@bp.route("/healthz")
def healthz():
    from sqlalchemy import text

    from marketplace.extensions import db

    db.session.execute(text("SELECT 1"))
    return {"status": "ok"}
