"""Every e-mail goes out in its recipient's language, checked against the message catalogue.

For each registered e-mail (marketplace.core.mail.TEMPLATES) the msgids its composer uses are
extracted from its source the way pybabel does; every msgid whose French translation differs from
it must be rendered in French for a French reader and must leave no French in an English reader's
e-mail, whatever the coop's default language or the language of the request that sent it.
"""
from __future__ import annotations

import inspect
import re
import textwrap
from io import BytesIO
from pathlib import Path

import pytest
from babel.messages.extract import extract_python
from babel.messages.pofile import read_po

from marketplace import _domain_modules
from marketplace.core.mail import TEMPLATES, send_email
from marketplace.core.models import OutboundEmail
from marketplace.extensions import db
from tests.factories import make_member

list(_domain_modules("emails"))  # register every composer before the tests are collected

CATALOGUE = Path(__file__).resolve().parents[2] / "translations" / "fr" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\([^)]*\)[#0 +-]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]|%%")
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}


@pytest.fixture
def app_config():
    return {"BABEL_DEFAULT_LOCALE": "fr"}


def _french() -> dict[str, str]:
    with open(CATALOGUE, "rb") as f:
        catalogue = read_po(f)
    return {m.id: m.string for m in catalogue if isinstance(m.id, str) and m.id and m.string and not m.fuzzy}


def _msgids(compose) -> set[str]:
    """The msgids a composer passes to gettext, found as pybabel finds them (its helpers' too)."""
    module = inspect.getmodule(compose)
    source = textwrap.dedent(inspect.getsource(compose))
    helpers = {name for name in re.findall(r"\b(_[a-z]\w*)\(", source) if hasattr(module, name)}
    for name in helpers:
        source += "\n" + textwrap.dedent(inspect.getsource(getattr(module, name)))
    found = extract_python(BytesIO(source.encode()), KEYWORDS, [], {})
    return {msg if isinstance(msg, str) else msg[0] for _line, _func, msg, _comments in found if msg}


def _fragments(text: str, other: str) -> list[str]:
    """The words of `text` between placeholders that `other` (its translation) does not share."""
    return [part.strip() for part in PLACEHOLDER.split(text)
            if len(part.strip()) >= 4 and part.strip() not in other]


def _checked(french: dict[str, str], compose) -> list[tuple[str, list[str], list[str]]]:
    """(msgid, its English words, its French words) for each msgid of `compose` translated differently."""
    pairs = [(msgid, french[msgid]) for msgid in _msgids(compose) if msgid in french and french[msgid] != msgid]
    return [(msgid, _fragments(msgid, translation), _fragments(translation, msgid)) for msgid, translation in pairs]


def _sent(user, template) -> str:
    email = send_email(user, template.compose, **template.example)
    db.session.flush()
    return f"{email.subject}\n{email.body}"


def test_every_email_is_registered_with_translated_messages(app):
    assert len(TEMPLATES) >= 25
    french = _french()
    checked = [name for name, template in TEMPLATES.items() if _checked(french, template.compose)]
    # Nearly all e-mails have French in the catalogue; none may be left out of the check by mistake.
    assert len(checked) >= len(TEMPLATES) - 2, sorted(set(TEMPLATES) - set(checked))


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_an_english_member_of_a_french_coop_reads_no_french(app, name):
    template = TEMPLATES[name]
    english = make_member(locale="en")
    french_default = make_member(locale=None)
    french = _french()
    with app.test_request_context(headers={"Accept-Language": "fr"}):  # sent while a French page is served
        english_text = _sent(english, template)
        french_text = _sent(french_default, template)
    checked = _checked(french, template.compose)
    for msgid, english_words, french_words in checked:
        for words in french_words:
            assert words not in english_text, f"{name}: French {words!r} (from {msgid!r}) in the English e-mail"
        for words in english_words:
            assert words not in french_text, f"{name}: English {words!r} (from {msgid!r}) in the French e-mail"
    # Branches aside, the French reader's e-mail is written with the catalogue's French.
    assert not checked or any(words in french_text for _msgid, _en, fr in checked for words in fr), french_text


def test_a_task_sends_each_recipient_their_own_language(app):
    from marketplace.members import emails

    english, french = make_member(locale="en"), make_member(locale="fr")
    send_email(english, emails.welcome, number=7)
    send_email(french, emails.welcome, number=8)
    db.session.flush()
    subjects = dict(db.session.query(OutboundEmail.recipient, OutboundEmail.subject)
                    .filter(OutboundEmail.recipient.in_([english.email, french.email])))
    assert subjects[english.email] == "Welcome to the coop"
    assert subjects[french.email] == _french()["Welcome to the coop"]


def test_a_visitor_who_signs_up_in_english_gets_english_e_mails_from_a_french_coop(app, client):
    from marketplace.members.models import User

    response = client.post("/signup", headers={"Accept-Language": "en"}, data={
        "full_name": "Amy Pond", "email": "amy@test.coop", "password": "leadworth raggedy doctor fishfingers"})
    assert response.status_code in (302, 303)
    user = db.session.query(User).filter_by(email="amy@test.coop").one()
    assert user.locale == "en"
    email = db.session.query(OutboundEmail).filter_by(recipient="amy@test.coop").one()
    assert email.subject == "Confirm your e-mail address"
