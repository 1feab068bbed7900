"""Forms of the courier pages and the dispatch board."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    FloatField,
    IntegerField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import InputRequired, Length, Optional


class CourierProfileForm(FlaskForm):
    vehicle = SelectField(_l("Vehicle"), choices=[SelectChoice("bike", _l("Bike")),
                                                  SelectChoice("cargo_bike", _l("Cargo bike")),
                                                  SelectChoice("van", _l("Van"))])
    capacity_kg = DecimalField(_l("Capacity (kg)"), places=1, validators=[InputRequired()])
    capacity_parcels = IntegerField(_l("Capacity (parcels)"), validators=[InputRequired()])
    max_stops = IntegerField(_l("Maximum stops per run"), validators=[InputRequired()])
    zone_ids = SelectMultipleField(_l("Zones I cover"), coerce=int)
    home_latitude = FloatField(_l("Start latitude (optional)"), validators=[Optional()])
    home_longitude = FloatField(_l("Start longitude (optional)"), validators=[Optional()])


class AvailabilityForm(FlaskForm):
    day = DateField(_l("Date"), validators=[InputRequired()])
    start = TimeField(_l("From"), validators=[InputRequired()])
    end = TimeField(_l("To"), validators=[InputRequired()])


class CodeForm(FlaskForm):
    code = StringField(_l("Buyer's code"), validators=[InputRequired(), Length(max=8)])


class FailureForm(FlaskForm):
    reason = TextAreaField(_l("What went wrong?"), validators=[InputRequired(), Length(max=500)])


class RulesForm(FlaskForm):
    pay_per_run = StringField(_l("Pay per run"), validators=[InputRequired()])
    pay_per_km = StringField(_l("Pay per km"), validators=[InputRequired()])
    pay_per_stop = StringField(_l("Pay per stop"), validators=[InputRequired()])
    offer_timeout_minutes = IntegerField(_l("Minutes to answer an offer"), validators=[InputRequired()])
    max_code_attempts = IntegerField(_l("Attempts at the delivery code"), validators=[InputRequired()])
    goods_at_pickup_place = BooleanField(_l("Producers bring the goods to the pickup place; couriers start "
                                            "their runs there"))
