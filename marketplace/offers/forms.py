from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from marketplace.catalog.forms import MoneyField, WholeNumberField, unit_choices, vat_choices
from marketplace.offers.services import LABEL_MAX


class OffersForm(FlaskForm):
    """The offers page: one row per variant, read by the view (bring-<id>, quantity-<id>, price-<id>)."""


class VariantForm(FlaskForm):
    # Blank: the product itself (its first variant may stay unnamed).
    label = StringField(_l("Variant (e.g. 500 g, 1 kg, case of 6)"), validators=[Optional(), Length(max=LABEL_MAX)])
    unit = SelectField(_l("Unit"), choices=unit_choices)
    price = MoneyField(_l("Price per unit (EUR, VAT included)"), validators=[DataRequired()])
    vat_rate_bp = SelectField(_l("VAT rate"), choices=vat_choices, default="550")
    is_weight_priced = BooleanField(_l("Priced by weight (price per kg, ordered by the piece)"))
    estimated_weight_g = WholeNumberField(_l("Estimated weight of one piece (g)"), maximum=100_000,
                                          validators=[Optional()])
