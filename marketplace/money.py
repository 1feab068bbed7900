"""Money is integer cents everywhere; this module parses and formats it."""
from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction

# 10 million euros: far above any co-op basket, low enough to catch a typo or an attack.
MAX_CENTS = 1_000_000_000

_AMOUNT = re.compile(r"^\s*(\d{1,9})(?:[.,](\d{1,2}))?\s*$")


class MoneyError(ValueError):
    """An amount that is not a valid price."""


def parse_cents(text: str | None, *, allow_zero: bool = False) -> int:
    """'12', '12.5', '12,50' -> 1250 cents; anything else (3 decimals, negative, huge) is refused."""
    if text is None or not str(text).strip():
        raise MoneyError("Enter an amount.")
    match = _AMOUNT.match(str(text))
    if not match:
        raise MoneyError("Enter an amount in euros with at most two decimals, e.g. 3.50.")
    whole, frac = match.group(1), (match.group(2) or "0")
    cents = int(whole) * 100 + int(frac.ljust(2, "0"))
    if cents > MAX_CENTS:
        raise MoneyError("This amount is too large.")
    if cents == 0 and not allow_zero:
        raise MoneyError("The amount must be greater than zero.")
    return cents


def cents_to_decimal(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


def cents_to_input(cents: int | None) -> str:
    """Value shown back in a form field."""
    return "" if cents is None else f"{cents_to_decimal(cents)}"


def round_half_up(value: Fraction) -> int:
    """Round an exact fraction of cents to the nearest cent, halves away from zero."""
    if value < 0:
        return -round_half_up(-value)
    return (2 * value.numerator + value.denominator) // (2 * value.denominator)


def weighed_amount_cents(weight_grams: int, price_per_kg_cents: int) -> int:
    """Final price of a weighed line: grams x price per kg, rounded to the cent."""
    return round_half_up(Fraction(weight_grams * price_per_kg_cents, 1000))


def format_money(cents: int | None, currency: str | None = None, locale: str | None = None) -> str:
    """Format for the current locale ('12,50 €' in French, '€12.50' in English)."""
    if cents is None:
        return ""
    from babel.numbers import format_currency
    from flask import current_app, has_app_context
    from flask_babel import get_locale

    if currency is None:
        currency = current_app.config.get("COOP_CURRENCY", "EUR") if has_app_context() else "EUR"
    if locale is None:
        try:
            locale = str(get_locale() or "en")
        except Exception:  # outside a request
            locale = "en"
    return format_currency(cents_to_decimal(cents), currency, locale=locale)
