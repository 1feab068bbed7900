"""The JSON API for producers' tools (bearer tokens), its OpenAPI document, and the token pages."""
from __future__ import annotations

import hashlib
from functools import wraps

from flask import Blueprint, current_app, g, jsonify, render_template, request, url_for
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required

from marketplace.api import services
from marketplace.api.openapi import openapi_document
from marketplace.catalog import services as catalog
from marketplace.catalog.models import Unit
from marketplace.core.errors import ServiceError
from marketplace.extensions import csrf, db, limiter
from marketplace.members.models import College
from marketplace.members.services import require_active_member
from marketplace.web import act, json_object, perform, request_int

bp = Blueprint("api", __name__)


def bearer_token() -> str | None:
    """The token of `Authorization: Bearer <token>`, stripped: spacing never makes a new token."""
    header = request.headers.get("Authorization", "").strip()
    if header[:7].lower() != "bearer ":
        return None
    return header[7:].strip() or None


def _rate_key() -> str:
    token = bearer_token()
    if token:
        return "tok:" + hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:32]
    return "ip:" + (get_remote_address() or "")


def _limit() -> str:
    return current_app.config["API_RATE_LIMIT"]


def token_api(view):
    """A token-authenticated JSON endpoint: no session, no CSRF (no cookie is trusted), rate-limited."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        try:
            g.api_user = services.authenticate_token(bearer_token(), request.remote_addr or "")
        except ServiceError:
            db.session.commit()  # the refused attempt stays recorded (auth_failures)
            raise
        return perform(view, *args, **kwargs)

    limited = limiter.limit(_limit, key_func=_rate_key)(wrapper)
    csrf.exempt(limited)
    return limited


def _json_body() -> dict:
    if not request.is_json:
        raise ServiceError(_("Send a JSON object (Content-Type: application/json)."))
    return json_object(request.get_data())


# field -> (accepted types, nullable)
PRODUCT_FIELDS = {
    "name": ((str,), False), "category_id": ((int,), False), "unit": ((str,), False),
    "price_cents": ((int,), False), "vat_rate_bp": ((int,), False), "description": ((str,), False),
    "stock": ((int,), True), "is_weight_priced": ((bool,), False), "estimated_weight_g": ((int,), True),
    "active": ((bool,), False),
}
REQUIRED_ON_CREATE = ("name", "category_id", "unit", "price_cents")


def _product_fields(body: dict, required: tuple[str, ...] = ()) -> dict:
    unknown = sorted(set(body) - set(PRODUCT_FIELDS))
    if unknown:
        raise ServiceError(_("Unknown field(s): %(names)s.", names=", ".join(unknown)[:200]))
    for name in required:
        if name not in body:
            raise ServiceError(_("%(name)s is required.", name=name), name)
    values: dict[str, object] = {}
    for name, value in body.items():
        types, nullable = PRODUCT_FIELDS[name]
        if value is None and nullable:
            values[name] = None
            continue
        # JSON true is not a number, and 3.0 is not an integer count of cents.
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            raise ServiceError(_("%(name)s has the wrong type.", name=name), name)
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2_000_000_000:
            raise ServiceError(_("%(name)s is out of range.", name=name), name)
        if isinstance(value, str) and "\x00" in value:  # PostgreSQL refuses it in text
            raise ServiceError(_("%(name)s contains a NUL character.", name=name), name)
        values[name] = value
    if "unit" in values:
        try:
            values["unit"] = Unit(values["unit"])
        except ValueError:
            raise ServiceError(_("unit must be one of: %(units)s.", units=", ".join(u.value for u in Unit)),
                               "unit") from None
    return values


def product_json(product) -> dict:
    return {"id": product.id, "name": product.name, "description": product.description,
            "category_id": product.category_id, "unit": product.unit.value, "price_cents": product.price_cents,
            "vat_rate_bp": product.vat_rate_bp, "stock": product.stock, "is_weight_priced": product.is_weight_priced,
            "estimated_weight_g": product.estimated_weight_g, "active": product.status.value == "active",
            "hidden_reason": product.hidden_reason,
            "variants": [{"id": v.id, "label": v.label, "unit": v.unit.value, "price_cents": v.price_cents,
                          "vat_rate_bp": v.vat_rate_bp, "is_weight_priced": v.is_weight_priced,
                          "estimated_weight_g": v.estimated_weight_g, "active": v.active} for v in product.variants],
            "updated_at": product.updated_at.isoformat() + "Z" if product.updated_at else None}


def part_json(part) -> dict:
    order = part.order
    return {"id": part.id, "order_reference": order.reference, "status": part.status.value,
            "distribution_id": order.distribution_id,
            "pickup_starts_at": order.distribution.starts_at.isoformat() + "Z",
            "fulfilment": order.fulfilment.value, "estimated_cents": part.estimated_cents,
            "final_cents": part.final_cents,
            "lines": [{"id": line.id, "product_id": line.product_id, "product_name": line.product_name,
                       "variant_id": line.variant_id, "variant_label": line.variant_label,
                       "unit": line.unit, "quantity": line.quantity, "unit_price_cents": line.unit_price_cents,
                       "status": line.status.value, "is_weight_priced": line.is_weight_priced,
                       "weighed_grams": line.weighed_grams}
                      for line in part.lines]}


def _page_json(items, total, page, per_page, key):
    return jsonify({key: items, "page": page, "per_page": per_page, "total": total})


@bp.route("/api/openapi.json")
def openapi():
    return jsonify(openapi_document(current_app.config["PUBLIC_URL"].rstrip("/")))


@bp.route("/api/v1/products", methods=["GET"])
@token_api
def products():
    page, per_page = request_int("page", 1), request_int("per_page", 50)
    rows, total = services.list_products(g.api_user, page, per_page)
    return _page_json([product_json(p) for p in rows], total, page, per_page, "products")


@bp.route("/api/v1/products", methods=["POST"])
@token_api
def create_product():
    values = _product_fields(_json_body(), REQUIRED_ON_CREATE)
    product = catalog.create_product(g.api_user, catalog.ProductInput(**values))
    return jsonify(product_json(product)), 201


@bp.route("/api/v1/products/<int:product_id>", methods=["GET"])
@token_api
def product(product_id: int):
    return jsonify(product_json(catalog.own_product(g.api_user, product_id)))


@bp.route("/api/v1/products/<int:product_id>", methods=["PATCH"])
@token_api
def update_product(product_id: int):
    catalog.own_product(g.api_user, product_id)  # 404 before 400 for another producer's product
    values = _product_fields(_json_body())
    return jsonify(product_json(services.update_product(g.api_user, product_id, values)))


@bp.route("/api/v1/products/<int:product_id>/stock", methods=["PUT"])
@token_api
def set_stock(product_id: int):
    catalog.own_product(g.api_user, product_id)
    body = _json_body()
    if set(body) != {"stock"}:
        raise ServiceError(_("Send exactly {\"stock\": <whole number or null>}."), "stock")
    stock = body["stock"]
    if stock is not None and (not isinstance(stock, int) or isinstance(stock, bool)):
        raise ServiceError(_("stock must be a whole number or null."), "stock")
    if stock is not None and abs(stock) > 2_000_000_000:
        raise ServiceError(_("stock is out of range."), "stock")
    return jsonify(product_json(catalog.set_stock(g.api_user, product_id, stock)))


@bp.route("/api/v1/order-parts", methods=["GET"])
@token_api
def order_parts():
    from marketplace.orders.states import PartStatus

    page, per_page = request_int("page", 1), request_int("per_page", 50)
    status = request.args.get("status") or None
    if status is not None and status not in {s.value for s in PartStatus}:
        raise ServiceError(_("Unknown status."), "status")
    rows, total = services.list_order_parts(g.api_user, page, per_page, status)
    return _page_json([part_json(p) for p in rows], total, page, per_page, "order_parts")


# ---------------------------------------------------------------- offers per distribution

def offers_json(sheet) -> dict:
    return {"distribution_id": sheet.distribution.id, "offers_set": sheet.offers_set,
            "offers": [{"variant_id": row.variant.id, "product_id": row.variant.product_id,
                        "label": row.variant.label, "unit": row.variant.unit.value,
                        "usual_price_cents": row.variant.price_cents,
                        "offered": row.offer is not None,
                        "quantity": row.offer.quantity if row.offer else None,
                        "reserved": row.offer.reserved if row.offer else 0,
                        "price_cents": row.offer.price_cents if row.offer else None} for row in sheet.rows]}


def _offer_items(body: dict) -> list:
    """{"offers": [{"variant_id": int, "quantity": int|null, "price_cents": int|null}, ...]}, checked."""
    from marketplace.offers.services import OfferInput

    if set(body) != {"offers"} or not isinstance(body["offers"], list) or len(body["offers"]) > 1000:
        raise ServiceError(_("Send {\"offers\": [{\"variant_id\": ..., \"quantity\": ..., \"price_cents\": ...}]}."),
                           "offers")
    items = []
    for entry in body["offers"]:
        if not isinstance(entry, dict) or not {"variant_id"} <= set(entry) <= {"variant_id", "quantity", "price_cents"}:
            raise ServiceError(_("Each offer has variant_id, and optionally quantity and price_cents."), "offers")
        values = [entry.get(name) for name in ("variant_id", "quantity", "price_cents")]
        for name, value in zip(("variant_id", "quantity", "price_cents"), values, strict=True):
            if value is None and name != "variant_id":
                continue
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 2_000_000_000:
                raise ServiceError(_("%(name)s must be a whole number.", name=name), name)
        items.append(OfferInput(*values))
    return items


@bp.route("/api/v1/distributions/<int:distribution_id>/offers", methods=["GET"])
@token_api
def offers(distribution_id: int):
    from marketplace.offers.services import producer_offer_sheet

    return jsonify(offers_json(producer_offer_sheet(g.api_user, distribution_id)))


@bp.route("/api/v1/distributions/<int:distribution_id>/offers", methods=["PUT"])
@token_api
def set_offers(distribution_id: int):
    from marketplace.offers.services import producer_offer_sheet
    from marketplace.offers.services import set_offers as save

    producer_offer_sheet(g.api_user, distribution_id)  # 404 before 400 for a distribution not theirs
    save(g.api_user, distribution_id, _offer_items(_json_body()))
    return jsonify(offers_json(producer_offer_sheet(g.api_user, distribution_id)))


# ---------------------------------------------------------------- token management (web, session + CSRF)

@bp.route("/account/api-tokens", methods=["GET"])
@login_required
def tokens():
    require_active_member(current_user, College.PRODUCER)
    return render_template("api/tokens.html", tokens=services.tokens_of(current_user), new_token=None)


@bp.route("/account/api-tokens", methods=["POST"])
@login_required
def new_token():
    _token, clear = perform(services.create_token, current_user, request.form.get("name", ""),
                            back=url_for("api.tokens"))
    # Shown once, on this response only; the database keeps its SHA-256 digest.
    return render_template("api/tokens.html", tokens=services.tokens_of(current_user), new_token=clear)


@bp.route("/account/api-tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke(token_id: int):
    return act(services.revoke_token, current_user, token_id, success=_("Token revoked."), back=url_for("api.tokens"))


