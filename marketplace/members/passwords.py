"""Password hashing (Argon2) and the password policy (length, and not guessable: zxcvbn)."""
from __future__ import annotations

import re

from argon2 import PasswordHasher, profiles
from flask import current_app
from flask_babel import gettext as _
from zxcvbn import zxcvbn

from marketplace.core.errors import ServiceError

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 200
# zxcvbn's 3: "safely unguessable", over 10^8 guesses. Its dictionaries hold the most common passwords
# of public breach corpora, English words, names and keyboard patterns; it runs offline.
MIN_PASSWORD_SCORE = 3
# zxcvbn's cost grows with the length; past this, the rest of a long passphrase only adds strength.
SCORED_PREFIX = 64

_hashers: dict[bool, PasswordHasher] = {}


def hasher() -> PasswordHasher:
    """Argon2 with its recommended costs; tests ask for the cheapest (PASSWORD_HASH_CHEAP)."""
    cheap = bool(current_app.config.get("PASSWORD_HASH_CHEAP"))
    if cheap not in _hashers:
        _hashers[cheap] = PasswordHasher.from_parameters(profiles.CHEAPEST) if cheap else PasswordHasher()
    return _hashers[cheap]


def _personal_words(details: tuple[str, ...]) -> list[str]:
    from marketplace.core.services import get_setting

    words = {"coop", "cooperative", "marketplace"}
    for text in (*details, get_setting("coop_name")):
        text = (text or "").lower()
        if text:
            words.add(text)
            words.update(w for w in re.split(r"[^\w]+", text) if len(w) >= 3)
    return sorted(words)


def require_strong_password(password: str, *details: str) -> None:
    """Refuse a short, common or breached-list password, or one made of the member's own details."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ServiceError(_("Choose a password of at least %(n)d characters.", n=MIN_PASSWORD_LENGTH), "password")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ServiceError(_("Choose a password of at most %(n)d characters.", n=MAX_PASSWORD_LENGTH), "password")
    if zxcvbn(password[:SCORED_PREFIX], user_inputs=_personal_words(details))["score"] < MIN_PASSWORD_SCORE:
        raise ServiceError(_("This password is too easy to guess: it is a common password, close to one, or made "
                             "of your name or address. A few unrelated words make a strong password that is "
                             "easy to remember."), "password")


def hash_password(password: str) -> str:
    return hasher().hash(password)
