from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional

from marketplace.members.models import College


class SignupForm(FlaskForm):
    full_name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=120)])
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Email(check_deliverability=False), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(min=8, max=200)])


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])
    remember = BooleanField(_l("Remember me"))
    next = HiddenField()


def college_choices():
    return [SelectChoice(College.BUYER.value, _l("Buyer: I order food")),
            SelectChoice(College.PRODUCER.value, _l("Producer: I sell what I grow or make")),
            SelectChoice(College.COURIER.value, _l("Courier: I deliver orders")),
            SelectChoice(College.SUPPORTER.value, _l("Supporter: I back the coop"))]


class ApplyForm(FlaskForm):
    college = SelectField(_l("College"), choices=college_choices, validators=[DataRequired()])
    shares_count = IntegerField(_l("Shares subscribed"), default=1, validators=[DataRequired(),
                                                                                 NumberRange(min=1, max=1000)])
    motivation = TextAreaField(_l("A few words about you"), validators=[Optional(), Length(max=2000)])


class AccountForm(FlaskForm):
    full_name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=120)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=40)])
    address = StringField(_l("Address"), validators=[Optional(), Length(max=300)])
    postcode = StringField(_l("Postcode"), validators=[Optional(), Length(max=16)])
    town = StringField(_l("Town"), validators=[Optional(), Length(max=120)])
    locale = SelectField(_l("Language"), choices=[SelectChoice("fr", "Français"), SelectChoice("en", "English")])


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])


class ResetPasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(min=8, max=200)])


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=200)])
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(min=8, max=200)])


class ConfirmEmailForm(FlaskForm):
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])
