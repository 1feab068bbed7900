"""Whole catalogue pages for a logged-in member, served before Flask-Login, the database or a template is touched.

A member's catalogue page (`/products` with any filter or search) and product page are the same on every
request as long as nothing they show changed: the catalogue (its version, `cache.version`), the coop's
settings (name, logo, colours), the member themself (name, language, roles, membership) and the session
(the CSRF token derived from it, the language chosen in it). So the first rendering of such a page for one
session is kept in this process, under a key made of all of those, and the next GET of it is answered by a
`before_request` hook placed first, with one Redis round trip (the versions) and no SQL:

- the session must name the member (`_user_id`, which holds their session secret) and pass Flask-Login's
  session protection unchanged; the page was stored only after Flask-Login
  had loaded that very member from the database through that cookie value;
- every commit that changes a user, a membership or a cart (the catalogue links to the distribution it orders
  for) bumps that member's version (`member:<id>:version`),
  and a change of coop settings, or a bulk UPDATE/DELETE of users or memberships (which names no row),
  bumps the site's version (`site:version`): logging out, a new password, a suspension or an erasure
  therefore make the next request miss, reach Flask-Login, and find the session ended;
- the key holds the session's own CSRF secret and user id, so no page is ever shared between two
  sessions, let alone two members; stock shown on a catalogue page is at most `cache.TTL_SECONDS` old, as on the
  anonymous pages, and on a product page it is exact (the key holds the product's stamp, `product_stamps`);
- pages are kept without their flashed messages (base.html marks where they go); a message flashed to the
  session (after adding to the cart, say) is taken out of it and put in the stored page, once, as
  `get_flashed_messages` would.

A visitor without a session or remember-me cookie gets the page kept for every such visitor with the same
`Accept-Language` (no user, no token; the catalogue and site versions), kept only when its rendering started no
session.

Pages live in each worker's memory, in an LRU bounded in bytes (MEMBER_PAGE_CACHE_BYTES). Without Redis
(development, tests) the versions are per process, like the catalogue's.
"""
from __future__ import annotations

import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

from flask import Flask, Response, current_app, g, request, session
from markupsafe import escape
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from marketplace.catalog import cache, product_stamps
from marketplace.core.commit_notes import CommitNotes, changed_objects
from marketplace.headers import has_login_cookie

ENDPOINTS = frozenset({"catalog.browse", "catalog.product"})
SITE_KEY = "site:version"
SITE_TABLES = frozenset({"users", "memberships", "settings"})  # a bulk statement on these bumps the site's version
MAX_HEADER = 200
DEFAULT_BYTES = 32 * 1024 * 1024
FLASHES, FLASHES_END = b"<!--flashes-->", b"<!--/flashes-->"  # base.html's markers around the flashed messages

NO_VERSIONS = "coop.member_page_versions_failed"  # WSGI environ: front_door found Redis not answering
KEY = "coop.member_page_key"  # WSGI environ: the key front_door computed for a page it does not have
KEPT = "coop.member_pages"  # WSGI environ: [(key, body, extra)] to keep once the headers are known (front_door)

# Where request_key puts the versions in its key.
CATALOG_AT, SITE_AT, MEMBER_AT, STAMP_AT = 7, 8, 9, 10
PRODUCT_PATH = re.compile(r"/products/([1-9][0-9]{0,9})")

_lock = threading.Lock()


def member_key(user_id: int) -> str:
    return f"member:{user_id}:version"


class _Pages:
    """One app's member pages (an LRU bounded in bytes) and, without Redis, its local versions. A page is kept
    with the headers it was sent with (front_door answers with them)."""

    def __init__(self, budget: int):
        self.entries: OrderedDict[tuple, tuple[float, bytes, tuple, object]] = OrderedDict()
        self.size = 0
        self.budget = budget
        self.versions: dict[str, int] = {}

    def entry(self, key: tuple) -> tuple[bytes, tuple, object] | None:
        """(body, headers, extra) of a fresh page, now the most recently used; None if there is none."""
        with _lock:
            entry = self.entries.get(key)
            if entry is None or entry[0] < time.monotonic():
                return None
            self.entries.move_to_end(key)
            return entry[1], entry[2], entry[3]

    def get(self, key: tuple) -> bytes | None:
        found = self.entry(key)
        return None if found is None else found[0]

    def put(self, key: tuple, body: bytes, headers: tuple = (), extra: object = None) -> None:
        with _lock:
            old = self.entries.pop(key, None)
            if old is not None:
                self.size -= len(old[1])
            self.entries[key] = (time.monotonic() + cache.TTL_SECONDS, body, headers, extra)
            self.size += len(body)
            while self.size > self.budget and self.entries:
                _key, (_expires, dropped, _headers, _extra) = self.entries.popitem(last=False)
                self.size -= len(dropped)

    def clear(self) -> None:
        with _lock:
            self.entries.clear()
            self.size = 0


def pages_of(app: Flask) -> _Pages:
    pages = app.extensions.get("member_pages")
    if pages is None:
        budget = int(app.config.get("MEMBER_PAGE_CACHE_BYTES", DEFAULT_BYTES))
        pages = app.extensions.setdefault("member_pages", _Pages(budget))
    return pages


def _pages() -> _Pages:
    return pages_of(current_app)


def versions_of(app: Flask, user_id: int, product_id: int | None = None) -> tuple | None:
    """(catalogue, site, member, product's stamp or None) versions in one round trip; None when Redis cannot
    answer. The product's stamp (product_stamps) is read for a product's page."""
    client = cache.redis_of(app)
    if client is None:
        local = pages_of(app).versions
        stamp = None if product_id is None else product_stamps.stamp(app, product_id)
        return cache.state_of(app).version, local.get(SITE_KEY, 0), local.get(member_key(user_id), 0), stamp
    connection = _connection(app, client)
    keys = [cache.VERSION_KEY, SITE_KEY, member_key(user_id)]
    if product_id is not None:
        keys += [product_stamps.GENERATION_KEY, product_stamps.version_key(product_id)]
    try:
        connection.send_command("MGET", *keys)
        values = connection.read_response()
    except Exception:  # Redis down: render the page, as the catalogue's own cache does
        connection.disconnect()
        return None
    except BaseException:  # interrupted between the command and its reply: the next one must not read this reply
        connection.disconnect()
        raise
    stamp = None if product_id is None else product_stamps.stamp_of(app, values[3], values[4])
    if product_id is not None and stamp is None:  # no generation yet (a new or emptied Redis): `stamp` sets one
        stamp = product_stamps.stamp(app, product_id)
    return int(values[0] or 0), int(values[1] or 0), int(values[2] or 0), stamp


def _connection(app: Flask, client):
    """This thread's own connection for the versions (one command, one reply: no pool, no retry; redis-py's client
    costs as much again as the whole of the rest of a stored page's answer). A worker forked with it opens its own."""
    local = app.extensions.setdefault("member_pages_redis", threading.local())
    connection = getattr(local, "connection", None)
    if connection is None or local.pid != os.getpid():
        local.connection, local.pid = client.connection_pool.make_connection(), os.getpid()
    return local.connection


def _versions(user_id: int, product_id: int | None) -> tuple | None:
    if request.environ.get(NO_VERSIONS):  # front_door could not read them a moment ago: no second wait on Redis
        return None
    return versions_of(current_app._get_current_object(), user_id, product_id)


def session_protected(app: Flask, session_: Mapping, identifier: Callable[[], str]) -> bool:
    """Whether Flask-Login would accept this session as it is (its 'basic'/'strong' check of the session's `_id`
    against this request's `identifier()`: Flask-Login's own inside Flask, front_door's copy of it before)."""
    manager = app.login_manager
    mode = app.config.get("SESSION_PROTECTION", manager.session_protection)
    return mode not in ("basic", "strong") or session_.get("_id") == identifier()


def with_flashes(body: bytes, flashes: list) -> bytes:
    """The stored page with these flashed messages where base.html shows them."""
    return body.replace(FLASHES, FLASHES + _flash_html(flashes).encode(), 1)


def is_visitor(app: Flask, cookies: Mapping) -> bool:
    """No session and no remember-me cookie: a visitor, whose pages are every such visitor's (per languages)."""
    return not has_login_cookie(app.config, cookies)


def product_of(path: str) -> int | None:
    """The product whose page this path is, if it is one."""
    found = PRODUCT_PATH.fullmatch(path)
    return None if found is None else int(found.group(1))


def request_key(environ: dict, session_: Mapping | None,
                versions: Callable[[int, int | None], tuple | None]) -> tuple | None:
    """The key of a GET of a page, from the raw WSGI values and the session (the same whether Flask or front_door
    reads it) or None for a visitor (`is_visitor`); None when the session names no member this cache may serve.
    `versions(user_id, product_id)` gives the (catalogue, site, member, product's stamp) versions (the key's last
    four: CATALOG_AT...). The caller checks the method, the endpoint and session protection."""
    query = environ.get("QUERY_STRING", "")
    languages = environ.get("HTTP_ACCEPT_LANGUAGE", "")
    if len(query) > cache.MAX_QUERY or len(languages) > MAX_HEADER:
        return None
    user_ref = csrf = lang = None
    user_id = "0"  # a visitor: no member's version (member:0 is nobody's)
    if session_ is not None:
        user_ref, csrf, lang = session_.get("_user_id"), session_.get("csrf_token"), session_.get("lang")
        if not isinstance(user_ref, str) or not csrf:
            return None
        user_id = user_ref.partition(":")[0]
        if not user_id.isdigit() or len(user_id) > 10:
            return None
    product_id = product_of(environ.get("PATH_INFO", ""))
    found = versions(int(user_id), product_id)
    if found is None or None in found[:3] or (product_id is not None and found[3] is None):
        return None
    # No host: the pages hold relative links only, and an untrusted host is refused before any page is served.
    return (environ.get("SCRIPT_NAME", ""), environ.get("PATH_INFO", ""), query, user_ref, csrf, lang, languages,
            *found)


def _key() -> tuple | None:
    """This request's key, or None when the request is not one this cache may answer or keep."""
    if request.method != "GET" or request.endpoint not in ENDPOINTS:
        return None
    app, environ = current_app._get_current_object(), request.environ
    visitor = is_visitor(app, request.cookies)
    if not visitor and not session_protected(app, session, app.login_manager._session_identifier_generator):
        return None
    key = environ.pop(KEY, None) or request_key(environ, None if visitor else session, _versions)
    if key is not None:  # read once for the rendering, on a miss
        g.catalog_version, g.site_version = key[CATALOG_AT], key[SITE_AT]
        product_id = product_of(key[1])
        if product_id is not None and key[STAMP_AT] is not None:
            g.product_stamp = (product_id, key[STAMP_AT])
    return key


def serve_cached_page() -> Response | None:
    """before_request (first): the member's stored page, if this GET has one; else note the key for `keep`.
    front_door answers most of these before Flask; this serves the rest (a page with a flashed message)."""
    for name in ("member_page_key", "member_page_session", "catalog_version", "site_version",
                 "product_stamp"):  # per request
        g.pop(name, None)
    key = _key()
    if key is None:
        return None
    body = _pages().get(key)
    if body is None:
        g.member_page_key, g.member_page_session = key, _session_state()
        return None
    flashes = session.pop("_flashes", None)
    if flashes:  # shown once, on this page
        body = with_flashes(body, flashes)
    return Response(body, mimetype="text/html")


def _session_state() -> dict:
    """The session as the rendering must leave it for the page to be kept (flashed messages may be consumed)."""
    return {name: value for name, value in session.items() if name != "_flashes"}


def _flash_html(flashes: list) -> str:
    return "".join(
        f'\n      <div class="flash flash-{escape(category)}" role="{"alert" if category == "error" else "status"}">'
        f"{escape(message)}</div>" for category, message in flashes)


def _without_flashes(body: bytes) -> bytes | None:
    """The page with its flashed messages taken out (None if base.html's markers are not there)."""
    start, end = body.find(FLASHES), body.find(FLASHES_END)
    if start < 0 or end < start:
        return None
    return body[:start + len(FLASHES)] + body[end:]


# A member's product pages differ only by the product's shared part and the page's own address: the rest of the
# page (their shell) is kept once, under this path, with these two places marked.
SHELL_PATH = ("product pages' shell",)  # not a string: no PATH_INFO is ever equal to it
BODY, HERE = "<!--product-->", "<!--here-->"


def product_page(shell: str, body: str, here: str) -> str:
    """A product page from its shell, the product's shared part and the page's address (escaped as Jinja does)."""
    return shell.replace(HERE, str(escape(here))).replace(BODY, body, 1)


def note_shell(shell: str, fragment_key: tuple) -> None:
    """The product page being rendered has this shell around the shared part kept under `fragment_key`."""
    g.member_page_shell = (shell, fragment_key)


def shell_key(key: tuple) -> tuple:
    """Where a member's (or visitors') product pages' shell is kept: their page's key without the address and the
    product's stamp."""
    return (key[0], SHELL_PATH, "", *key[3:STAMP_AT])


def keep_page(response: Response) -> Response:
    """after_request: a freshly rendered page rendered for the member the session names is to be kept (with, for a
    product page, its shell); front_door keeps it with the headers it goes out with."""
    key = g.pop("member_page_key", None)
    before = g.pop("member_page_session", None)
    shell = g.pop("member_page_shell", None)
    environ = request.environ
    if key is None or key[:3] != (environ.get("SCRIPT_NAME", ""), environ.get("PATH_INFO", ""),
                                  environ.get("QUERY_STRING", "")):
        return response
    if response.status_code != 200 or response.direct_passthrough or _session_state() != before:
        return response
    from flask_login import current_user

    if key[3] is None:  # a visitor's page: only while they have no session at all (none was started for it)
        if current_user.is_authenticated or session or session.modified:
            return response
    elif not current_user.is_authenticated or current_user.get_id() != key[3] or session.get("_flashes"):
        return response
    body = _without_flashes(response.get_data())
    if body is None:
        return response
    kept = [(key, body, None)]
    shell_body = _without_flashes(shell[0].encode()) if shell is not None else None
    if shell_body is not None:
        kept.append((shell_key(key), shell_body, shell[1]))
    environ[KEPT] = kept
    return response


def clear() -> None:
    _pages().clear()


# ---------------------------------------------------------------- invalidation

def _bump(keys: set[str]) -> None:
    from flask import has_app_context

    if not keys or not has_app_context():
        return
    cache.increment(current_app._get_current_object(), _pages().versions, sorted(keys), "member pages")


def _changed_keys(session_: Session) -> set[str]:
    keys: set[str] = set()
    for obj in changed_objects(session_, ("User", "Membership", "Setting", "Cart")):
        name = type(obj).__name__
        if name == "Cart" and obj in session_.dirty and not inspect(obj).attrs.distribution_id.history.has_changes():
            continue  # items added: the catalogue shows no cart content, only the distribution ordered for
        if name == "Setting":
            keys.add(SITE_KEY)
            continue
        user_id = obj.id if name == "User" else obj.user_id
        keys.add(member_key(user_id) if user_id is not None else SITE_KEY)
    return keys


def _after_flush(session_: Session, _flush_context) -> None:
    keys = _changed_keys(session_)
    if keys:
        _CHANGED.add(session_, keys)


def _on_execute(state) -> None:
    """A bulk UPDATE or DELETE of users, memberships or settings names no row: every member's pages go."""
    if not (state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in SITE_TABLES:
        _CHANGED.add(state.session, [SITE_KEY])


_CHANGED = CommitNotes("member_pages_changed", _bump)


def install() -> None:
    """Bump the versions when a commit changed a member or the settings (marketplace.transaction_hooks calls this)."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "do_orm_execute", _on_execute)
    _CHANGED.install()


def init_app(app: Flask) -> None:
    """Serve before Flask (front_door) and before every other hook (limits, CSRF, Flask-Login); keep after the view.
    Called before any other WSGI middleware wraps the app (ProxyFix): front_door sees the client as Flask does."""
    from marketplace.catalog.front_door import FrontDoor

    app.before_request_funcs.setdefault(None, []).insert(0, serve_cached_page)
    app.after_request(keep_page)
    app.wsgi_app = FrontDoor(app, app.wsgi_app)
