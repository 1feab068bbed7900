"""Catalogue search as a French coop expects it: accents, case and plurals do not matter.

Each product keeps a folded copy of its searchable text (`Product.search_text`: name, producer
name, description, separated by SEPARATOR): lower case, accents and ligatures removed ("Œufs" →
"oeuf"), plurals reduced ("Pommes" → "pomme", "choux" → "chou"). A query is folded the same way
and every word must occur in that text (`LIKE '%word%'`). On PostgreSQL a trigram index (pg_trgm)
serves those substring matches; SQLite runs the same query without the index. Products whose
name matches come first, then producer-name matches, then description matches.
"""
from __future__ import annotations

import re
import unicodedata

SEPARATOR = "\x1f"  # between name, producer name and description; never in folded text
MAX_WORDS = 5
MIN_WORD = 2
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae", "ß": "ss", "’": "'"})
_WORD = re.compile(r"[a-z0-9]+")


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", (text or "").lower().translate(_LIGATURES))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _singular(word: str) -> str:
    """French plurals, enough for a shop: pommes → pomme, choux → chou; noix, frais, jus and short words stay."""
    if len(word) > 3 and (word.endswith("ux") or (word[-1] == "s" and not word.endswith(("ss", "us", "is")))):
        return word[:-1]
    return word


def fold(text: str) -> str:
    """Lower case, no accents, singular words, single spaces."""
    return " ".join(_singular(w) for w in _WORD.findall(_plain(text)))


def search_text(name: str, producer_name: str, description: str, name_en: str = "", description_en: str = "") -> str:
    """What Product.search_text holds for these fields (an English name counts as a name)."""
    return SEPARATOR.join((fold(f"{name} {name_en}"), fold(producer_name), fold(f"{description} {description_en}")))


def query_words(text: str) -> list[str]:
    """The folded words of a query, each at least MIN_WORD characters, at most MAX_WORDS of them."""
    words = [w for w in fold(text[:100]).split() if len(w) >= MIN_WORD]
    return list(dict.fromkeys(words))[:MAX_WORDS]
