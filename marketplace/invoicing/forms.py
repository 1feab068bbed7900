from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from marketplace.catalog.forms import vat_regime_choices


class MandateForm(FlaskForm):
    version = HiddenField(validators=[DataRequired()])
    accept = BooleanField(_l("I have read this billing mandate and I accept it"), validators=[DataRequired()])


class BuyerIdentityForm(FlaskForm):
    business_name = StringField(_l("Business name (blank: invoices in your own name)"),
                                validators=[Optional(), Length(max=200)])
    siren = StringField(_l("SIREN or SIRET"), validators=[Optional(), Length(max=20)])
    vat_number = StringField(_l("Intra-EU VAT number"), validators=[Optional(), Length(max=20)])


class CourierIdentityForm(FlaskForm):
    self_employed = BooleanField(_l("I ride as a self-employed business: the coop self-bills my pay"))
    legal_name = StringField(_l("Legal name (as registered)"), validators=[Optional(), Length(max=200)])
    legal_form = StringField(_l("Legal form (e.g. EI)"), validators=[Optional(), Length(max=200)])
    legal_address = StringField(_l("Registered address"), validators=[Optional(), Length(max=300)])
    legal_postcode = StringField(_l("Postcode"), validators=[Optional(), Length(max=16)])
    legal_town = StringField(_l("Town"), validators=[Optional(), Length(max=120)])
    siret = StringField(_l("SIRET number"), validators=[Optional(), Length(max=20)])
    vat_regime = SelectField(_l("VAT"), choices=vat_regime_choices, validators=[Optional()])
    vat_number = StringField(_l("Intra-EU VAT number"), validators=[Optional(), Length(max=20)])

