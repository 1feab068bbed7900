"""List pages format dates, moments and amounts once per value: what they show is what Flask-Babel and
`format_money` write, in English and in French, around midnight and within a minute."""
from __future__ import annotations

from datetime import datetime, timedelta

import flask_babel
import pytest

from marketplace.money import format_money, money_formatter


@pytest.mark.parametrize("locale", ["en", "fr"])
def test_memoised_dates_and_moments_read_as_flask_babel_writes_them(app, locale):
    moments = [datetime(2026, 3, 28, 22, 59) + timedelta(seconds=s, microseconds=s * 7919)
               for s in range(0, 3 * 3600, 337)]  # across midnight in Paris and the change to summer time
    formats = [None, "short", "medium", "long", "d MMM y, HH:mm", "EEEE d MMMM y, HH:mm", "HH:mm:ss"]
    day_formats = [None, "short", "medium", "long", "full", "d MMM y", "EEEE d MMMM y"]
    with app.test_request_context(headers={"Accept-Language": locale}):
        as_date, as_moment = app.jinja_env.globals["format_date"], app.jinja_env.globals["format_datetime"]
        for moment in moments * 2:  # the second time from the memo
            for format in formats:
                assert as_moment(moment, format) == flask_babel.format_datetime(moment, format), (moment, format)
            for format in day_formats:
                assert as_date(moment, format) == flask_babel.format_date(moment, format), (moment, format)


@pytest.mark.parametrize("locale", ["en", "fr"])
def test_money_formatter_writes_what_format_money_writes(app, locale):
    with app.test_request_context(headers={"Accept-Language": locale}):
        money = money_formatter()
        assert money(1234) == ("12,34\u00a0€" if locale == "fr" else "€12.34")
        for cents in (None, 0, 5, -5, 99, 1234, -123456, 100000000, 987654321):
            assert money(cents) == format_money(cents)
        assert money_formatter("USD", "fr")(1234) == format_money(1234, "USD", "fr")
