from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, RadioField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import Length, NumberRange, Optional

from marketplace.web import MAX_ID


class CheckoutForm(FlaskForm):
    fulfilment = RadioField(_l("How do you get your order?"), default="pickup",
                            choices=[SelectChoice("pickup", _l("I collect it at the distribution")),
                                     SelectChoice("delivery", _l("Home delivery by a coop courier"))])
    payment_method = RadioField(_l("Payment"), default="pay_at_pickup",
                                choices=[SelectChoice("pay_at_pickup", _l("Pay at pickup / on delivery"))])
    delivery_address = StringField(_l("Delivery address"), validators=[Optional(), Length(max=300)])
    delivery_postcode = StringField(_l("Postcode"), validators=[Optional(), Length(max=16)])
    delivery_town = StringField(_l("Town"), validators=[Optional(), Length(max=120)])
    delivery_slot_id = SelectField(_l("Delivery time"), coerce=int, validate_choice=False, default=0,
                                   validators=[NumberRange(0, MAX_ID, message=_l("Choose one of the delivery times."))])
    note = TextAreaField(_l("Note for the producers"), validators=[Optional(), Length(max=1000)])
    # The total the buyer was shown (cents): checkout refuses to place an order whose total differs.
    # No label shown, so none given: a field without one translates its name (Flask-WTF loads its catalogue
    # from disk for that, at every request).
    expected_total_cents = HiddenField("")
    # Unticked (the default), the buyer's account balance pays first.
    skip_account = BooleanField(_l("Keep my account balance for later: do not use it for this order"))
