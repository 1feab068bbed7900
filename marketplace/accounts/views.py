"""A member's account page; the admins' accounts pages (adjust, record a top-up or a payback)."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from marketplace.accounts import services
from marketplace.accounts.forms import AdjustmentForm, PaybackForm, TopUpForm
from marketplace.accounts.models import Means
from marketplace.members.services import require_admin
from marketplace.money import MoneyError, parse_cents
from marketplace.web import REFUSED, act, form_status, perform

bp = Blueprint("accounts", __name__, url_prefix="/account")


@bp.app_template_global()
def movement_text(movement) -> str:
    """A movement's words in the reader's language (templates/accounts/_movements.html)."""
    return services.movement_text(movement)


@bp.route("/")
@login_required
def mine():
    from flask import current_app

    return render_template("accounts/mine.html", statement=services.statement(current_user),
                           card_top_ups=bool(current_app.config.get("STRIPE_SECRET_KEY")))


@bp.route("/payback", methods=["POST"])
@login_required
def ask_payback():
    return act(services.request_payback, current_user, back=url_for("accounts.mine"),
               success=_("Asked: an admin will hand your balance back and record it here."))


@bp.route("/admin")
@login_required
def treasury():
    return render_template("accounts/treasury.html", treasury=services.treasury(current_user))


def _member_page(user_id: int, posted=None, adjustment=None, top_up=None, payback=None):
    return render_template("accounts/member.html", statement=services.statement(current_user, user_id),
                           adjustment=adjustment or AdjustmentForm(), top_up=top_up or TopUpForm(),
                           payback=payback or PaybackForm()), form_status(posted)


@bp.route("/admin/<int:user_id>")
@login_required
def member(user_id: int):
    require_admin(current_user)
    return _member_page(user_id)


def _cents(form) -> int | None:
    try:
        return parse_cents(form.amount.data)
    except MoneyError as exc:
        form.amount.errors = [_(str(exc))]
        return None


@bp.route("/admin/<int:user_id>/adjust", methods=["POST"])
@login_required
def adjust(user_id: int):
    require_admin(current_user)
    form = AdjustmentForm()
    cents = _cents(form) if form.validate_on_submit() else None
    if cents is not None:
        signed = cents if form.direction.data == "credit" else -cents
        if perform(services.adjust, current_user, user_id, signed, form.reason.data, form=form,
                   success=_("Adjustment recorded.")) is not REFUSED:
            return redirect(url_for("accounts.member", user_id=user_id))
    return _member_page(user_id, form, adjustment=form)


@bp.route("/admin/<int:user_id>/top-up", methods=["POST"])
@login_required
def top_up(user_id: int):
    require_admin(current_user)
    form = TopUpForm()
    cents = _cents(form) if form.validate_on_submit() else None
    if cents is not None:
        if perform(services.record_top_up, current_user, user_id, cents, Means(form.means.data), form.note.data,
                   form=form, success=_("Top-up recorded.")) is not REFUSED:
            return redirect(url_for("accounts.member", user_id=user_id))
    return _member_page(user_id, form, top_up=form)


@bp.route("/admin/<int:user_id>/payback", methods=["POST"])
@login_required
def payback(user_id: int):
    require_admin(current_user)
    form = PaybackForm()
    if form.validate_on_submit() and perform(services.record_payback, current_user, user_id,
                                             Means(form.means.data), form.note.data, form=form,
                                             success=_("Payback recorded.")) is not REFUSED:
        return redirect(url_for("accounts.member", user_id=user_id))
    return _member_page(user_id, form, payback=form)
