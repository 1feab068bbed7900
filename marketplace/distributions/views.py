"""Public list of distributions."""
from __future__ import annotations

from flask import Blueprint, render_template

from marketplace.distributions.services import upcoming_distributions

bp = Blueprint("distributions", __name__)


@bp.route("/distributions")
def index():
    return render_template("distributions/index.html", distributions=upcoming_distributions(limit=50))
