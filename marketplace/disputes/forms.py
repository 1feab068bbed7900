from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional


class OpenDisputeForm(FlaskForm):
    reason = RadioField(_l("What went wrong?"), choices=[SelectChoice("missing", _l("Missing")),
                                                         SelectChoice("damaged", _l("Damaged")),
                                                         SelectChoice("late", _l("Late"))], validators=[DataRequired()])
    note = TextAreaField(_l("Tell us more"), validators=[DataRequired(), Length(max=4000)])


class AnswerForm(FlaskForm):
    answer = TextAreaField(_l("Your answer"), validators=[DataRequired(), Length(max=4000)])


class ResolveForm(FlaskForm):
    outcome = SelectField(_l("Decision"), choices=[SelectChoice("refunded",
                                                                _l("Refund (through the payment method used)")),
                                                   SelectChoice("credited", _l("Credit for the buyer")),
                                                   SelectChoice("rejected", _l("Reject"))], validators=[DataRequired()])
    amount = StringField(_l("Amount (EUR)"), validators=[Optional(), Length(max=16)])
    note = TextAreaField(_l("Reason, shown to both parties"), validators=[DataRequired(), Length(max=4000)])
