"""Home page and a member's dashboard, language switch, uploaded photos, the coop's colours, privacy page.

The blueprint keeps its name `core` (templates link to core.home); the dashboard is a route of the members
blueprint, declared here because it shows a member's orders too (members sits below orders)."""
from __future__ import annotations

import re
from pathlib import Path

from flask import Blueprint, Response, current_app, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required

from marketplace.catalog.models import ProducerProfile
from marketplace.distributions.services import open_distributions, upcoming_distributions
from marketplace.extensions import csrf, db
from marketplace.members import services as member_services
from marketplace.members.views import bp as members_bp
from marketplace.orders.models import Order
from marketplace.uploads import send_upload
from marketplace.web import is_safe_next

bp = Blueprint("core", __name__)


@bp.route("/")
def home():
    producers = db.session.query(ProducerProfile).order_by(ProducerProfile.name).limit(12).all()
    return render_template("home.html", open_distributions=open_distributions(),
                           upcoming=upcoming_distributions(), producers=producers)


@members_bp.route("/me")
@login_required
def dashboard():
    orders = (db.session.query(Order).filter_by(buyer_id=current_user.id).order_by(Order.created_at.desc())
              .limit(10).all())
    return render_template("members/dashboard.html", membership=current_user.membership,
                           blocked_reason=member_services.why_not_active(current_user), orders=orders)


@bp.route("/lang/<code>", methods=["POST"])
@csrf.exempt
def set_language(code: str):
    # A POST (no state change on GET). No CSRF token: the buttons are on every page, and a token
    # would put a session on every anonymous visitor (and defeat the catalogue's page cache); a
    # forged request can only change the display language of the visitor's own session.
    if code in current_app.config["LANGUAGES"]:
        session["lang"] = code
    target = request.form.get("next")
    return redirect(target if is_safe_next(target) else url_for("core.home"), code=303)


@bp.route("/uploads/<path:filename>")
def uploaded_file(filename: str):
    return send_upload(Path(current_app.config["UPLOAD_FOLDER"]), filename, max_age=86400)


_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


@bp.route("/theme.css")
def theme_css():
    """The coop's colours as a stylesheet: the Content-Security-Policy allows no inline style."""
    from marketplace.core.services import DEFAULT_SETTINGS, get_setting

    colours = {key: get_setting(key) for key in ("colour_primary", "colour_accent")}
    colours = {key: value if _COLOUR.match(value) else DEFAULT_SETTINGS[key] for key, value in colours.items()}
    css = f":root {{ --primary: {colours['colour_primary']}; --accent: {colours['colour_accent']}; }}\n"
    response = Response(css, mimetype="text/css")
    response.cache_control.public, response.cache_control.max_age = True, 3600  # the URL changes with the colours
    return response


@bp.route("/privacy")
def privacy():
    return render_template("privacy.html")


@bp.route("/healthz")
def healthz():
    from sqlalchemy import text

    db.session.execute(text("SELECT 1"))
    return {"status": "ok"}
