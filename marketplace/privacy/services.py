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
from marketplace.privacy import scrub
from marketplace.privacy.models import FormerIdentifier
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
        select(tables["outbound_emails"]).where(emails_to(user))).mappings()]
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
    account_reason = _unsettled_account(user)
    if account_reason:
        return account_reason
    try:
        from marketplace.dispatch.models import UNSTARTED_RUN, Run, RunStatus

        live = list(UNSTARTED_RUN) + [RunStatus.IN_PROGRESS]
        if db.session.query(Run.id).filter(Run.courier_id == user.id, Run.status.in_(live)).first():
            return _("You have delivery runs in progress: finish them first.")
    except ImportError:  # dispatch is optional
        pass
    return None


def _unsettled_account(user: User) -> str | None:
    """Leaving settles the member account first: the coop hands a positive balance back, a debt is paid.
    Its movements are kept (accounting records: the amounts stay, names in their reasons are blanked)."""
    from marketplace.accounts.services import balance_cents
    from marketplace.money import format_money

    balance = balance_cents(user.id)
    if balance > 0:
        return _("The coop holds %(amount)s for you: ask for your balance back on your account page, and erase "
                 "your account once it is handed over.", amount=format_money(balance))
    if balance < 0:
        return _("%(amount)s carried over from a weighing is still due: pay it at a pickup or to an admin first.",
                 amount=format_money(-balance))
    return None


def erase_account(user: User, password: str, confirmation: str) -> None:
    """Remove the member from everything that names them; accounting amounts stay, the login is disabled."""
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
    # Everything that named the member is gathered before the rows that hold it are blanked.
    identifiers, free_texts, references = identifiers_of(user), texts_written_by(user), _order_references(user)
    object_ids, accounts = _stripe_references(user)
    _delete_emails_to(user)
    _anonymise_user(user)
    _anonymise_related(user)
    from marketplace.invoicing.drafting import forget_buyer  # invoices still to be issued to the member

    spare = {"invoice_drafts": forget_buyer(user.id)}
    db.session.query(FormerIdentifier).filter_by(user_id=user.id).delete(synchronize_session=False)
    stripe_events = scrub.strip_stripe_payloads(object_ids, accounts, scrub.needles(identifiers))
    db.session.flush()
    values = scrub.needles(identifiers)
    scrub.redact_pending_audit(values)
    redacted = scrub.redact_audit(values)
    rewritten = scrub.sweep(values, spare) + scrub.redact_emails_about(references, free_texts)
    db.session.expire_all()  # the sweep wrote through Core: reload what the session holds
    record(user.id, "privacy.account_erased", ("users", user.id), {"erased": False},
           {"erased": True, "audit_entries_redacted": redacted, "texts_rewritten": rewritten,
            "stripe_events_stripped": stripe_events})
    db.session.flush()


def identifiers_of(user: User) -> list[str]:
    """Every value that names or locates the member, now and before: names, e-mails, phones, addresses."""
    from marketplace.orders.models import Order

    values = [user.email, user.full_name, user.phone, user.address, _place(user.postcode, user.town)]
    values += [value for (value,) in db.session.query(FormerIdentifier.value).filter_by(user_id=user.id)]
    for address, postcode, town in db.session.query(Order.delivery_address, Order.delivery_postcode,
                                                    Order.delivery_town).filter(Order.buyer_id == user.id):
        values += [address, _place(postcode, town)]
    profile = getattr(user, "producer_profile", None)
    if profile is not None:
        values += [profile.pickup_address, _place(profile.postcode, profile.town)]
    return [v.strip() for v in dict.fromkeys(values) if v and v.strip()]


def texts_written_by(user: User) -> list[str]:
    """The free texts the member wrote (dispute notes, order notes, membership motivation)."""
    from marketplace.disputes.models import Dispute, DisputeEvent
    from marketplace.orders.models import Order

    texts = [note for (note,) in db.session.query(Dispute.note).filter(Dispute.buyer_id == user.id)]
    texts += [text for (text,) in db.session.query(DisputeEvent.text).filter(DisputeEvent.actor_id == user.id)]
    texts += [note for (note,) in db.session.query(Order.note).filter(Order.buyer_id == user.id)]
    if user.membership is not None:
        texts.append(user.membership.motivation)
    return [t for t in dict.fromkeys(texts) if t]


def _order_references(user: User) -> list[str]:
    from marketplace.orders.models import Order

    return [ref for (ref,) in db.session.query(Order.reference).filter(Order.buyer_id == user.id)]


def _place(postcode: str | None, town: str | None) -> str:
    """'44000 Nantes': a postcode alone or a town alone locates nobody."""
    return f"{postcode.strip()} {town.strip()}" if (postcode or "").strip() and (town or "").strip() else ""


def _stripe_references(user: User) -> tuple[list[str], list[str]]:
    """Stripe ids of the member's card payments and of their connected account."""
    try:
        from marketplace.orders.models import Order
        from marketplace.payments.models import CardPayment, PaymentAccount
    except ImportError:  # payments is optional
        return [], []
    ids = [i for row in db.session.query(CardPayment.session_id, CardPayment.payment_intent_id, CardPayment.charge_id)
           .join(Order, Order.id == CardPayment.order_id).filter(Order.buyer_id == user.id) for i in row if i]
    accounts = [a for (a,) in db.session.query(PaymentAccount.stripe_account_id).filter_by(user_id=user.id)]
    return ids, accounts


def emails_to(user: User):
    """Stored e-mails sent to the member, at their address of the time (a former address may be someone else's now)."""
    from sqlalchemy import and_, func, or_

    from marketplace.core.models import OutboundEmail

    recipient = func.lower(OutboundEmail.recipient)
    conditions = [recipient == user.email.lower()]
    for value, until in db.session.query(FormerIdentifier.value, FormerIdentifier.replaced_at).filter_by(
            user_id=user.id, kind="email"):
        conditions.append(and_(recipient == value.lower(), OutboundEmail.created_at <= until))
    return or_(*conditions)


def _delete_emails_to(user: User) -> None:
    from marketplace.core.models import OutboundEmail

    db.session.query(OutboundEmail).filter(emails_to(user)).delete(synchronize_session=False)


def _anonymise_user(user: User) -> None:
    from marketplace.members.services import end_all_sessions

    user.email = f"erased-{user.id}@invalid"
    user.full_name = _("Erased member")
    user.phone = user.address = user.postcode = user.town = ""
    user.locale = None
    user.password_hash = "!erased"  # not a hash: nothing verifies against it
    user.login_disabled = True
    user.erased_at = utcnow()
    end_all_sessions(user)
    membership = user.membership
    if membership is not None:
        membership.motivation = ""
        allowed = MEMBERSHIP_TRANSITIONS[membership.status]
        target = (MembershipStatus.LEFT if MembershipStatus.LEFT in allowed
                  else MembershipStatus.REJECTED if MembershipStatus.REJECTED in allowed
                  else None)
        if target is not None:
            membership.status = target
            membership.decided_at = utcnow()
            membership.decision_reason = _("Account erased at the member's request.")


def _anonymise_related(user: User) -> None:
    from marketplace.api.models import ApiToken
    from marketplace.audit.models import AuditReader
    from marketplace.catalog.models import ProducerProfile, Product, ProductStatus
    from marketplace.orders.models import Cart

    profile = db.session.query(ProducerProfile).filter_by(user_id=user.id).first()
    if profile is not None:
        profile.name = _("Former producer #%(n)d", n=profile.id)
        profile.description = profile.pickup_address = profile.postcode = profile.town = ""
        profile.latitude = profile.longitude = None
        db.session.query(Product).filter_by(producer_id=profile.id).update(
            {Product.status: ProductStatus.ARCHIVED}, synchronize_session=False)
    _anonymise_orders(user)
    _anonymise_disputes(user)
    cart = db.session.query(Cart).filter_by(user_id=user.id).first()
    if cart is not None:
        db.session.delete(cart)
    try:
        from marketplace.dispatch.models import CourierProfile

        courier = db.session.query(CourierProfile).filter_by(user_id=user.id).first()
        if courier is not None:
            courier.home_latitude = courier.home_longitude = None
    except ImportError:
        pass
    db.session.query(ApiToken).filter(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)).update(
        {ApiToken.revoked_at: utcnow()}, synchronize_session=False)
    db.session.query(AuditReader).filter_by(user_id=user.id).delete(synchronize_session=False)
    from marketplace.invoicing.models import BuyerIdentity  # issued invoices keep their copy, as the law requires

    db.session.query(BuyerIdentity).filter_by(user_id=user.id).delete(synchronize_session=False)


def _anonymise_orders(user: User) -> None:
    """Amounts, lines and payments stay (accounting); where the goods went, and what was said about it, go."""
    from marketplace.orders.models import Order, OrderEvent

    orders = db.session.query(Order).filter_by(buyer_id=user.id).all()
    for order in orders:
        order.delivery_address = order.delivery_postcode = order.delivery_town = ""
        order.delivery_code = order.note = ""
    order_ids = [o.id for o in orders]
    if not order_ids:
        return
    # A courier's account of a failed delivery is about the buyer's home, named or not.
    failed_deliveries = db.session.query(OrderEvent).filter(OrderEvent.order_id.in_(order_ids),
                                                            OrderEvent.kind == "delivery_failed")
    failed_deliveries.update({OrderEvent.detail: ""}, synchronize_session=False)
    try:
        from marketplace.dispatch.models import DeliveryJob, RunStop, StopKind
    except ImportError:  # dispatch is optional
        return
    db.session.query(DeliveryJob).filter(DeliveryJob.order_id.in_(order_ids)).update(
        {DeliveryJob.latitude: None, DeliveryJob.longitude: None, DeliveryJob.coordinates_source: "",
         DeliveryJob.reason: ""}, synchronize_session=False)
    db.session.query(RunStop).filter(RunStop.order_id.in_(order_ids), RunStop.kind == StopKind.DROPOFF).update(
        {RunStop.latitude: None, RunStop.longitude: None, RunStop.failure_reason: ""}, synchronize_session=False)


def _anonymise_disputes(user: User) -> None:
    """What the member wrote in their disputes goes; the outcome and the amounts stay."""
    from marketplace.disputes.models import Dispute, DisputeEvent

    db.session.query(Dispute).filter(Dispute.buyer_id == user.id).update(
        {Dispute.note: ""}, synchronize_session=False)
    db.session.query(DisputeEvent).filter(DisputeEvent.actor_id == user.id).update(
        {DisputeEvent.text: ""}, synchronize_session=False)
