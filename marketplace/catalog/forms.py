from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, SelectChoice, SelectField, StringField, TextAreaField, ValidationError
from wtforms.validators import DataRequired, Length, Optional

from marketplace.catalog.models import Unit
from marketplace.catalog.services import DESCRIPTION_MAX, NAME_MAX, VAT_RATES_BP
from marketplace.core.services import get_setting
from marketplace.money import MoneyError, parse_cents


def unit_choices():
    return [SelectChoice(Unit.PIECE.value, _l("piece")), SelectChoice(Unit.KG.value, _l("kg")),
            SelectChoice(Unit.LITRE.value, _l("litre")),
            SelectChoice(Unit.BUNCH.value, _l("bunch")), SelectChoice(Unit.BOX.value, _l("box"))]


def vat_choices():
    return [SelectChoice(str(bp), f"{bp / 100:g} %") for bp in VAT_RATES_BP]


def vat_regime_choices():
    return [SelectChoice("", _l("Not stated yet")), SelectChoice("subject", _l("I charge VAT")),
            SelectChoice("franchise", _l("VAT franchise: TVA non applicable, art. 293 B du CGI"))]


class MoneyField(StringField):
    """Euros typed by a person ('3.50', '3,5'), kept as integer cents in `.cents`."""

    def __init__(self, *args, allow_zero: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.allow_zero = allow_zero
        self.cents: int | None = None

    def pre_validate(self, form):
        raw = (self.data or "").strip()
        if not raw and self.flags.optional:
            self.cents = None
            return
        try:
            self.cents = parse_cents(raw, allow_zero=self.allow_zero)
        except MoneyError as exc:
            raise ValidationError(str(exc)) from None


class WholeNumberField(StringField):
    """A non-negative whole number or blank; '1.5', '-2', '1e9' are refused with a message."""

    def __init__(self, *args, maximum: int = 1_000_000, **kwargs):
        super().__init__(*args, **kwargs)
        self.maximum = maximum
        self.number: int | None = None

    def pre_validate(self, form):
        raw = (self.data or "").strip()
        if not raw:
            self.number = None
            return
        if not raw.isdigit() or int(raw) > self.maximum:
            raise ValidationError(_l("Enter a whole number between 0 and %(max)s.", max=self.maximum))
        self.number = int(raw)


class ProductForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=NAME_MAX)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=DESCRIPTION_MAX)])
    name_en = StringField(_l("Name in English (optional)"), validators=[Optional(), Length(max=NAME_MAX)])
    description_en = TextAreaField(_l("Description in English (optional)"),
                                   validators=[Optional(), Length(max=DESCRIPTION_MAX)])
    category_id = SelectField(_l("Category"), coerce=int, validators=[DataRequired()])
    unit = SelectField(_l("Unit"), choices=unit_choices)
    price = MoneyField(_l("Price per unit (EUR, VAT included)"), validators=[DataRequired()])
    vat_rate_bp = SelectField(_l("VAT rate"), choices=vat_choices, default=lambda: get_setting("default_vat_rate_bp"))
    stock = WholeNumberField(_l("Stock (blank = unlimited)"), validators=[Optional()])
    is_weight_priced = BooleanField(_l("Priced by weight (price per kg, ordered by the piece)"))
    estimated_weight_g = WholeNumberField(_l("Estimated weight of one piece (g)"), maximum=100_000,
                                          validators=[Optional()])
    active = BooleanField(_l("On sale"), default=True)
    photo = FileField(_l("Photo (JPEG, PNG or WebP)"))


class ProfileForm(FlaskForm):
    name = StringField(_l("Farm or business name"), validators=[DataRequired(), Length(max=120)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=4000)])
    town = StringField(_l("Town"), validators=[Optional(), Length(max=120)])
    postcode = StringField(_l("Postcode"), validators=[Optional(), Length(max=16)])
    pickup_address = StringField(_l("Pickup address (for couriers)"), validators=[Optional(), Length(max=300)])
    min_order = MoneyField(_l("Minimum order total per distribution (EUR, blank = none)"), allow_zero=True,
                           validators=[Optional()])
    # The seller identity printed on invoices issued in the producer's name (billing mandate).
    legal_name = StringField(_l("Legal name (as registered)"), validators=[Optional(), Length(max=200)])
    legal_form = StringField(_l("Legal form and capital (e.g. EI, EARL au capital de 7 500 €)"),
                             validators=[Optional(), Length(max=200)])
    legal_address = StringField(_l("Registered address"), validators=[Optional(), Length(max=300)])
    legal_postcode = StringField(_l("Postcode"), validators=[Optional(), Length(max=16)])
    legal_town = StringField(_l("Town"), validators=[Optional(), Length(max=120)])
    siret = StringField(_l("SIRET number"), validators=[Optional(), Length(max=20)])
    vat_regime = SelectField(_l("VAT"), choices=vat_regime_choices, validators=[Optional()])
    vat_number = StringField(_l("Intra-EU VAT number"), validators=[Optional(), Length(max=20)])
