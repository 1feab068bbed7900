from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    FloatField,
    IntegerField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import AnyOf, DataRequired, Length, NumberRange, Optional

from marketplace.catalog.forms import MoneyField, vat_choices


class RejectForm(FlaskForm):
    reason = TextAreaField(_l("Reason shown to the applicant"), validators=[DataRequired(), Length(max=2000)])


class PickupPlaceForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    address = StringField(_l("Address"), validators=[DataRequired(), Length(max=300)])
    postcode = StringField(_l("Postcode"), validators=[Optional(), Length(max=16)])
    town = StringField(_l("Town"), validators=[Optional(), Length(max=120)])
    latitude = FloatField(_l("Latitude"), validators=[Optional(), NumberRange(-90, 90)])
    longitude = FloatField(_l("Longitude"), validators=[Optional(), NumberRange(-180, 180)])
    notes = TextAreaField(_l("Notes"), validators=[Optional(), Length(max=2000)])


class ZoneForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    postcodes = StringField(_l("Postcodes (comma-separated)"), validators=[DataRequired(), Length(max=4000)])
    fee = MoneyField(_l("Delivery fee (EUR)"), allow_zero=True, validators=[DataRequired()])


class DistributionForm(FlaskForm):
    title = StringField(_l("Title"), validators=[Optional(), Length(max=160)])
    pickup_place_id = SelectField(_l("Pickup place"), coerce=int, validators=[DataRequired()])
    starts_at = DateTimeLocalField(_l("Pickup starts"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()])
    ends_at = DateTimeLocalField(_l("Pickup ends"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()])
    opens_at = DateTimeLocalField(_l("Ordering opens"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()])
    cutoff_at = DateTimeLocalField(_l("Ordering closes (cut-off)"), format="%Y-%m-%dT%H:%M",
                                   validators=[DataRequired()])
    producer_ids = SelectMultipleField(_l("Producers taking part"), coerce=int, validators=[DataRequired()])
    home_delivery = BooleanField(_l("Home delivery offered"))
    slots = TextAreaField(_l("Delivery slots, one per line: HH:MM-HH:MM capacity (e.g. 17:00-19:00 20)"),
                          validators=[Optional(), Length(max=2000)])
    repeat_weeks = IntegerField(_l("Repeat weekly for how many weeks"), default=1,
                                validators=[DataRequired(), NumberRange(1, 52)])


class SettingsForm(FlaskForm):
    coop_name = StringField(_l("Coop name"), validators=[DataRequired(), Length(max=120)])
    coop_legal_form = StringField(_l("Legal form"), validators=[Optional(), Length(max=200)])
    coop_address = StringField(_l("Address"), validators=[Optional(), Length(max=300)])
    coop_tagline = StringField(_l("Tagline"), validators=[Optional(), Length(max=300)])
    coop_logo_url = StringField(_l("Logo URL"), validators=[Optional(), Length(max=500)])
    colour_primary = StringField(_l("Primary colour"), validators=[DataRequired(), Length(max=7)])
    colour_accent = StringField(_l("Accent colour"), validators=[DataRequired(), Length(max=7)])
    welcome_text = TextAreaField(_l("Welcome text"), validators=[Optional(), Length(max=4000)])
    share_nominal = MoneyField(_l("Nominal value of one share (EUR)"), validators=[DataRequired()])
    weight_margin_percent = IntegerField(_l("Weighing margin (%)"), validators=[DataRequired(), NumberRange(1, 50)])
    coop_siret = StringField(_l("SIRET number"), validators=[Optional(), Length(max=20)])
    coop_registration = StringField(_l("Registration (e.g. RCS Nantes 123 456 789)"),
                                    validators=[Optional(), Length(max=200)])
    coop_vat_regime = SelectField(_l("VAT"), choices=lambda: [
        SelectChoice("subject", _l("The coop charges VAT")),
        SelectChoice("franchise", _l("VAT franchise: TVA non applicable, art. 293 B du CGI"))])
    coop_vat_number = StringField(_l("Intra-EU VAT number"), validators=[Optional(), Length(max=20)])
    services_vat_rate_bp = SelectField(_l("VAT rate on the coop's fees and on delivery"), choices=vat_choices)
    default_vat_rate_bp = SelectField(_l("VAT rate preselected for a new product"), choices=vat_choices)
    delivery_seller = SelectField(_l("Who sells home delivery (and invoices it)"), choices=lambda: [
        SelectChoice("coop", _l("The coop")),
        SelectChoice("courier", _l("The courier, when self-employed, under their billing mandate"))])
    lost_chargeback_rule = SelectField(_l("Who bears a lost chargeback (published)"), validate_choice=False,
                                       validators=[Optional(), AnyOf(["coop_absorbs", "reverse_producers"])],
                                       choices=[SelectChoice("coop_absorbs", _l("The coop, as a running cost")),
                                                SelectChoice("reverse_producers", _l(
                                                    "The order's producers, in proportion to what each was paid"))])
    withholding_cap_percent = IntegerField(_l("Most of a payment withheld for fees due (%, published)"),
                                           validators=[Optional(), NumberRange(0, 100)])
    account_carry_over_cents = IntegerField(_l("Weighing differences carried to the member's account up to "
                                               "(cents, published)"), validators=[Optional(), NumberRange(0, 10000)])
