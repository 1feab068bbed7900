"""Templates translate through marketplace.i18n.translations: looked up once per request and locale, not per message."""
from __future__ import annotations

from flask import render_template_string
from flask_babel import Domain, force_locale, refresh

PAGE = ("{%% for _i in range(%d) %%}{{ _('Cart') }} {%% endfor %%}"
        "| {{ ngettext('%%(num)d product', '%%(num)d products', 2) }}")


def _lookups(monkeypatch) -> list:
    calls: list = []
    original = Domain.get_translations

    def counted(self):
        calls.append(1)
        return original(self)

    monkeypatch.setattr(Domain, "get_translations", counted)
    return calls


def test_a_page_looks_its_translations_up_once_not_once_per_message(app, monkeypatch):
    lookups = _lookups(monkeypatch)
    counts, pages = [], []
    for messages in (30, 60):
        lookups.clear()
        with app.app_context(), app.test_request_context("/", headers={"Accept-Language": "fr"}):
            pages.append(render_template_string(PAGE % messages))
        counts.append(len(lookups))
    assert [page.count("Panier") for page in pages] == [30, 60] and "Cart" not in "".join(pages)
    # The page's own lookup, and the coop's default texts (lazy strings, translated on the Python side).
    # Flask-Babel's own template callables looked them up once per message: 33 and 63.
    assert counts[0] == counts[1] <= 3


def test_a_forced_locale_inside_a_request_is_followed_and_then_left(app):
    with app.app_context(), app.test_request_context("/", headers={"Accept-Language": "fr"}):
        before = render_template_string("{{ _('Cart') }}")
        with force_locale("en"):  # an e-mail in the member's language, a legal document in French...
            forced = render_template_string("{{ _('Cart') }} {{ _('Log in') }}")
        after = render_template_string("{{ _('Cart') }}")
    with app.app_context(), app.test_request_context("/", headers={"Accept-Language": "en"}):
        other_request = render_template_string("{{ _('Log in') }}")
    assert (before, forced, after, other_request) == ("Panier", "Cart Log in", "Panier", "Log in")


def test_a_language_changed_during_the_request_is_followed(app):
    from flask import session

    with app.app_context(), app.test_request_context("/", headers={"Accept-Language": "fr"}):
        assert render_template_string("{{ _('Cart') }}") == "Panier"
        session["lang"] = "en"  # the language switch: Flask-Babel's refresh() forgets the locale chosen
        refresh()
        assert render_template_string("{{ _('Cart') }}") == "Cart"
