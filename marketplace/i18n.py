"""Language and time zone selection: a member's choice, then the browser, then the coop default."""
from __future__ import annotations

from babel.support import NullTranslations
from flask import Flask, current_app, g, has_app_context, has_request_context, request, session
from flask_babel import get_translations
from flask_login import current_user


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():  # tasks and CLI: the coop's default language
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    if getattr(current_user, "is_authenticated", False) and current_user.locale in languages:
        return current_user.locale
    return request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    return current_app.config["BABEL_DEFAULT_TIMEZONE"]


def translations() -> NullTranslations:
    """The translations of the locale in force, looked up once per request and locale. Flask-Babel looks them up
    on every message (the context five times and the locale's name), which a page pays 50 to 100 times. A
    `force_locale` block (an e-mail in the member's language) sets another locale object: looked up again."""
    if not has_app_context():
        return get_translations()
    state = g.get("_flask_babel")
    locale = getattr(state, "babel_locale", None)
    kept = g.get("_coop_translations")
    if locale is None or kept is None or kept[0] is not locale:
        found = get_translations()  # sets the request's locale on first use
        kept = g._coop_translations = (getattr(g.get("_flask_babel"), "babel_locale", None), found)
    return kept[1]


def install_template_gettext(app: Flask) -> None:
    """The templates' _() / gettext / ngettext / pgettext through `translations` (replacing Flask-Babel's)."""
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: translations().ugettext(s),
        ngettext=lambda s, p, n: translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: translations().unpgettext(c, s, p, n))
