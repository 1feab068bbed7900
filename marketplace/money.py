"""Money is integer cents everywhere; this module parses and formats it."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache

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


def allocate_cents(total_cents: int, weights: list[int]) -> list[int]:
    """`total_cents` split in proportion to `weights`, cents exact (largest remainder; ties to the earlier one).

    All weights zero (or negative): an equal split. The result always sums to `total_cents`."""
    if not weights:
        return []
    weights = [max(w, 0) for w in weights]
    if sum(weights) == 0:
        weights = [1] * len(weights)
    whole = sum(weights)
    exact = [Fraction(total_cents * w, whole) for w in weights]
    shares = [x.numerator // x.denominator for x in exact]
    left = total_cents - sum(shares)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in by_remainder[:left]:
        shares[i] += 1
    return shares


def weighed_amount_cents(weight_grams: int, price_per_kg_cents: int) -> int:
    """Final price of a weighed line: grams x price per kg, rounded to the cent."""
    return round_half_up(Fraction(weight_grams * price_per_kg_cents, 1000))


def format_money(cents: int | None, currency: str | None = None, locale: str | None = None) -> str:
    """Format for the current locale ('12,50 €' in French, '€12.50' in English)."""
    if cents is None:
        return ""
    return money_formatter(currency, locale)(cents)


def money_formatter(currency: str | None = None, locale: str | None = None) -> Callable[[int | None], str]:
    """`format_money` with the currency and locale looked up once (the coop's, the current request's): a list page
    formats an amount on every row."""
    from flask import current_app, has_app_context
    from flask_babel import get_locale

    if currency is None:
        currency = current_app.config.get("COOP_CURRENCY", "EUR") if has_app_context() else "EUR"
    if locale is None:
        try:
            locale = str(get_locale() or "en")
        except Exception:  # outside a request
            locale = "en"
    money_format = _money_format(locale, currency)
    if money_format is None:
        from babel.numbers import format_currency

        return lambda cents: "" if cents is None else format_currency(cents_to_decimal(cents), currency,
                                                                      locale=locale)
    apply = money_format.apply
    return lambda cents: "" if cents is None else apply(cents)


@dataclass(frozen=True)
class _MoneyFormat:
    """A locale's currency pattern, read from Babel once: formatting is then string work on integers."""

    prefixes: tuple[str, str]  # positive, negative
    suffixes: tuple[str, str]
    decimal: str
    group: str
    group_size: int

    def apply(self, cents: int) -> str:
        negative = cents < 0
        whole, frac = divmod(abs(cents), 100)
        digits = f"{whole:,}".replace(",", "\0") if self.group_size == 3 else str(whole)
        return (f"{self.prefixes[negative]}{digits.replace(chr(0), self.group)}{self.decimal}{frac:02d}"
                f"{self.suffixes[negative]}")


@lru_cache(maxsize=64)
def _money_format(locale: str, currency: str) -> _MoneyFormat | None:
    """The pattern for this locale and currency; None when it is not the common shape (Babel formats it)."""
    from babel import Locale, UnknownLocaleError
    from babel.numbers import get_currency_precision, get_currency_symbol

    try:
        parsed = Locale.parse(locale)
    except (UnknownLocaleError, ValueError):
        return None
    pattern = parsed.currency_formats["standard"]
    symbols = parsed.number_symbols.get("latn", {})
    if (pattern.grouping != (3, 3) or pattern.frac_prec != (2, 2) or get_currency_precision(currency) != 2
            or "decimal" not in symbols or "group" not in symbols):
        return None
    symbol = get_currency_symbol(currency, parsed)
    fast = _MoneyFormat(prefixes=tuple(p.replace("¤", symbol) for p in pattern.prefix),
                        suffixes=tuple(p.replace("¤", symbol) for p in pattern.suffix),
                        decimal=symbols["decimal"], group=symbols["group"], group_size=3)
    # Trust it only where it writes exactly what Babel writes (some locales group from 5 digits, etc.).
    from babel.numbers import format_currency

    probes = (0, 7, -7, 1234, 99999, 123456, -123456, 12345678, 100000000, -987654321)
    if any(fast.apply(c) != format_currency(cents_to_decimal(c), currency, locale=parsed) for c in probes):
        return None
    return fast
