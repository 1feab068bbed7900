"""Each product page's own version: a product's shared part is kept until *that product* changes.

The catalogue's version (`cache.version`) moves on any change anywhere in the catalogue; a product's page showed
it in its key, so one producer editing one product sent every product page of the shop back to be rendered, and
those pages could only live `cache.TTL_SECONDS`, the time "n left" may lag behind checkouts. A product page's
shared part (`catalog/_product.html`) is keyed instead by its **stamp**: `(release, generation, version)`:

- `version`, per product (`catalog:product:<id>:version` in Redis), moves after every commit that changed what
  that page shows: the product, its variants, its producer, its producer taking part in a distribution or
  declaring offers there, an offer of one of its variants (`_after_flush`), and the stock or offer units taken
  or given back by checkouts and order changes (`note_products`, called by orders.services.stock, whose bulk
  UPDATEs name their products);
- `generation` (`catalog:products:generation`) moves when a bulk UPDATE or DELETE on those tables names no
  product (`_on_execute`): every product page goes;
- `release` is a digest of what renders the page (its template, the compiled translations, the application's
  code), so a deployment never serves pages rendered by the code before it.

Stock shown on a product page is therefore exact (its version moves with the checkout that took it), and the
page's shared part can be kept long (`PRODUCT_PAGE_TTL_S`) and rendered ahead of any visitor by the worker
(`catalog.prerender`). Without Redis (development, tests) the versions are per process.
"""
from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path

from flask import Flask, current_app, has_app_context
from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session, scoped_session

from marketplace.catalog import cache
from marketplace.core.commit_notes import CommitNotes, changed_objects

GENERATION_KEY = "catalog:products:generation"
MISSED = "catalog_product_bump_missed"  # app.extensions: a bump Redis did not take (the next one moves them all)
# Tables whose rows a product page shows (through the product, its variants, producer, offers, distributions).
WATCHED_TABLES = frozenset({"products", "product_variants", "distribution_offers", "producer_profiles",
                            "distribution_producers"})
# The mapped classes whose changes `_noted` turns into products.
NOTED_CLASSES = frozenset({"Product", "ProductVariant", "DistributionOffer", "ProducerProfile", "Distribution"})
TEMPLATE = "catalog/_product.html"
RENDERING_SETTINGS = frozenset({"COOP_CURRENCY", "LANGUAGES", "BABEL_DEFAULT_LOCALE", "APPLICATION_ROOT"})
RENDERING_PACKAGES = ("flask", "jinja2", "markupsafe", "babel", "flask-babel", "werkzeug")


def version_key(product_id: int) -> str:
    return f"catalog:product:{product_id}:version"


def _local(app: Flask) -> dict[str, int]:
    return app.extensions.setdefault("catalog_product_versions", {})


def release(app: Flask) -> str:
    """A digest of what renders a product page: its template, the settings and libraries it depends on, the shipped
    translations and the application's code (once per process: about 2 MB read at the first product page)."""
    found = app.extensions.get("catalog_product_release")
    if found is None:
        digest = hashlib.sha1(usedforsecurity=False)
        digest.update(app.jinja_env.loader.get_source(app.jinja_env, TEMPLATE)[0].encode())
        digest.update(repr(sorted((name, str(value)) for name, value in app.config.items()
                                  if name in RENDERING_SETTINGS)).encode())
        for package in RENDERING_PACKAGES:
            try:
                digest.update(f"{package} {package_version(package)}".encode())
            except PackageNotFoundError:
                pass
        code = Path(app.root_path)
        for path in (*sorted(code.rglob("*.py")), *sorted((code.parent / "translations").glob("*/LC_MESSAGES/*.mo"))):
            digest.update(path.read_bytes())
        found = app.extensions["catalog_product_release"] = digest.hexdigest()[:12]
    return found


def stamps(app: Flask, product_ids: Iterable[int]) -> dict[int, tuple] | None:
    """{product id: its stamp}, in one round trip; None when Redis cannot answer (then nothing is kept)."""
    ids = list(product_ids)
    client = cache.redis_of(app)
    if client is None:
        local = _local(app)
        values = [local.get(GENERATION_KEY, 0), *(local.get(version_key(i), 0) for i in ids)]
    else:
        keys = [GENERATION_KEY, *(version_key(i) for i in ids)]
        try:
            read = client.mget(keys)
            if read[0] is None:  # a new (or emptied) Redis: a generation no part kept anywhere was rendered under
                client.set(GENERATION_KEY, secrets.randbelow(2**62), nx=True)
                read = client.mget(keys)
        except Exception:
            return None
        values = [int(v or 0) for v in read]
    head = (release(app), values[0])
    return {product_id: (*head, value) for product_id, value in zip(ids, values[1:], strict=True)}


def stamp(app: Flask, product_id: int) -> tuple | None:
    found = stamps(app, [product_id])
    return None if found is None else found[product_id]


def stamp_of(app: Flask, generation: bytes | int | None, version: bytes | int | None) -> tuple | None:
    """A stamp from the two values read with other keys (member_pages reads them with the page's versions); None
    before the generation is set (`stamps` sets it)."""
    if generation is None:
        return None
    return release(app), int(generation), int(version or 0)


# ---------------------------------------------------------------- what changed

def note_products(session: Session | scoped_session, product_ids: Iterable[int]) -> None:
    """These products' pages change with this transaction (stock or offer units taken or given back)."""
    _CHANGED.add(_real(session), (("product", int(i)) for i in product_ids))


def note_producers(session: Session | scoped_session, producer_ids: Iterable[int]) -> None:
    """Every product page of these producers changes with this transaction."""
    _CHANGED.add(_real(session), (("producer", int(i)) for i in producer_ids))


def _real(session: Session | scoped_session) -> Session:
    return session() if isinstance(session, scoped_session) else session


def _noted(obj) -> list[tuple]:
    name = type(obj).__name__
    if name == "Product":
        return [("product", obj.id)]
    if name == "ProductVariant":
        return [("product", obj.product_id)]
    if name == "DistributionOffer":
        return [("variant", obj.variant_id)]
    if name == "ProducerProfile":
        return [("producer", obj.id)]
    if name == "Distribution":  # producers taking part (the link table) changed with it
        history = inspect(obj).attrs.producers.history
        return [("producer", p.id) for p in (*history.added, *history.deleted)]
    return []


def _after_flush(session_: Session, _flush_context) -> None:
    noted = [note for obj in changed_objects(session_, NOTED_CLASSES) for note in _noted(obj)]
    if noted:
        _CHANGED.add(session_, noted)


def _on_execute(state) -> None:
    """A bulk UPDATE or DELETE on the tables a product page shows: the products it names if it says so
    (`execution_options(catalog_products=ids)` or `catalog_producers=ids`; `catalog_noted=True`: its caller
    called `note_products`), else every product page."""
    if not (state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) not in WATCHED_TABLES:
        return
    options = state.execution_options
    if options.get("catalog_noted"):  # its caller noted the products (orders.services.stock)
        return
    if "catalog_products" in options:
        note_products(state.session, options["catalog_products"])
    elif "catalog_producers" in options:
        note_producers(state.session, options["catalog_producers"])
    else:
        _CHANGED.add(state.session, [("all",)])


def _product_ids(noted: set) -> tuple[set[int], bool]:
    """The products behind the notes (variants and producers looked up in one statement each), and whether every
    product page changed."""
    from marketplace.catalog.models import Product, ProductVariant
    from marketplace.extensions import db

    by_kind: dict[str, set[int]] = {"product": set(), "variant": set(), "producer": set()}
    for note in noted:
        if note[0] in by_kind and note[1] is not None:
            by_kind[note[0]].add(note[1])
    products, variants, producers = by_kind["product"], by_kind["variant"], by_kind["producer"]
    if variants or producers:
        with db.engine.connect() as connection:
            if variants:
                products.update(connection.scalars(select(ProductVariant.product_id)
                                                   .where(ProductVariant.id.in_(sorted(variants)))))
            if producers:
                products.update(connection.scalars(select(Product.id)
                                                   .where(Product.producer_id.in_(sorted(producers)))))
    return products, ("all",) in noted


def _bump(noted: set) -> None:
    """After the commit: move the stamps of the products noted. When they cannot be known, or a bump was lost
    (Redis did not answer), every product page goes, at the next bump that reaches Redis."""
    if not has_app_context():
        return
    app = current_app._get_current_object()
    try:
        products, everything = _product_ids(noted)
    except Exception:
        app.logger.exception("product pages: could not tell which products changed; all of them go")
        products, everything = set(), True
    everything = everything or app.extensions.pop(MISSED, False)
    keys = sorted(version_key(p) for p in products) + ([GENERATION_KEY] if everything else [])
    if keys and not cache.increment(app, _local(app), keys, "product pages"):
        app.extensions[MISSED] = True


_CHANGED = CommitNotes("catalog_products_changed", _bump)


def install() -> None:
    """Bump the products' versions when a commit changed their pages (marketplace.transaction_hooks calls this)."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "do_orm_execute", _on_execute)
    _CHANGED.install()
