from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField
from wtforms.validators import DataRequired, Length


class ReaderForm(FlaskForm):
    email = EmailField(_l("E-mail of the member representative"), validators=[DataRequired(), Length(max=254)])
