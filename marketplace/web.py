"""Request-level wiring: log-in loader, one commit per request, errors as clear messages."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Literal, TypeVar, overload
from urllib.parse import urlsplit

from flask import (
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    has_request_context,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
)
from flask_babel import format_date, format_datetime, get_locale, to_user_timezone
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge, SecurityError
from werkzeug.routing import IntegerConverter
from werkzeug.wrappers import Response as BaseResponse

from marketplace.core.errors import ServiceError
from marketplace.extensions import db, login_manager
from marketplace.money import cents_to_input, format_money, money_formatter


class DatabaseIdConverter(IntegerConverter):
    """`<int:...>` limited to a 32-bit signed integer, the range of our primary keys."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


def init_app(app: Flask) -> None:
    """Log-in pages, proxies, template globals, security headers and the error pages. The app factory
    installs the user loader (members' user_for_session): web sits below the domains."""
    login_manager.login_view = "members.login"
    login_manager.login_message = None
    proxies = app.config.get("TRUSTED_PROXIES") or 0
    if proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # The client's address (log-in limits) and scheme as the deployer's own proxies saw them.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)

    @app.context_processor
    def inject_globals():
        from marketplace.core.services import all_settings

        if "coop" not in g:
            g.coop = _coop_settings(all_settings)
        return {"coop": g.coop, "current_locale": str(get_locale())}

    # Globals (not context) so that imported macros can use them too.
    app.jinja_env.globals.update(format_money=format_money, format_datetime=_memo(format_datetime),
                                 format_date=_memo(format_date), cents_to_input=cents_to_input, id_url=id_url,
                                 money_formatter=money_formatter)
    app.jinja_env.filters["known_word"] = known_word
    app.jinja_env.filters["word"] = lambda value: known_word(value, enum_words())
    from marketplace import headers

    headers.init_app(app)

    @app.teardown_request
    def rollback_unfinished(exc):
        # A request that failed leaves nothing half-written.
        if exc is not None:
            db.session.rollback()

    @app.errorhandler(ServiceError)
    def service_error(exc: ServiceError):
        db.session.rollback()
        return error_response(exc.message, exc.status_code)

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        db.session.rollback()
        return error_response(_("The form expired or was not sent from this site. Please try again."), 400)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(exc):
        db.session.rollback()
        return error_response(_("The file is too large."), 413)

    @app.errorhandler(SecurityError)
    def untrusted_host(exc: SecurityError):
        # Raised before routing (TRUSTED_HOSTS): no page can be built for a host the shop does not serve.
        return Response("Unknown host.", 400, mimetype="text/plain")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code and exc.code >= 400:
            db.session.rollback()
            return error_response(exc.description or exc.name, exc.code)
        return exc


def _memo(format_: Callable[..., str]) -> Callable[..., str]:
    """A Babel date formatter that formats each (value, format) once per request and locale: list pages show the
    same distribution date on every row. A moment shown as a date is first turned into the member's local day
    (what Flask-Babel's format_date does before formatting it), so that moments of the same day share it."""
    as_day = format_ is format_date

    def formatted(value: Any = None, format: str | None = None, rebase: bool = True) -> str:
        if value is None or not has_request_context():
            return format_(value, format, rebase)
        locale = str(get_locale())
        if as_day and rebase and isinstance(value, datetime):
            value = to_user_timezone(value).date()
        elif isinstance(value, datetime) and format is not None and _to_the_minute(format, locale):
            value = value.replace(second=0, microsecond=0)  # what such a format shows is the same
        memo = g.setdefault("formatted_dates", {})
        key = (format_, value, format, rebase, locale)
        if key not in memo:
            memo[key] = format_(value, format, rebase)
        return memo[key]

    return formatted


@lru_cache(maxsize=64)
def _to_the_minute(format: str, locale: str) -> bool:
    """Whether a date-time `format` (a name, or a pattern) shows nothing finer than the minute in this locale: then
    moments of the same minute share their formatting (a list of rows made in the same minutes)."""
    from babel.dates import get_date_format, get_datetime_format, get_time_format

    if format in ("short", "medium", "long", "full"):
        pattern = (f"{get_datetime_format(format, locale)} {get_date_format(format, locale).pattern} "
                   f"{get_time_format(format, locale).pattern}")
    else:
        pattern = format
    return not any(letter in pattern for letter in "sSA")  # seconds, fractions, milliseconds in the day


ID_PLACEHOLDER = 2_147_483_646  # a valid <int:...> that no real id reaches before the last one


def id_url(endpoint: str, name: str, **values: Any) -> Callable[[int], str]:
    """`url_for(endpoint, name=id)` for many ids, built once: list pages make one link per row and action.

    The link is built with a placeholder id and the id put in its place; ids are integers, so nothing else in
    the link can look like it."""
    from flask import url_for

    head, _sep, tail = url_for(endpoint, **{**values, name: ID_PLACEHOLDER}).partition(str(ID_PLACEHOLDER))
    return lambda value: f"{head}{int(value)}{tail}"


def _coop_settings(read: Callable[[], dict]) -> dict:
    """The coop's settings, read once per site version when this request knows it (`g.site_version`, set by the
    member page cache from Redis; a settings change bumps it at commit), else from the database."""
    version = g.get("site_version")
    if version is None:
        return read()
    kept = current_app.extensions.get("coop_settings")
    if kept is None or kept[0] != version:
        kept = (version, read())
        current_app.extensions["coop_settings"] = kept
    return dict(kept[1])


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def error_response(message: str, status: int, back: str | None = None):
    if wants_json():
        return jsonify({"error": message}), status
    return render_template("error.html", message=message, status=status, back_url=back), status


def is_safe_next(target: str | None) -> bool:
    """Only same-site relative paths may be used as a post-login redirect."""
    if not target:
        return False
    # Browsers drop tabs and newlines from a URL, so "/\t/evil.example" would become "//evil.example".
    if any(ch.isspace() or not ch.isprintable() for ch in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//") \
        and "\\" not in target


def next_or(default: str) -> str:
    """Where to go after a POST: a safe `next` field (the page the form was on), else `default`; never the Referer."""
    target = request.form.get("next") or request.args.get("next")
    return target if target and is_safe_next(target) else default


# ---------------------------------------------------------------- the boundary of a POST

T = TypeVar("T")
AUTHORIZATION_STATUSES = frozenset({401, 403, 404})


class _Refused:
    """What `perform` returns when the service refused a form's input: falsy; the form carries the reason."""

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "REFUSED"


REFUSED: Any = _Refused()


def perform(service: Callable[..., T], /, *args, success: str | None = None, back: str | None = None,
            form: Any = None, commit_refusal: bool = False, **kwargs) -> T:
    """The boundary of a POST (Indico's RH.process): call the service, commit once, then flash `success`.

    A refusal (ServiceError) rolls the whole request back and is shown to whoever asked:
    - a JSON caller gets {"error": reason} with the refusal's status;
    - with a `form`, the reason goes next to its field (or is flashed) and REFUSED is returned: the view
      shows the form again, with `form_status(form)`;
    - an authorization refusal (401/403/404) is the error page with its status, as on any other page;
    - otherwise (an action button) the reason is flashed on the page the user came from: a 303 to a safe
      `next` field, else to `back` (with no `back`, the error page).
    Every answer but REFUSED ends the view (raised, as abort() does). `commit_refusal` keeps what the
    service recorded of a refused attempt (failed log-ins are counted) instead of rolling it back.
    """
    try:
        result = service(*args, **kwargs)
        db.session.commit()
    except ServiceError as exc:
        if commit_refusal:
            db.session.commit()
        else:
            db.session.rollback()
        refusal = exc
    else:
        if success:
            flash(success, "success")
        return result
    return _show_refusal(refusal, back, form)


def act(service: Callable[..., Any], /, *args, back: str, success: str | None = None, **kwargs) -> BaseResponse:
    """An action button's POST: `perform` the service, then go back to a safe `next` field, else `back`."""
    perform(service, *args, success=success, back=back, **kwargs)
    return redirect(next_or(back))


def form_status(form: Any) -> int:
    """The status of a page showing `form` (None: none was posted): 200, 400 for input the form refused, or the
    service's refusal."""
    if form is None:
        return 200
    refusal = getattr(form, "refusal", None)
    if refusal is not None:
        return refusal.status_code
    return 400 if form.errors else 200


def _show_refusal(exc: ServiceError, back: str | None, form: Any) -> Any:
    if wants_json():
        abort(make_response(jsonify({"error": exc.message}), exc.status_code))
    if form is not None:
        attach_error(form, exc)
        form.refusal = exc
        return REFUSED
    if exc.status_code in AUTHORIZATION_STATUSES or back is None:
        abort(make_response(error_response(exc.message, exc.status_code, back=back and next_or(back))))
    flash(exc.message, "error")
    abort(redirect(next_or(back), 303))


def attach_error(form, exc: ServiceError) -> None:
    """Show a service's refusal next to the field it concerns, or as a flashed message."""
    field = getattr(form, exc.field, None) if exc.field else None
    if field is not None and hasattr(field, "errors"):
        if not isinstance(field.errors, list):
            field.errors = list(field.errors)
        field.errors.append(exc.message)
    else:
        flash(exc.message, "error")


# ---------------------------------------------------------------- bounded input from requests

MAX_ID = 2**31 - 1  # the range of our primary keys (see DatabaseIdConverter)
MIN_DATE, MAX_DATE = date(1900, 1, 1), date(2199, 12, 31)
MAX_JSON_DEPTH = 64


@overload
def request_int(name: str, default: int, *, minimum: int = ..., maximum: int = ..., form: bool = ...,
                required: bool = ...) -> int: ...
@overload
def request_int(name: str, default: None = None, *, minimum: int = ..., maximum: int = ..., form: bool = ...,
                required: Literal[True]) -> int: ...
@overload
def request_int(name: str, default: None = None, *, minimum: int = ..., maximum: int = ..., form: bool = ...,
                required: bool = ...) -> int | None: ...
def request_int(name: str, default: int | None = None, *, minimum: int = 0, maximum: int = MAX_ID,
                form: bool = False, required: bool = False) -> int | None:
    """A whole number from the query string (or the form), within bounds; blank gives `default` (or a 400 if
    `required`), junk a 400."""
    raw = ((request.form if form else request.args).get(name) or "").strip()
    if not raw and not required:
        return default
    return whole_number(raw, name, minimum, maximum)


def request_ints(name: str, *, minimum: int = 0, maximum: int = MAX_ID, form: bool = False) -> list[int]:
    """Every value of a repeated field (checkboxes) as whole numbers within bounds; blanks skipped, junk a 400."""
    values = (request.form if form else request.args).getlist(name)
    return [whole_number(raw.strip(), name, minimum, maximum) for raw in values if raw.strip()]


def whole_number(raw: str, name: str, minimum: int = 0, maximum: int = MAX_ID) -> int:
    """`raw` as a whole number within bounds, or a 400 that names the field."""
    digits = raw[1:] if raw[:1] in ("+", "-") else raw
    # isascii: str.isdigit() also accepts '²' and other scripts' digits, which int() refuses or reads.
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 50:
        raise ServiceError(_("%(name)s must be a whole number.", name=name), name)
    value = int(raw)
    if not minimum <= value <= maximum:
        raise ServiceError(_("%(name)s must be between %(min)d and %(max)d.", name=name, min=minimum, max=maximum),
                           name)
    return value


def request_date(name: str, default: date | None = None) -> date | None:
    """A YYYY-MM-DD date from the query string, within the years any report or plan can mean; junk a 400."""
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = date.fromisoformat(raw) if len(raw) == 10 else None
    except ValueError:
        value = None
    if value is None or not MIN_DATE <= value <= MAX_DATE:
        raise ServiceError(_("%(name)s must be a date written YYYY-MM-DD between %(min)s and %(max)s.", name=name,
                             min=MIN_DATE.isoformat(), max=MAX_DATE.isoformat()), name)
    return value


def json_object(raw: bytes) -> dict:
    """A request body that must be one JSON object of bounded nesting; a clear 400 otherwise."""
    too_deep = _("The JSON document is nested too deeply (%(n)d levels at most).", n=MAX_JSON_DEPTH)
    try:
        body = json.loads(raw)
    except ValueError:  # not JSON, not UTF-8, or a number of thousands of digits
        body = None
    except RecursionError:
        raise ServiceError(too_deep) from None
    if not isinstance(body, dict):
        raise ServiceError(_("Send a JSON object (Content-Type: application/json)."))
    if _json_depth(body) > MAX_JSON_DEPTH:
        raise ServiceError(too_deep)
    return body


def _json_depth(value) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack and deepest <= MAX_JSON_DEPTH:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def enum_words() -> frozenset[str]:
    """Every value of every enum column (statuses, units...): the app's own words, translated when shown."""
    words = current_app.extensions.get("enum_words")
    if words is None:
        from sqlalchemy import Enum

        words = frozenset(value for table in db.metadata.tables.values() for column in table.columns
                          if isinstance(column.type, Enum) for value in column.type.enums)
        current_app.extensions["enum_words"] = words
    return words


def known_word(value: str | None, words: Iterable[str]) -> str:
    """Translate `value` only if it is one of the app's own `words`; a member's text is shown as typed.

    Stored text never goes through `_()`: in a template its result is marked safe and %-formatted."""
    if not value:
        return ""
    return _(value) if value in words else value
