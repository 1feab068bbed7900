from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange


class HideProductForm(FlaskForm):
    reason = TextAreaField(_l("Reason sent to the producer"), validators=[DataRequired(), Length(max=2000)])


class SharesForm(FlaskForm):
    shares_count = IntegerField(_l("Shares"), validators=[DataRequired(), NumberRange(1, 1000)])
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=300)])


class FeeRuleForm(FlaskForm):
    text = TextAreaField(_l("Delivery-fee rule, shown to buyers"), validators=[DataRequired(), Length(max=2000)])
