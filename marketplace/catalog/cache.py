"""The catalogue's version, and the shared parts of its pages (the catalogue grid, a product's page).

Whole pages (a member's, or a visitor's without a session) are kept by `member_pages` and answered by
`front_door`, under this version among others. Every page gets its shared part (filters, product grid,
pager; a product's details) from `fragment`: the same for every visitor, no name, no CSRF token, no
flashed message; the key is the catalogue version, the locale, the query string (or a scope such as
the product) and whether the visitor is logged in. Every commit that adds, changes or removes a
product, a producer, a category or a distribution bumps the version, so a product change is visible
on the next request. Stock taken by checkouts (bulk UPDATEs) does not bump it: the "n in stock"
shown on the catalogue's grids is at most TTL_SECONDS old, and checkout re-checks stock under a row lock anyway.

A product's page is keyed instead by the product's own stamp (`product_stamps`), which moves with whatever that
page shows, stock taken included: it is kept for `product_ttl` (PRODUCT_PAGE_TTL_S) and rendered ahead of its
visitors by the worker (`prerender`).

With REDIS_URL set, the version lives in Redis so every gunicorn worker sees a bump at once; the
pages themselves stay in each worker's memory (an LRU bounded in bytes, CATALOG_CACHE_BYTES), and a
shared part one worker renders is offered to the others through Redis for the rest of its
TTL_SECONDS (a product page is rendered once for the shop, not once per worker). Without Redis
(development, tests) the version is per process, and other processes catch up within TTL_SECONDS.
"""
from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from flask import Flask, current_app, g, has_app_context, has_request_context, request
from markupsafe import Markup
from sqlalchemy import event
from sqlalchemy.orm import Session

from marketplace.core.commit_notes import CommitNotes, changed_objects

TTL_SECONDS = 30
DEFAULT_BYTES = 32 * 1024 * 1024  # per worker: the product pages' shared parts of a large catalogue
MAX_QUERY = 300
VERSION_KEY = "catalog:version"
# Offers and variants change what a distribution's catalogue shows; units reserved by checkouts (bulk
# UPDATEs of distribution_offers.reserved) do not bump, like products' stock.
WATCHED = {"Product", "ProducerProfile", "Category", "Distribution", "ProductVariant", "DistributionOffer"}

_lock = threading.Lock()


class _State:
    """One app's pages, shared parts and values (an LRU bounded in bytes, CATALOG_CACHE_BYTES) and local version
    (kept on the app, so two apps in a process never share pages)."""

    def __init__(self, budget: int = DEFAULT_BYTES):
        self.pages: OrderedDict[tuple, tuple[float, bytes | int]] = OrderedDict()
        self.size = 0
        self.budget = budget
        self.version = 0

    def get(self, key: tuple) -> bytes | int | None:
        """A fresh entry, now the most recently used; None if there is none."""
        with _lock:
            entry = self.pages.get(key)
            if entry is None or entry[0] < time.monotonic():
                return None
            self.pages.move_to_end(key)
            return entry[1]

    def put(self, key: tuple, value: bytes | int, ttl: float = TTL_SECONDS) -> None:
        with _lock:
            old = self.pages.pop(key, None)
            if old is not None:
                self.size -= _size(old[1])
            self.pages[key] = (time.monotonic() + ttl, value)
            self.size += _size(value)
            while self.size > self.budget and self.pages:
                _key, (_expires, dropped) = self.pages.popitem(last=False)
                self.size -= _size(dropped)

    def clear(self, keep: Callable[[tuple], bool] | None = None) -> None:
        """Forget every entry, or every one but those `keep` says to keep."""
        with _lock:
            if keep is None:
                self.pages.clear()
                self.size = 0
                return
            for key in [key for key in self.pages if not keep(key)]:
                self.size -= _size(self.pages.pop(key)[1])


def _size(value: bytes | int) -> int:
    return len(value) if isinstance(value, bytes) else 64


def state_of(app: Flask) -> _State:
    state = app.extensions.get("catalog_page_cache")
    if state is None:
        budget = int(app.config.get("CATALOG_CACHE_BYTES", DEFAULT_BYTES))
        state = app.extensions.setdefault("catalog_page_cache", _State(budget))
    return state


def _state() -> _State:
    return state_of(current_app)


def redis_of(app: Flask):
    """The app's Redis client for the versions, or None without REDIS_URL."""
    url = app.config.get("REDIS_URL")
    if not url:
        return None
    client = app.extensions.get("catalog_cache_redis")
    if client is None:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        app.extensions["catalog_cache_redis"] = client
    return client


def _redis():
    return redis_of(current_app)


def increment(app: Flask, local: dict[str, int], keys: list[str], what: str) -> bool:
    """Move these version counters: in this process (`local`, read without Redis) and in Redis, in one round trip.
    False when Redis did not answer (logged)."""
    for key in keys:
        local[key] = local.get(key, 0) + 1
    client = redis_of(app)
    if client is None:
        return True
    try:
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.incr(key)
        pipe.execute()
    except Exception:
        app.logger.warning("%s: could not bump %d versions in Redis", what, len(keys))
        return False
    return True


def version() -> int | None:
    """The current catalogue version; None when it cannot be known (then nothing is cached). Read once per
    request (the member page cache may have read it already, with the other versions)."""
    if has_request_context() and "catalog_version" in g:
        return g.catalog_version
    client = _redis()
    if client is None:
        return _state().version
    try:
        current = int(client.get(VERSION_KEY) or 0)
    except Exception:  # Redis down: serve fresh pages rather than risk stale ones
        return None
    if has_request_context():
        g.catalog_version = current
    return current


def bump() -> None:
    """The catalogue changed: every cached page is out of date."""
    if not has_app_context():  # a script without an app: nothing is cached there
        return
    g.pop("catalog_version", None)
    state = _state()
    with _lock:
        state.version += 1
    state.clear(keep=is_product_key)  # a product page's part is keyed by its own stamp (product_stamps)
    client = _redis()
    if client is not None:
        try:
            client.incr(VERSION_KEY)
        except Exception:
            current_app.logger.warning("catalogue cache: could not bump the version in Redis")


def fragment_key(current: int | tuple, locale: str, scope: tuple | bytes, logged_in: bool) -> tuple:
    """`current`: the catalogue's version, or for a product's page (scope ("product", id, ordering for)) the
    product's stamp (product_stamps)."""
    return ("fragment", current, locale, scope, logged_in)


def is_product_key(key: tuple) -> bool:
    return key[0] == "fragment" and isinstance(key[3], tuple) and key[3][0] == "product"


def product_ttl(app: Flask) -> float:
    """How long a product page's shared part is kept: until the product changes (its stamp), at most this. Without
    Redis each process moves only its own stamps, so another's change shows after TTL_SECONDS, as before."""
    if redis_of(app) is None:
        return TTL_SECONDS
    return float(app.config.get("PRODUCT_PAGE_TTL_S", 3600))


def _ttl(app: Flask, key: tuple) -> float:
    return product_ttl(app) if is_product_key(key) else TTL_SECONDS


def _product_stamp(product_id: int) -> tuple | None:
    """The product's stamp, read once per request (member_pages reads it with the page's versions)."""
    from marketplace.catalog import product_stamps

    in_request = has_request_context()
    known = g.get("product_stamp") if in_request else None
    if known is not None and known[0] == product_id:
        return known[1]
    found = product_stamps.stamp(current_app._get_current_object(), product_id)
    if in_request and found is not None:
        g.product_stamp = (product_id, found)
    return found


def current_fragment_key(scope: tuple | None) -> tuple | None:
    """This request's key for the shared part of its page (or of `scope`); None when it is not to be kept."""
    if scope is None and len(request.query_string) > MAX_QUERY:
        return None
    product = scope is not None and scope[0] == "product"
    current = _product_stamp(scope[1]) if product else version()
    if current is None:
        return None
    if product and request.script_root:  # the worker renders for the root (prerender): not for this prefix
        scope = (*scope, request.script_root)
    from flask_babel import get_locale
    from flask_login import current_user

    return fragment_key(current, str(get_locale()), request.query_string if scope is None else scope,
                        bool(current_user.is_authenticated))


def fragment_of(app: Flask, key: tuple) -> bytes | None:
    """The kept shared part under this key, if fresh: this worker's, else one another worker rendered (Redis)."""
    state = state_of(app)
    found = state.get(key)
    if isinstance(found, bytes):
        return found
    life = _ttl(app, key)
    client = redis_of(app)
    if client is None:
        return None
    try:
        shared = client.get(shared_name(key))
    except Exception:  # Redis down: render it here
        return None
    if not shared:
        return None
    rendered_at, _newline, html = shared.partition(b"\n")
    # Kept here no longer than where it was rendered (and never longer than its life, whatever the clocks say).
    left = min(life, life - (time.time() - float(rendered_at)))
    if left <= 0:
        return None
    state.put(key, html, ttl=left)
    return html


def keep_fragment(app: Flask, key: tuple, html: bytes) -> None:
    """Keep a shared part just rendered, here and for the other workers, for its life (TTL_SECONDS, or a
    product's `product_ttl`)."""
    state_of(app).put(key, html, ttl=_ttl(app, key))
    offer_fragments(app, [(key, html)])


def offer_fragments(app: Flask, parts: list[tuple[tuple, bytes]]) -> None:
    """Offer shared parts to every worker through Redis, for their life, in one round trip."""
    client = redis_of(app)
    if client is None or not parts:
        return
    now = f"{time.time():.3f}\n".encode()
    try:
        pipe = client.pipeline(transaction=False)
        for key, html in parts:
            pipe.set(shared_name(key), now + html, ex=int(_ttl(app, key)))
        pipe.execute()
    except Exception:
        app.logger.warning("catalogue cache: could not share %d fragments in Redis", len(parts))


def shared_name(key: tuple) -> str:
    # The key holds the catalogue version: a bump leaves the old entries unread until they expire.
    return "catalog:fragment:" + hashlib.sha1(repr(key).encode(), usedforsecurity=False).hexdigest()


def fragment(render: Callable[[], str], scope: tuple | None = None) -> Markup:
    """The catalogue's shared part (filters, product grid, pager) for this query, or with `scope` (e.g.
    ("product", id)) the shared part of that page, rendered once per version.

    What it holds is the same for every member: no name, no cart, no CSRF token (the cards' buttons
    submit one form that the page renders outside the fragment, with the member's token). The key
    is the catalogue version, the locale, the query string (or the scope) and whether the visitor is
    logged in. A rendering that raises (a 404) is not kept.
    """
    key = current_fragment_key(scope)
    app = current_app._get_current_object()
    if key is not None:
        kept = fragment_of(app, key)
        if kept is not None:
            return Markup(kept.decode())
    html = render()
    if key is not None:
        keep_fragment(app, key, html.encode())
    return Markup(html)


def remembered(name: tuple, compute: Callable[[], int]) -> int:
    """A value every visitor shares (the number of products a filter matches), kept like the pages:
    under the catalogue version, for TTL_SECONDS, in the same bounded LRU."""
    current = version()
    if current is None:
        return compute()
    key = ("value", current, name)
    kept = _state().get(key)
    if isinstance(kept, int):
        return kept
    value = compute()
    _state().put(key, value)
    return value


def clear() -> None:
    _state().clear()


# ---------------------------------------------------------------- invalidation

def _after_flush(session_: Session, _flush_context) -> None:
    if next(changed_objects(session_, WATCHED), None) is not None:
        _CHANGED.add(session_, [True])


_CHANGED = CommitNotes("catalog_changed", lambda _noted: bump())


def install() -> None:
    """Bump the catalogue's cache version when a commit changed it (marketplace.transaction_hooks calls this)."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
    _CHANGED.install()
