"""Sign-up, log-in, membership application, account page."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from marketplace.core.models import OutboundEmail
from marketplace.extensions import db
from marketplace.members import services
from marketplace.members.forms import (
    AccountForm,
    ApplyForm,
    ChangePasswordForm,
    ConfirmEmailForm,
    ForgotPasswordForm,
    LoginForm,
    ResetPasswordForm,
    SignupForm,
)
from marketplace.members.models import College, User
from marketplace.web import REFUSED, form_status, is_safe_next, perform

bp = Blueprint("members", __name__)


def _client_address() -> str:
    return request.remote_addr or ""


def _start_session(user: User, remember: bool = False) -> None:
    """A fresh session at log-in: nothing set before it survives (no fixation), but the chosen language."""
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language
    login_user(user, remember=remember)


def _demo_mailbox() -> bool:
    """The demo without a mail server shows a new account its confirmation e-mail on the page."""
    return bool(current_app.config.get("DEMO")) and not current_app.config.get("MAIL_SERVER")


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    form = SignupForm()
    if form.validate_on_submit():
        signed_up = perform(services.sign_up, form.email.data, form.password.data, form.full_name.data,
                            str(get_locale()), form=form)
        if signed_up is not REFUSED:
            user, email = signed_up
            session.pop("demo_mail", None)
            if user is not None and _demo_mailbox():
                session["demo_mail"] = email.id
            return redirect(url_for("members.signup_sent"))
    return render_template("members/signup.html", form=form), form_status(form)


@bp.route("/signup/sent")
def signup_sent():
    mail_id = session.get("demo_mail") if _demo_mailbox() else None
    demo_email = db.session.get(OutboundEmail, mail_id) if isinstance(mail_id, int) else None
    return render_template("members/signup_sent.html", demo=_demo_mailbox(), demo_email=demo_email)


@bp.route("/confirm/<token>", methods=["GET", "POST"])
def confirm_email(token: str):
    form = ConfirmEmailForm()
    if form.validate_on_submit():
        user = perform(services.confirm_email, token, form.password.data, _client_address(), form=form,
                       commit_refusal=True)
        if user is not REFUSED:
            _start_session(user)
            flash(_("Your e-mail address is confirmed. Now apply for membership to start ordering."), "success")
            return redirect(url_for("members.apply"))
    return render_template("members/confirm_email.html", form=form), form_status(form)


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        user = perform(services.log_in, form.email.data, form.password.data, _client_address(), form=form,
                       commit_refusal=True)
        if user is not REFUSED:
            _start_session(user, remember=form.remember.data)
            target = form.next.data
            return redirect(target if is_safe_next(target) else url_for("members.dashboard"))
    return render_template("members/login.html", form=form), form_status(form)


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        # Logging out ends the member's sessions on every device, remember-me cookies included.
        services.end_all_sessions(current_user)
        db.session.commit()
    logout_user()
    return redirect(url_for("core.home"))


@bp.route("/membership/apply", methods=["GET", "POST"])
@login_required
def apply():
    form = ApplyForm()
    if form.validate_on_submit() and perform(
            services.apply_for_membership, current_user, College(form.college.data), form.motivation.data or "",
            form.shares_count.data, form=form,
            success=_("Thank you! The coop's administrators will review your application.")) is not REFUSED:
        return redirect(url_for("members.dashboard"))
    return render_template("members/apply.html", form=form, membership=current_user.membership)


@bp.route("/me/account", methods=["GET", "POST"])
@login_required
def account():
    form = AccountForm(obj=current_user)
    if form.validate_on_submit():
        form.populate_obj(current_user)
        db.session.commit()
        flash(_("Saved."), "success")
        return redirect(url_for("members.account"))
    return render_template("members/account.html", form=form, password_form=ChangePasswordForm())


@bp.route("/me/account/password", methods=["POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    user = current_user._get_current_object()
    if form.validate_on_submit() and perform(services.change_password, user, form.current_password.data,
                                             form.password.data, _client_address(), form=form,
                                             commit_refusal=True) is not REFUSED:
        _start_session(user)  # this browser stays logged in; every other session has ended
        flash(_("Your password is changed. You are logged out on your other devices."), "success")
        return redirect(url_for("members.account"))
    return render_template("members/account.html", form=AccountForm(obj=current_user),
                           password_form=form), form_status(form)


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit() and perform(
            services.request_password_reset, form.email.data, _client_address(), form=form, commit_refusal=True,
            success=_("If an account exists for this address, we have sent it a link to choose a new password."),
    ) is not REFUSED:
        return redirect(url_for("members.login"))
    return render_template("members/forgot_password.html", form=form), form_status(form)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    form = ResetPasswordForm()
    if form.validate_on_submit() and perform(services.reset_password, token, form.password.data, form=form,
                                             success=_("Your password has been changed: you can log in.")
                                             ) is not REFUSED:
        return redirect(url_for("members.login"))
    return render_template("members/reset_password.html", form=form), form_status(form)
