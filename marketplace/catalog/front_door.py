"""A member's stored catalogue or product page, answered in front of Flask (WSGI middleware).

`member_pages` keeps a logged-in member's page under a key made of the request, the session and three versions
(see there). Served from a `before_request` hook, a stored page still paid for Flask's whole request: the
request context, the URL match, every `after_request` hook and the teardown, about three quarters of its CPU.
The front door answers the same GET with the same key and the same checks, before Flask:

- only a GET of a path under `/products` whose key has a page stored, so only pages `member_pages` stored
  (catalogue and product pages, rendered by Flask for that very session);
- the host must be one the app trusts (TRUSTED_HOSTS), as Flask checks while routing;
- a visitor without a session or remember-me cookie gets every such visitor's page (`member_pages.is_visitor`);
- else the session cookie must be the app's own (signature and age checked as Flask's cookie sessions do), name a
  member, hold a CSRF secret and pass Flask-Login's session protection (`session_identifier`, the same hash of
  address and User-Agent); a flashed message in it (the page after "Add to cart") is put in the page, once, and
  the session without it saved by Flask's own session interface (the one cookie the door ever sets);
- the page goes out with the headers it was first sent with (security headers, no-store, `Vary: Cookie`), but
  its length and any cookie (the first rendering's session lost the flashed message it showed).

Anything else (no page stored, Redis down, another session interface, an untrusted host) goes to Flask as before.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from hashlib import sha512

from flask import Flask
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import BadSignature
from werkzeug.exceptions import SecurityError
from werkzeug.sansio.http import parse_cookie
from werkzeug.wrappers import Response
from werkzeug.wsgi import get_host

from marketplace.catalog import cache, member_pages

PREFIX = "/products"
PER_RESPONSE = frozenset({"content-length", "set-cookie"})
MAX_VERIFIED = 10_000  # session cookies remembered as verified (per worker)


def session_identifier(environ: dict) -> str:
    """Flask-Login's session identifier for this request (flask_login.utils._create_identifier, from the environ):
    the first X-Forwarded-For address, else the client's, and the User-Agent, hashed."""
    address = environ.get("HTTP_X_FORWARDED_FOR", environ.get("REMOTE_ADDR"))
    remote = address.encode("utf-8").split(b",")[0].strip() if address is not None else None
    agent = environ.get("HTTP_USER_AGENT")
    base = f"{remote}|{agent.encode('utf-8') if agent is not None else None}"
    return sha512(base.encode("utf8")).hexdigest()


class FrontDoor:
    """Wraps the app's WSGI callable: stored member pages out, everything else in."""

    def __init__(self, app: Flask, wsgi_app: Callable):
        self.app = app
        self.wsgi_app = wsgi_app
        self._serializer: tuple | None = None  # (secret key, its signing serializer)
        self._verified: dict[str, tuple[dict, float]] = {}  # cookie value -> (session, signed at)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "GET" or not environ.get("PATH_INFO", "").startswith(PREFIX):
            return self.wsgi_app(environ, start_response)
        found = self._stored(environ)
        if found is not None:
            body, headers = found
            start_response("200 OK", [*headers, ("Content-Length", str(len(body)))])
            return [body]
        return self._answered_and_kept(environ, start_response)

    def _answered_and_kept(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        sent: list = []

        def noting(status: str, headers: list, exc_info=None):
            sent[:] = [status, headers]
            return start_response(status, headers, exc_info)

        result = self.wsgi_app(environ, noting)
        kept = environ.pop(member_pages.KEPT, None)
        if kept is not None and sent and sent[0].startswith("200 "):
            # keep_page kept it only if the session is as it was but for a flashed message shown: a cookie set for
            # that is this response's own.
            headers = tuple((name, value) for name, value in sent[1] if name.lower() not in PER_RESPONSE)
            pages = member_pages.pages_of(self.app)
            for key, body, extra in kept:
                pages.put(key, body, headers, extra)
        return result

    def _stored(self, environ: dict) -> tuple[bytes, tuple] | None:
        """(body, headers) of this request's stored page, or None when Flask must answer."""
        app = self.app
        cookies = parse_cookie(environ.get("HTTP_COOKIE", ""))
        visitor = member_pages.is_visitor(app, cookies)
        session = None if visitor else self._session(cookies)
        if not visitor and (session is None or not member_pages.session_protected(
                app, session, lambda: session_identifier(environ))):
            return None
        try:
            get_host(environ, app.config.get("TRUSTED_HOSTS"))
        except SecurityError:
            return None
        def versions(user_id: int, product_id: int | None) -> tuple | None:
            found = member_pages.versions_of(app, user_id, product_id)
            if found is None:
                environ[member_pages.NO_VERSIONS] = True
            return found

        key = member_pages.request_key(environ, session, versions)
        if key is None:
            return None
        pages = member_pages.pages_of(app)
        entry = pages.entry(key)
        found = (entry[0], entry[1]) if entry is not None else None
        if found is None:
            environ[member_pages.KEY] = key  # Flask renders it: no need to read the versions again
            product_id = member_pages.product_of(key[1])
            stamp = key[member_pages.STAMP_AT]
            if product_id is None or stamp is None or key[2] or key[0]:
                return None
            found = self._product_page(pages.entry(member_pages.shell_key(key)), key[1], stamp, product_id)
        if found is None or session is None or not session.get("_flashes"):
            return found
        return self._with_flashes(found, session)

    def _with_flashes(self, found: tuple[bytes, tuple], session: dict) -> tuple[bytes, tuple]:
        """The page with the session's flashed messages in it (as base.html shows them, once), and the session
        without them saved by Flask's own session interface (its cookie, with Flask's attributes)."""
        body, headers = found
        body = member_pages.with_flashes(body, session["_flashes"])
        left = SecureCookieSession({name: value for name, value in session.items() if name != "_flashes"})
        left.modified = left.accessed = True
        response = Response()
        self.app.session_interface.save_session(self.app, left, response)
        return body, (*headers, *(("Set-Cookie", cookie) for cookie in response.headers.getlist("Set-Cookie")))

    def _product_page(self, shell: tuple | None, path: str, stamp: tuple,
                      product_id: int) -> tuple[bytes, tuple] | None:
        """A product page the member (or visitor) has not seen, from their product pages' shell and the product's
        shared part under its stamp (as Flask would put them together: catalog.views.product), rendered by
        anyone since the product last changed, or ahead of everyone by the worker (catalog.prerender)."""
        if shell is None:
            return None
        body, headers, rendered_with = shell  # the key of the shared part the shell was rendered around
        _kind, _version, locale, (_product, _id, ordering_for), logged_in = rendered_with
        key = cache.fragment_key(stamp, locale, ("product", product_id, ordering_for), logged_in)
        fragment = cache.fragment_of(self.app, key)
        if fragment is None:
            return None
        page = member_pages.product_page(body.decode(), fragment.decode(), path + "?")
        return page.encode(), headers

    def _session(self, cookies: Mapping) -> dict | None:
        """The session of a valid cookie of this app (read only). A cookie verified once is remembered with the time
        it was signed: the same value is the same session, until it is older than the sessions' lifetime."""
        app = self.app
        interface = app.session_interface
        if type(interface) is not SecureCookieSessionInterface or not app.secret_key:
            return None
        value = cookies.get(interface.get_cookie_name(app))
        if not value:
            return None
        if self._serializer is None or self._serializer[0] != app.secret_key:
            self._serializer, self._verified = (app.secret_key, interface.get_signing_serializer(app)), {}
        max_age = app.permanent_session_lifetime.total_seconds()
        known = self._verified.get(value)
        if known is None:
            try:
                data, signed = self._serializer[1].loads(value, max_age=int(max_age), return_timestamp=True)
            except BadSignature:
                return None
            if not isinstance(data, dict):
                return None
            if len(self._verified) >= MAX_VERIFIED:
                self._verified.clear()
            known = self._verified[value] = (data, signed.timestamp())
        return known[0] if time.time() - known[1] <= max_age else None
