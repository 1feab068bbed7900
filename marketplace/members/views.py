"""Sign-up, log-in, membership application, account page."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from marketplace.core.errors import ServiceError
from marketplace.extensions import db
from marketplace.members import services
from marketplace.members.forms import (AccountForm, ApplyForm, ForgotPasswordForm, LoginForm, ResetPasswordForm,
                                       SignupForm)
from marketplace.members.models import College
from marketplace.web import is_safe_next

bp = Blueprint("members", __name__)


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    form = SignupForm()
    if form.validate_on_submit():
        try:
            user = services.register(form.email.data, form.password.data, form.full_name.data)
            db.session.commit()
        except ServiceError as exc:
            db.session.rollback()
            getattr(form, exc.field or "email").errors.append(exc.message)
        else:
            login_user(user)
            flash(_("Welcome! Now apply for membership to start ordering."), "success")
            return redirect(url_for("members.apply"))
    return render_template("members/signup.html", form=form), 400 if form.errors else 200


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is None:
            db.session.rollback()
            form.password.errors.append(_("Wrong e-mail or password."))
        else:
            db.session.commit()
            login_user(user, remember=form.remember.data)
            target = form.next.data
            return redirect(target if is_safe_next(target) else url_for("members.dashboard"))
    return render_template("members/login.html", form=form), 400 if form.errors else 200


@bp.route("/logout", methods=["POST"])
def logout():
    logout_user()
    return redirect(url_for("core.home"))


@bp.route("/membership/apply", methods=["GET", "POST"])
@login_required
def apply():
    form = ApplyForm()
    if form.validate_on_submit():
        try:
            services.apply_for_membership(current_user, College(form.college.data), form.motivation.data or "",
                                          form.shares_count.data)
            db.session.commit()
        except ServiceError as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            flash(_("Thank you! The coop's administrators will review your application."), "success")
            return redirect(url_for("members.dashboard"))
    return render_template("members/apply.html", form=form, membership=current_user.membership)


@bp.route("/me")
@login_required
def dashboard():
    from marketplace.orders.models import Order

    orders = (db.session.query(Order).filter_by(buyer_id=current_user.id).order_by(Order.created_at.desc())
              .limit(10).all())
    return render_template("members/dashboard.html", membership=current_user.membership,
                           blocked_reason=services.why_not_active(current_user), orders=orders)


@bp.route("/me/account", methods=["GET", "POST"])
@login_required
def account():
    form = AccountForm(obj=current_user)
    if form.validate_on_submit():
        form.populate_obj(current_user)
        db.session.commit()
        flash(_("Saved."), "success")
        return redirect(url_for("members.account"))
    return render_template("members/account.html", form=form)


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        services.request_password_reset(
            form.email.data, lambda token: url_for("members.reset_password", token=token, _external=True))
        db.session.commit()
        flash(_("If an account exists for this address, we have sent it a link to choose a new password."),
              "success")
        return redirect(url_for("members.login"))
    return render_template("members/forgot_password.html", form=form)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            services.reset_password(token, form.password.data)
            db.session.commit()
        except ServiceError as exc:
            db.session.rollback()
            form.password.errors.append(exc.message)
        else:
            flash(_("Your password has been changed: you can log in."), "success")
            return redirect(url_for("members.login"))
    return render_template("members/reset_password.html", form=form), 400 if form.errors else 200
