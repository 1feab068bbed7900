"""Product pages rendered ahead of their visitors, by the worker.

A product page's shared part (`catalog/_product.html`) is kept under the product's stamp (product_stamps) for
`PRODUCT_PAGE_TTL_S`, in Redis for every web worker. The beat runs `prerender_product_pages` every
`PRERENDER_INTERVAL_S`: for each product on sale, in each shipped language, for a visitor, for a member ordering
for no distribution and for a member ordering for each open distribution, it renders the part that is missing
(never rendered since the product last changed) or about to expire, exactly as the view would (`render_part`),
and offers it to the web workers. A member opening a product nobody opened then gets it from the front door
(catalog/front_door.py) like a page they had seen, without Flask or SQL.

It reads many products at once (their producers and variants in three statements, each distribution's terms in
one), stops at its deadline and leaves the rest to the next run, and renders nothing already there: running it
twice, or from two beats, renders each part once (or twice, harmlessly: the same bytes under the same key).
"""
from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from flask import Flask, render_template
from flask_babel import force_locale
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from marketplace.catalog import cache, product_stamps, variants
from marketplace.catalog.models import Product, ProductStatus
from marketplace.extensions import db

CHUNK = 200


def render_part(product: Product, ordering_for: int | None, logged_in: bool,
                sold: list[variants.SaleTerms] | None = None) -> str:
    """The product page's shared part (no name, no token): `sold` its terms at `ordering_for` when already read."""
    return render_template("catalog/_product.html", product=product, ordering_for=ordering_for,
                           logged_in=logged_in, sold_terms=sold)


@dataclass
class PrerenderRun:
    products: int = 0        # products looked at
    rendered: int = 0        # parts rendered and offered
    present: int = 0         # parts already there and fresh enough
    finished: bool = True    # False: the deadline came first; the next run goes on
    seconds: float = 0.0


def _views(app: Flask) -> list[tuple[str, int | None, bool]]:
    """(locale, distribution ordered for, logged in) of every page a product has: a visitor's, a member's."""
    from marketplace.distributions.services import open_distributions

    orders_for: list[int | None] = [None, *(d.id for d in open_distributions())]
    return [(locale, ordering_for, logged_in) for locale in app.config["LANGUAGES"]
            for ordering_for, logged_in in [(None, False), *((d, True) for d in orders_for)]]


def _on_sale_ids(product_ids: Sequence[int] | None) -> Iterator[list[int]]:
    query = (select(Product.id).where(Product.status == ProductStatus.ACTIVE, Product.hidden_reason.is_(None))
             .order_by(Product.id))
    if product_ids is not None:
        query = query.where(Product.id.in_(sorted(set(product_ids))))
    ids = list(db.session.scalars(query))
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]


def _missing(app: Flask, client, chunk: list[int], views: list, refresh_ms: float
             ) -> tuple[dict[int, list[tuple]], int]:
    """{product id: [(view, key)] to render} and how many parts are there and fresh enough."""
    stamps = product_stamps.stamps(app, chunk)
    if stamps is None:
        return {}, 0
    wanted = [(product_id, view, cache.fragment_key(stamps[product_id], view[0], ("product", product_id, view[1]),
                                                     view[2]))
              for product_id in chunk for view in views]
    pipe = client.pipeline(transaction=False)
    for _product_id, _view, key in wanted:
        pipe.pttl(cache.shared_name(key))
    left = pipe.execute()
    todo: dict[int, list[tuple]] = {}
    present = 0
    for (product_id, view, key), ms in zip(wanted, left, strict=True):
        if ms == -2 or 0 <= ms < refresh_ms:
            todo.setdefault(product_id, []).append((view, key))
        else:
            present += 1
    return todo, present


def prerender_product_pages(app: Flask, product_ids: Sequence[int] | None = None,
                            deadline_s: float | None = None) -> PrerenderRun:
    """Render the product pages' shared parts missing or about to expire (all products on sale, or these), until
    the deadline. Needs Redis (the parts are for the web workers); without it there is nothing to do."""
    run = PrerenderRun()
    started = time.monotonic()
    client = cache.redis_of(app)
    if client is None:
        return run
    interval = float(app.config.get("PRERENDER_INTERVAL_S", 120))
    refresh_ms = min(2 * interval, cache.product_ttl(app) / 2) * 1000
    views = _views(app)
    for chunk in _on_sale_ids(product_ids):
        if deadline_s is not None and time.monotonic() - started > deadline_s:
            run.finished = False
            break
        run.products += len(chunk)
        todo, present = _missing(app, client, chunk, views, refresh_ms)
        run.present += present
        if todo:
            run.rendered += _render(app, todo)
        db.session.rollback()  # a fresh snapshot and an empty session for the next chunk
    run.seconds = time.monotonic() - started
    return run


def _render(app: Flask, todo: dict[int, list[tuple]]) -> int:
    products = db.session.scalars(
        select(Product).where(Product.id.in_(sorted(todo)))
        .options(joinedload(Product.producer), selectinload(Product.variants))).unique().all()
    on_sale = [p for p in products if p.is_available]
    wanted_at = {view[1] for views in todo.values() for view, _key in views}
    terms = {ordering_for: variants.product_sale_terms(ordering_for, on_sale) for ordering_for in wanted_at}
    parts: list[tuple[tuple, bytes]] = []
    for product in on_sale:
        by_locale: dict[str, list[tuple]] = {}
        for view, key in todo[product.id]:
            by_locale.setdefault(view[0], []).append((view, key))
        for locale, views in by_locale.items():  # the page's own address and language, as the view has them
            with app.test_request_context(f"/products/{product.id}", headers={"Accept-Language": locale}), \
                    force_locale(locale):
                for (_locale, ordering_for, logged_in), key in views:
                    html = render_part(product, ordering_for, logged_in, terms[ordering_for][product.id])
                    parts.append((key, html.encode()))
    cache.offer_fragments(app, parts)  # to the web workers only: this process serves no page
    return len(parts)
