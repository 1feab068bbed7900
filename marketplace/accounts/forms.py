from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

MEANS_CHOICES = [SelectChoice("cash", _l("Cash")), SelectChoice("cheque", _l("Cheque")),
                 SelectChoice("bank_transfer", _l("Bank transfer"))]


class AdjustmentForm(FlaskForm):
    direction = SelectField(_l("Direction"), choices=[SelectChoice("credit", _l("Credit the member")),
                                                      SelectChoice("debit", _l("Debit the member"))],
                            validators=[DataRequired()])
    amount = StringField(_l("Amount (EUR)"), validators=[DataRequired(), Length(max=16)])
    reason = TextAreaField(_l("Reason, shown to the member"), validators=[DataRequired(), Length(max=1000)])


class TopUpForm(FlaskForm):
    means = SelectField(_l("Received by"), choices=MEANS_CHOICES, validators=[DataRequired()])
    amount = StringField(_l("Amount (EUR)"), validators=[DataRequired(), Length(max=16)])
    note = StringField(_l("Note (cheque number, transfer reference)"), validators=[Optional(), Length(max=1000)])


class PaybackForm(FlaskForm):
    means = SelectField(_l("Handed back by"), choices=MEANS_CHOICES, validators=[DataRequired()])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=1000)])
