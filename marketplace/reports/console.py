"""Admin console additions: hiding products that break the charter, order detail, shares, fee rule."""
from __future__ import annotations

from flask_babel import gettext as _
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import or_
from sqlalchemy.orm import contains_eager, joinedload

from marketplace.audit.services import record
from marketplace.catalog.models import ProducerProfile, Product
from marketplace.core.errors import Conflict, NotFound, ServiceError
from marketplace.core.mail import send_email
from marketplace.core.services import get_setting, set_setting
from marketplace.extensions import db
from marketplace.members import emails as member_emails
from marketplace.members.models import Membership, MembershipStatus, User
from marketplace.members.services import require_admin
from marketplace.orders.models import Order, OrderPart
from marketplace.reports import emails

MAX_SHARES = 1000


PRODUCTS_PER_PAGE = 200


def search_products(admin: User, text: str = "", hidden_only: bool = False, page: int = 1,
                    per_page: int | None = None) -> Pagination:
    """One page of the products matching the admin's search, each with its producer (a count and one statement)."""
    require_admin(admin)
    query = db.session.query(Product).join(Product.producer).options(contains_eager(Product.producer))
    text = (text or "").strip()[:100]
    if text:
        pattern = f"%{text.replace('%', '').replace('_', '')}%"
        query = query.filter(or_(Product.name.ilike(pattern), ProducerProfile.name.ilike(pattern)))
    if hidden_only:
        query = query.filter(Product.hidden_reason.isnot(None))
    return query.order_by(ProducerProfile.name, Product.name, Product.id).paginate(
        page=page, per_page=per_page or PRODUCTS_PER_PAGE, error_out=False)


def _product(product_id: int) -> Product:
    product = db.session.get(Product, product_id)
    if product is None:
        raise NotFound(_("No such product."))
    return product


def hide_product(admin: User, product_id: int, reason: str) -> Product:
    """Take a product off the shop because it breaks the coop's charter; the producer is told why."""
    require_admin(admin)
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError(_("Tell the producer which part of the charter the product breaks."), "reason")
    product = _product(product_id)
    before = {"hidden_reason": product.hidden_reason}
    product.hidden_reason = reason[:2000]
    record(admin, "product.hidden", product, before, {"hidden_reason": product.hidden_reason})
    send_email(product.producer.user, emails.product_hidden, name=product.name, reason=reason)
    db.session.flush()
    return product


def unhide_product(admin: User, product_id: int) -> Product:
    require_admin(admin)
    product = _product(product_id)
    if product.hidden_reason is None:
        raise Conflict(_("This product is not hidden."))
    before = {"hidden_reason": product.hidden_reason}
    product.hidden_reason = None
    record(admin, "product.shown", product, before, {"hidden_reason": None})
    send_email(product.producer.user, emails.product_shown, name=product.name)
    db.session.flush()
    return product


def order_detail(admin: User, order_id: int) -> Order:
    require_admin(admin)
    order = (db.session.query(Order).options(joinedload(Order.parts).joinedload(OrderPart.lines),
                                             joinedload(Order.events), joinedload(Order.buyer))
             .filter(Order.id == order_id).first())
    if order is None:
        raise NotFound(_("No such order."))
    return order


def change_shares(admin: User, membership_id: int, shares_count: int, reason: str) -> Membership:
    """Record a member subscribing more shares or having some repaid (nominal value kept per member)."""
    require_admin(admin)
    membership = db.session.get(Membership, membership_id)
    if membership is None:
        raise NotFound(_("No such member."))
    if membership.status in (MembershipStatus.LEFT, MembershipStatus.REJECTED):
        raise Conflict(_("This person is not a member any more."))
    if not isinstance(shares_count, int) or not 1 <= shares_count <= MAX_SHARES:
        raise ServiceError(_("A member holds between 1 and %(n)d shares.", n=MAX_SHARES), "shares_count")
    if not (reason or "").strip():
        raise ServiceError(_("Give a reason (e.g. the date of the subscription form)."), "reason")
    before = {"shares_count": membership.shares_count}
    membership.shares_count = shares_count
    record(admin, "membership.shares_changed", membership, before, {"shares_count": shares_count},
           note=reason.strip())
    send_email(membership.user, member_emails.shares_changed, shares=shares_count)
    db.session.flush()
    return membership


def set_delivery_fee_rule(admin: User, text: str) -> None:
    """The delivery-fee rule in words, shown at checkout (the fee itself is set per delivery zone)."""
    require_admin(admin)
    text = (text or "").strip()
    if not text or len(text) > 2000:
        raise ServiceError(_("Describe the delivery-fee rule in at most 2000 characters."), "text")
    if text != get_setting("delivery_fee_rule_text"):
        set_setting("delivery_fee_rule_text", text)
