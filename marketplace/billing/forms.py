"""Billing forms: a cost, a proposed fee rule, the vote settings, a payment, a vote."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, DateField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from marketplace.catalog.forms import MoneyField, WholeNumberField


def category_choices():
    return [SelectChoice("hosting", _l("Hosting")), SelectChoice("software", _l("Software")),
            SelectChoice("accounting", _l("Accounting")),
            SelectChoice("insurance", _l("Insurance")), SelectChoice("payment_processing", _l("Payment processing")),
            SelectChoice("maintenance", _l("Paid maintenance work")), SelectChoice("other", _l("Other"))]


class CostForm(FlaskForm):
    category = SelectField(_l("Category"), choices=category_choices, validators=[DataRequired()])
    amount = MoneyField(_l("Amount, VAT included (EUR)"), validators=[DataRequired()])
    vat = MoneyField(_l("of which VAT (EUR)"), allow_zero=True, validators=[Optional()])
    supplier = StringField(_l("Supplier"), validators=[Optional(), Length(max=200)])
    incurred_on = DateField(_l("Date"), validators=[DataRequired()])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=4000)])
    receipt = FileField(_l("Receipt (PDF, PNG or JPEG, optional)"))


class RuleForm(FlaskForm):
    flat_producer = MoneyField(_l("Flat part per producer (EUR)"), allow_zero=True, default="0")
    flat_courier = MoneyField(_l("Flat part per courier (EUR)"), allow_zero=True, default="0")
    flat_buyer = MoneyField(_l("Flat part per buyer (EUR)"), allow_zero=True, default="0")
    flat_supporter = MoneyField(_l("Flat part per supporter (EUR)"), allow_zero=True, default="0")
    weight_producer = WholeNumberField(_l("Weight on producers' sales"), default="0")
    weight_courier = WholeNumberField(_l("Weight on couriers' delivery pay"), default="0")
    weight_buyer = WholeNumberField(_l("Weight on buyers' purchases"), default="0")
    weight_supporter = WholeNumberField(_l("Weight on supporters (no activity)"), default="0")
    effective_from = DateField(_l("Applies to periods from (month)"), validators=[DataRequired()])
    rationale = TextAreaField(_l("Why this rule"), validators=[Optional(), Length(max=4000)])


class BillingSettingsForm(FlaskForm):
    quorum_percent = WholeNumberField(_l("Quorum (% of active members who must vote)"), maximum=100,
                                      validators=[DataRequired()])
    majority_percent = WholeNumberField(_l("Majority (a rule needs more than this % of for + against)"),
                                        maximum=99, validators=[DataRequired()])
    allow_admin_decision = BooleanField(_l("Allow an admin to adopt a rule decided by a general assembly"))


class DecisionForm(FlaskForm):
    ga_reference = StringField(_l("General assembly reference"), validators=[DataRequired(), Length(max=200)])


class PaymentForm(FlaskForm):
    method = SelectField(_l("Paid by"), choices=[
        SelectChoice("cash", _l("Cash")), SelectChoice("bank_transfer", _l("Bank transfer")),
        SelectChoice("cheque", _l("Cheque")), SelectChoice("card", _l("Card"))])
    reference = StringField(_l("Reference"), validators=[Optional(), Length(max=200)])


class VoteForm(FlaskForm):
    choice = SelectField(_l("Your vote"), choices=[SelectChoice("for", _l("For")),
                                                    SelectChoice("against", _l("Against")),
                                                    SelectChoice("abstain", _l("Abstain"))])
