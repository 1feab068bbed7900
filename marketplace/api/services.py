"""Producers' API tokens and the API's use cases (the same catalogue services as the web pages)."""
from __future__ import annotations

import hashlib
import secrets

from flask_babel import gettext as _

from marketplace.api.models import ApiToken
from marketplace.audit.services import record
from marketplace.catalog import services as catalog
from marketplace.catalog.models import Product
from marketplace.core.errors import NotFound, ServiceError
from marketplace.extensions import db
from marketplace.members import throttling
from marketplace.members.models import AttemptKind, College, User
from marketplace.members.services import require_active_member
from marketplace.orders.models import Order, OrderPart
from marketplace.timeutil import utcnow

TOKEN_PREFIX = "coop_"
MAX_TOKENS = 20
MAX_PAGE_SIZE = 100


class Unauthenticated(ServiceError):
    status_code = 401


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(user: User, name: str) -> tuple[ApiToken, str]:
    """A new token for a producer's tool; the clear token is returned once and never stored."""
    require_active_member(user, College.PRODUCER)
    name = (name or "").strip()[:80]
    if not name:
        raise ServiceError(_("Name the tool that will use this token."), "name")
    active = db.session.query(ApiToken).filter_by(user_id=user.id, revoked_at=None).count()
    if active >= MAX_TOKENS:
        raise ServiceError(_("Revoke a token first: %(n)d at most.", n=MAX_TOKENS), "name")
    clear = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, token_hash=digest(clear), prefix=clear[:12])
    db.session.add(token)
    db.session.flush()
    record(user, "api.token_created", token, {}, {"name": name, "prefix": token.prefix})
    return token, clear


def tokens_of(user: User) -> list[ApiToken]:
    return db.session.query(ApiToken).filter_by(user_id=user.id).order_by(ApiToken.created_at.desc()).all()


def revoke_token(user: User, token_id: int) -> ApiToken:
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise NotFound(_("No such token."))
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        record(user, "api.token_revoked", token, {"revoked": False}, {"revoked": True})
    return token


def authenticate_token(raw: str | None, client_address: str = "") -> User:
    """The producer a bearer token belongs to; revoked, unknown or disabled accounts are refused.

    Wrong tokens from one address are limited (and recorded) like failed log-ins."""
    throttling.require_allowed(AttemptKind.API_TOKEN, None, client_address)
    if not raw or not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        raise Unauthenticated(_("Send a valid API token: Authorization: Bearer coop_…"))
    token = db.session.query(ApiToken).filter_by(token_hash=digest(raw)).first()
    if token is None or token.revoked_at is not None or not token.user.is_active:
        throttling.record_failure(AttemptKind.API_TOKEN, None, client_address, token.user_id if token else None)
        raise Unauthenticated(_("This API token is not valid or was revoked."))
    now = utcnow()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        token.last_used_at = now
    return token.user


def page_args(page: int, per_page: int) -> tuple[int, int]:
    if page < 1 or page > 100_000:
        raise ServiceError(_("page must be between 1 and 100000."), "page")
    if per_page < 1 or per_page > MAX_PAGE_SIZE:
        raise ServiceError(_("per_page must be between 1 and %(n)d.", n=MAX_PAGE_SIZE), "per_page")
    return page, per_page


def list_products(user: User, page: int, per_page: int) -> tuple[list[Product], int]:
    profile = catalog.producer_of(user)
    page, per_page = page_args(page, per_page)
    query = db.session.query(Product).filter_by(producer_id=profile.id)
    total = query.count()
    return query.order_by(Product.id).offset((page - 1) * per_page).limit(per_page).all(), total


def update_product(user: User, product_id: int, changes: dict) -> Product:
    """Change some fields of an own product; the catalogue's rules validate the result."""
    product = catalog.own_product(user, product_id)
    current = {"name": product.name, "category_id": product.category_id, "unit": product.unit,
               "price_cents": product.price_cents, "vat_rate_bp": product.vat_rate_bp,
               "description": product.description, "stock": product.stock, "name_en": product.name_en,
               "description_en": product.description_en,
               "is_weight_priced": product.is_weight_priced, "estimated_weight_g": product.estimated_weight_g,
               "active": product.status.value == "active"}
    current.update(changes)
    return catalog.update_product(user, product_id, catalog.ProductInput(**current))


def list_order_parts(user: User, page: int, per_page: int, status: str | None = None) -> tuple[list[OrderPart], int]:
    from sqlalchemy.orm import joinedload

    profile = catalog.producer_of(user)
    page, per_page = page_args(page, per_page)
    query = db.session.query(OrderPart).filter(OrderPart.producer_id == profile.id)
    if status:
        query = query.filter(OrderPart.status == status)
    total = query.count()
    rows = (query.options(joinedload(OrderPart.lines), joinedload(OrderPart.order).joinedload(Order.distribution))
            .order_by(OrderPart.id.desc()).offset((page - 1) * per_page).limit(per_page).all())
    return rows, total
