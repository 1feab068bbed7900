"""Payments forms."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length


class DisputeRefundForm(FlaskForm):
    amount = StringField(_l("Amount to refund"), validators=[DataRequired()])
    reason = TextAreaField(_l("Reason (the buyer and the producer see it)"),
                           validators=[DataRequired(), Length(max=500)])


class OutsideRefundForm(FlaskForm):
    note = StringField(_l("How the money was given back (e.g. the bank transfer's reference)"),
                       validators=[DataRequired(), Length(max=500)])
