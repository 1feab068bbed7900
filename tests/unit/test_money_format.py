"""format_money writes exactly what Babel writes, from a pattern read once per locale and currency."""
from __future__ import annotations

import random
from decimal import Decimal

import pytest
from babel.numbers import format_currency

from marketplace.money import _money_format, format_money

AMOUNTS = [0, 1, 99, 100, 1250, 99999, 123456, 100000000, -1, -1250, -123456789] + \
    [random.Random(n).randrange(-10**9, 10**9) for n in range(200)]


@pytest.mark.parametrize("locale", ["fr", "fr_FR", "en", "en_GB", "de", "fr_CH", "en_IN"])
@pytest.mark.parametrize("currency", ["EUR", "CHF", "JPY"])
def test_format_money_is_babels_format(locale, currency):
    for cents in AMOUNTS:
        expected = format_currency(Decimal(cents) / 100, currency, locale=locale)
        assert format_money(cents, currency, locale) == expected, (cents, locale, currency)


def test_the_pattern_is_read_once_per_locale_and_currency():
    _money_format.cache_clear()
    for cents in AMOUNTS:
        format_money(cents, "EUR", "fr")
    assert _money_format.cache_info().misses == 1
    assert format_money(123456, "EUR", "fr") == "1\u202f234,56\xa0€"
