"""Fee at cost pages: public transparency, the member's fees and votes, the admin's ledger and close."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from marketplace.billing import services
from marketplace.billing.forms import BillingSettingsForm, CostForm, DecisionForm, PaymentForm, RuleForm, VoteForm
from marketplace.billing.models import BillingPeriod, FeeRuleVersion, RuleStatus, RuleVote, Statement
from marketplace.billing.pdf import category_label, college_label, statement_pdf
from marketplace.core.errors import ServiceError
from marketplace.extensions import db
from marketplace.members.services import require_admin
from marketplace.uploads import send_upload
from marketplace.web import REFUSED, act, form_status, perform, request_int

bp = Blueprint("billing", __name__)


@bp.app_context_processor
def labels():
    return {"category_label": category_label, "college_label": college_label,
            "period_label": services.period_label}


# ---------------------------------------------------------------- public

@bp.route("/transparency")
def transparency():
    from marketplace.accounts.services import member_liability_cents

    reports = services.transparency_report()
    return render_template("billing/transparency.html", reports=reports, year=services.twelve_months(reports),
                           rule=services.rule_in_force(services.coop_today()), members_money=member_liability_cents())


# ---------------------------------------------------------------- members

@bp.route("/billing")
@login_required
def my_fees():
    voting = db.session.query(FeeRuleVersion).filter_by(status=RuleStatus.VOTING).order_by(FeeRuleVersion.id).all()
    my_votes = {v.rule_id: v.choice.value for v in db.session.query(RuleVote).filter_by(user_id=current_user.id)}
    return render_template("billing/my_fees.html", statements=services.my_statements(current_user),
                           due=services.fees_due_cents(current_user.id), voting=voting, my_votes=my_votes,
                           vote_form=VoteForm(), rule=services.rule_in_force(services.coop_today()))


@bp.route("/billing/statements/<int:statement_id>")
@login_required
def statement(statement_id: int):
    return render_template("billing/statement.html", view=services.get_statement(current_user, statement_id))


@bp.route("/billing/statements/<int:statement_id>.pdf")
@login_required
def statement_pdf_view(statement_id: int):
    view = services.get_statement(current_user, statement_id)
    filename = f"fee-statement-{view.period.starts_on:%Y-%m}-{view.statement.user_id}.pdf"
    return Response(statement_pdf(view), mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{filename}"'})


@bp.route("/billing/rules/<int:rule_id>/vote", methods=["POST"])
@login_required
def vote(rule_id: int):
    form = VoteForm()
    return act(lambda: services.cast_vote(current_user, rule_id, _valid(form, _("Vote for, against, or abstain."))
                                          .choice.data),
               success=_("Your vote is recorded."), back=url_for("billing.my_fees"))


def _valid(form, refusal: str):
    """A small form of a button (no page of its own): valid, or refused with one sentence saying what it needs."""
    if not form.validate_on_submit():
        raise ServiceError(refusal)
    return form


# ---------------------------------------------------------------- admin

def _admin() -> None:
    require_admin(current_user)


@bp.route("/admin/billing", methods=["GET", "POST"])
@login_required
def admin_index():
    _admin()
    form = CostForm()
    if form.validate_on_submit():
        upload = form.receipt.data
        data = services.CostInput(category=form.category.data, amount_cents=form.amount.cents,
                                  vat_cents=form.vat.cents or 0, incurred_on=form.incurred_on.data,
                                  supplier=form.supplier.data or "", note=form.note.data or "")
        entry = perform(services.record_cost, current_user, data, receipt=upload.read() if upload else None,
                        receipt_name=getattr(upload, "filename", "") or "", form=form)
        if entry is not REFUSED:
            if entry.is_adjustment:
                flash(_("That month is closed: the cost was recorded in %(p)s as a visible adjustment.",
                        p=services.period_label(entry.period)), "warning")
            else:
                flash(_("Cost recorded."), "success")
            return redirect(url_for("billing.admin_index"))
    periods = db.session.query(BillingPeriod).order_by(BillingPeriod.starts_on.desc()).limit(24).all()
    return render_template("billing/admin_index.html", form=form, periods=periods,
                           closable=services.closable_months(), open_periods=services.open_periods()), form_status(form)


@bp.route("/admin/billing/costs/<int:cost_id>/delete", methods=["POST"])
@login_required
def delete_cost(cost_id: int):
    return act(services.delete_cost, current_user, cost_id, success=_("Cost deleted."),
               back=url_for("billing.admin_index"))


@bp.route("/admin/billing/costs/<int:cost_id>/receipt")
@login_required
def receipt(cost_id: int):
    path, name = services.receipt_file(current_user, cost_id)
    # Never shown inline: a receipt is whatever an admin uploaded, and its name was theirs to choose.
    return send_upload(path.parent, path.name, download_name=name, reencoded=False)


@bp.route("/admin/billing/close", methods=["POST"])
@login_required
def close():
    _admin()
    period = perform(lambda: services.close_month(current_user, _month()), back=url_for("billing.admin_index"))
    flash(_("%(p)s is closed: %(n)d statements sent.", p=services.period_label(period), n=period.member_count),
          "success")
    return redirect(url_for("billing.admin_period", period_id=period.id))


def _month() -> date:
    try:
        return date.fromisoformat((request.form.get("month") or "").strip())
    except ValueError:
        raise ServiceError(_("Choose the month to close."), "month") from None


@bp.route("/admin/billing/periods/<int:period_id>")
@login_required
def admin_period(period_id: int):
    _admin()
    period = services.get_period(period_id)
    result = services.period_statements(period, request_int("page", 1, minimum=1, maximum=100_000))
    paid = services.paid_by_member(period.id)
    return render_template("billing/admin_period.html", period=period, statements=result.items, result=result,
                           paid=paid,
                           costs_by_category=services.costs_by_category(period.id), payment_form=PaymentForm())


@bp.route("/admin/billing/statements/<int:statement_id>/paid", methods=["POST"])
@login_required
def mark_paid(statement_id: int):
    _admin()
    form = PaymentForm()
    statement_row = db.session.get(Statement, statement_id)
    target = (url_for("billing.admin_period", period_id=statement_row.period_id) if statement_row
              else url_for("billing.admin_index"))
    return act(lambda: services.record_payment(current_user, statement_id,
                                               _valid(form, _("Choose how the fee was paid.")).method.data,
                                               form.reference.data or ""),
               success=_("Payment recorded."), back=target)


@bp.route("/admin/billing/rules", methods=["GET", "POST"])
@login_required
def admin_rules():
    _admin()
    form = RuleForm(prefix="rule")
    settings_row = services.get_billing_settings()
    settings_form = BillingSettingsForm(prefix="settings", obj=None)
    posted = None
    if request.method == "GET":
        settings_form.quorum_percent.data = str(settings_row.quorum_percent)
        settings_form.majority_percent.data = str(settings_row.majority_percent)
        settings_form.allow_admin_decision.data = settings_row.allow_admin_decision
        form.effective_from.data = services.month_start(services.coop_today())
    elif "rule-effective_from" in request.form:
        posted = form
        if form.validate_on_submit() and perform(
                services.propose_rule, current_user, _rule_input(form), form=form,
                success=_("The rule is proposed: members can vote on it now.")) is not REFUSED:
            return redirect(url_for("billing.admin_rules"))
    else:
        posted = settings_form
        if settings_form.validate_on_submit() and perform(
                services.update_billing_settings, current_user, quorum_percent=settings_form.quorum_percent.number,
                majority_percent=settings_form.majority_percent.number,
                allow_admin_decision=settings_form.allow_admin_decision.data, form=settings_form,
                success=_("Settings saved.")) is not REFUSED:
            return redirect(url_for("billing.admin_rules"))
    rules = db.session.query(FeeRuleVersion).order_by(FeeRuleVersion.version.desc()).all()
    db.session.commit()  # the settings row may have been created with its defaults
    return render_template("billing/admin_rules.html", form=form, settings_form=settings_form, rules=rules,
                           settings=settings_row, decision_form=DecisionForm()), form_status(posted)


def _rule_input(form: RuleForm) -> services.RuleInput:
    colleges = services.COLLEGE_ORDER
    return services.RuleInput(flat_cents={c: getattr(form, f"flat_{c}").cents or 0 for c in colleges},
                              weights={c: getattr(form, f"weight_{c}").number or 0 for c in colleges},
                              effective_from=form.effective_from.data, rationale=form.rationale.data or "")


@bp.route("/admin/billing/rules/<int:rule_id>/tally", methods=["POST"])
@login_required
def tally(rule_id: int):
    back = url_for("billing.admin_rules")
    rule = perform(services.tally_vote, current_user, rule_id, back=back)
    flash(_("Vote closed: the rule is %(s)s.", s=_(rule.status.value)), "success")
    return redirect(back)


@bp.route("/admin/billing/rules/<int:rule_id>/decide", methods=["POST"])
@login_required
def decide(rule_id: int):
    form = DecisionForm()
    return act(services.adopt_by_decision, current_user, rule_id, form.ga_reference.data or "",
               success=_("The rule is adopted by the general assembly's decision."),
               back=url_for("billing.admin_rules"))


@bp.route("/admin/billing/rules/<int:rule_id>/withdraw", methods=["POST"])
@login_required
def withdraw(rule_id: int):
    return act(services.withdraw_rule, current_user, rule_id, success=_("Rule withdrawn."),
               back=url_for("billing.admin_rules"))
