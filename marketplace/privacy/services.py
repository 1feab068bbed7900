"""A member's personal data: download all of it, or erase the account (accounting records are kept)."""
from __future__ import annotations

import io
import json
import zipfile

from flask_babel import gettext as _
from sqlalchemy import select

from marketplace.audit.services import _plain, record
from marketplace.core.errors import Conflict, NotAllowed, ServiceError
from marketplace.extensions import db
from marketplace.members.models import MEMBERSHIP_TRANSITIONS, MembershipStatus, User
from marketplace.timeutil import utcnow

# Never exported: secrets are not "data about you", and a leaked ZIP must not unlock anything.
SECRET_COLUMNS = ("password", "token_hash", "secret")
# Links that point at the member as the one who decided something about *another* member's row.
NOT_OWNERSHIP = {"decided_by_id", "granted_by_id", "closed_by_id", "created_by_id"}
# Rows hanging off the member's own rows (an order's parts and lines, a producer's products).
CHILDREN = {"orders": [("order_parts", "order_id"), ("order_events", "order_id")],
            "order_parts": [("order_lines", "part_id")],
            "producers": [("products", "producer_id")]}
CONFIRMATION_WORD = "ERASE"


def _row(table, row) -> dict:
    return {c.name: _plain(row[c.name]) for c in table.columns
            if not any(word in c.name for word in SECRET_COLUMNS)}


def collect_data(user: User) -> dict:
    """Every row that is about the member, table by table (found through the schema's foreign keys)."""
    tables = db.metadata.tables
    data: dict[str, list[dict]] = {}
    with_ids: dict[str, list[int]] = {}
    users = tables["users"]
    data["users"] = [_row(users, r) for r in db.session.execute(select(users).where(users.c.id == user.id)).mappings()]
    for table in db.metadata.sorted_tables:
        if table.name == "users":
            continue
        columns = [fk.parent for fk in table.foreign_keys
                   if fk.column.table.name == "users" and fk.parent.name not in NOT_OWNERSHIP]
        if not columns:
            continue
        condition = columns[0] == user.id
        for column in columns[1:]:
            condition = condition | (column == user.id)
        rows = db.session.execute(select(table).where(condition)).mappings().all()
        if rows:
            data[table.name] = [_row(table, r) for r in rows]
            if "id" in table.columns:
                with_ids[table.name] = [r["id"] for r in rows]
    pending = list(CHILDREN)
    while pending:
        parent = pending.pop(0)
        ids = with_ids.get(parent)
        for child_name, column in CHILDREN.get(parent, []):
            if not ids or child_name not in tables:
                continue
            child = tables[child_name]
            rows = db.session.execute(select(child).where(child.c[column].in_(ids))).mappings().all()
            known = {r["id"] for r in data.get(child_name, [])}
            new_rows = [r for r in rows if r["id"] not in known]
            if new_rows:
                data.setdefault(child_name, []).extend(_row(child, r) for r in new_rows)
                with_ids.setdefault(child_name, []).extend(r["id"] for r in new_rows)
                pending.append(child_name)
    data["outbound_emails"] = [_row(tables["outbound_emails"], r) for r in db.session.execute(
        select(tables["outbound_emails"]).where(tables["outbound_emails"].c.recipient == user.email)).mappings()]
    return data


def export_archive(user: User) -> bytes:
    """All the member's data as data.json in a ZIP, with a short README."""
    if user is None or not getattr(user, "is_authenticated", False):
        raise NotAllowed(_("Please log in first."))
    data = collect_data(user)
    document = {"exported_at": utcnow().isoformat(), "user_id": user.id, "tables": data}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.json", json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True))
        archive.writestr("README.txt", _(
            "Everything the coop stores about you, one list of records per table, in data.json. "
            "Amounts are in cents; times are UTC. Passwords and access tokens are never exported.") + "\n")
    record(user, "privacy.data_exported", user, {}, {"tables": sorted(data)})
    return buffer.getvalue()


def _open_work(user: User) -> str | None:
    """Why the account cannot be erased now, or None."""
    from marketplace.orders.models import Order, OrderPart
    from marketplace.orders.states import TERMINAL

    open_parts = (db.session.query(OrderPart.id).join(Order)
                  .filter(Order.buyer_id == user.id, OrderPart.status.notin_(list(TERMINAL))).first())
    if open_parts:
        return _("You have orders in progress: wait until they are collected or delivered, or cancel them.")
    profile = getattr(user, "producer_profile", None)
    if profile is not None and db.session.query(OrderPart.id).filter(
            OrderPart.producer_id == profile.id, OrderPart.status.notin_(list(TERMINAL))).first():
        return _("Buyers are waiting for orders you sell: finish or cancel them first.")
    try:
        from marketplace.dispatch.models import UNSTARTED_RUN, Run, RunStatus

        live = list(UNSTARTED_RUN) + [RunStatus.IN_PROGRESS]
        if db.session.query(Run.id).filter(Run.courier_id == user.id, Run.status.in_(live)).first():
            return _("You have delivery runs in progress: finish them first.")
    except ImportError:  # dispatch is optional
        pass
    return None


def erase_account(user: User, password: str, confirmation: str) -> None:
    """Anonymise the member's personal fields, keep accounting records, disable the login."""
    from marketplace.members.services import authenticate

    if user is None or not getattr(user, "is_authenticated", False):
        raise NotAllowed(_("Please log in first."))
    if (confirmation or "").strip().upper() != CONFIRMATION_WORD:
        raise ServiceError(_("Type %(word)s to confirm.", word=CONFIRMATION_WORD), "confirmation")
    if authenticate(user.email, password or "") is None:
        raise NotAllowed(_("The password is not correct."), "password")
    if user.is_admin:
        raise Conflict(_("An administrator must hand over the role before erasing their account."))
    reason = _open_work(user)
    if reason:
        raise Conflict(reason)
    old_email, old_name, old_phone, old_address = user.email, user.full_name, user.phone, user.address
    user.email = f"erased-{user.id}@invalid"
    user.full_name = _("Erased member")
    user.phone = user.address = user.postcode = user.town = ""
    user.locale = None
    user.password_hash = "!erased"  # not a hash: nothing verifies against it
    user.login_disabled = True
    user.erased_at = utcnow()
    membership = user.membership
    if membership is not None:
        membership.motivation = ""
        target = (MembershipStatus.LEFT if MembershipStatus.LEFT in MEMBERSHIP_TRANSITIONS[membership.status]
                  else MembershipStatus.REJECTED if MembershipStatus.REJECTED in MEMBERSHIP_TRANSITIONS[membership.status]
                  else None)
        if target is not None:
            membership.status = target
            membership.decided_at = utcnow()
            membership.decision_reason = _("Account erased at the member's request.")
    _anonymise_related(user, old_email)
    _scrub_sent_emails(user, [old_email, old_name, old_phone, old_address])
    record(user.id, "privacy.account_erased", user, {"erased": False}, {"erased": True})
    db.session.flush()


def _scrub_sent_emails(user: User, personal: list[str]) -> None:
    """Remove the member's name and contact details from stored copies of e-mails sent to anyone."""
    from sqlalchemy import func

    from marketplace.core.models import OutboundEmail

    # Longest first, so that a name is not half-replaced by a shorter value it contains.
    for value in sorted({v.strip() for v in personal if v and len(v.strip()) >= 3}, key=len, reverse=True):
        db.session.query(OutboundEmail).filter(
            OutboundEmail.body.contains(value) | OutboundEmail.subject.contains(value)).update(
            {OutboundEmail.body: func.replace(OutboundEmail.body, value, user.full_name),
             OutboundEmail.subject: func.replace(OutboundEmail.subject, value, user.full_name)},
            synchronize_session=False)


def _anonymise_related(user: User, old_email: str) -> None:
    from marketplace.catalog.models import ProducerProfile, Product, ProductStatus
    from marketplace.core.models import OutboundEmail
    from marketplace.orders.models import Cart, Order

    profile = db.session.query(ProducerProfile).filter_by(user_id=user.id).first()
    if profile is not None:
        profile.name = _("Former producer #%(n)d", n=profile.id)
        profile.description = profile.pickup_address = ""
        profile.latitude = profile.longitude = None
        db.session.query(Product).filter_by(producer_id=profile.id).update(
            {Product.status: ProductStatus.ARCHIVED}, synchronize_session=False)
    for order in db.session.query(Order).filter_by(buyer_id=user.id):
        # Amounts, lines and payments stay (accounting); where it went and notes do not.
        order.delivery_address = ""
        order.note = ""
    cart = db.session.query(Cart).filter_by(user_id=user.id).first()
    if cart is not None:
        db.session.delete(cart)
    db.session.query(OutboundEmail).filter(OutboundEmail.recipient == old_email).update(
        {OutboundEmail.recipient: user.email}, synchronize_session=False)
    try:
        from marketplace.dispatch.models import CourierProfile

        courier = db.session.query(CourierProfile).filter_by(user_id=user.id).first()
        if courier is not None:
            courier.home_latitude = courier.home_longitude = None
    except ImportError:
        pass
    from marketplace.api.models import ApiToken
    from marketplace.audit.models import AuditReader

    db.session.query(ApiToken).filter(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)).update(
        {ApiToken.revoked_at: utcnow()}, synchronize_session=False)
    db.session.query(AuditReader).filter_by(user_id=user.id).delete(synchronize_session=False)
    from marketplace.invoicing.models import BuyerIdentity  # issued invoices keep their copy, as the law requires

    db.session.query(BuyerIdentity).filter_by(user_id=user.id).delete(synchronize_session=False)
