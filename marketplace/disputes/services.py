"""Disputes: a buyer reports a problem on a line, the producer answers, an admin decides.

A refund goes back through the payment method used: a card order is refunded on the card with
the producer's transfer reversed (payments.services.resolve_dispute); a pay-at-pickup order gets
a credit on the buyer's member account (marketplace.accounts), which pays their next order first, shows on
the pickup sheet, or is handed back on request.
"""
from __future__ import annotations

from flask_babel import gettext as _
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy.orm import joinedload

from marketplace.audit.services import record
from marketplace.core.errors import Conflict, NotAllowed, NotFound, ServiceError
from marketplace.core.mail import Composer, send_email
from marketplace.disputes import emails, signals
from marketplace.disputes.models import (
    DISPUTE_TRANSITIONS,
    OPEN_STATES,
    Dispute,
    DisputeEvent,
    DisputeReason,
    DisputeStatus,
)
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.members.services import require_active_member, require_admin
from marketplace.money import format_money
from marketplace.orders.models import OrderLine
from marketplace.orders.states import LineStatus, PartStatus, PaymentMethod
from marketplace.timeutil import utcnow

# A problem can be reported once the goods are packed (late), handed over or delivered.
DISPUTABLE_PARTS = {PartStatus.READY, PartStatus.HANDED_TO_COURIER, PartStatus.COLLECTED, PartStatus.DELIVERED}
MAX_NOTE = 4000


def _admins() -> list[User]:
    return db.session.query(User).filter_by(is_admin=True, login_disabled=False).all()


def _tell(dispute: Dispute, compose: Composer, *, to_buyer=True, to_producer=True, to_admins=True, **values) -> None:
    """E-mail the people concerned, each in their own language (once each)."""
    recipients: list[User] = []
    if to_buyer:
        recipients.append(dispute.buyer)
    if to_producer:
        recipients.append(dispute.producer.user)
    if to_admins:
        recipients.extend(_admins())
    for user in {user.email: user for user in recipients}.values():
        send_email(user, compose, **values)


def _set_status(dispute: Dispute, target: DisputeStatus) -> None:
    if target not in DISPUTE_TRANSITIONS[dispute.status]:
        raise Conflict(_("This dispute is already settled."))
    dispute.status = target


def _is_party(user: User, dispute: Dispute) -> bool:
    if user.is_admin or dispute.buyer_id == user.id:
        return True
    profile = getattr(user, "producer_profile", None)
    return profile is not None and profile.id == dispute.producer_id


def get_dispute(user: User, dispute_id: int) -> Dispute:
    """A dispute the user may see (buyer, producer concerned, admin); others get 'not found'."""
    if user is None or not getattr(user, "is_authenticated", False):
        raise NotAllowed(_("Please log in first."))
    dispute = db.session.get(Dispute, dispute_id)
    if dispute is None or not _is_party(user, dispute):
        raise NotFound(_("No such dispute."))
    return dispute


def disputable_line(user: User, line_id: int) -> OrderLine:
    """A line of the buyer's own order that can be disputed now."""
    require_active_member(user)
    line = db.session.get(OrderLine, line_id)
    if line is None or line.part.order.buyer_id != user.id:
        raise NotFound(_("No such order line."))
    if line.status != LineStatus.ACTIVE or line.part.status not in DISPUTABLE_PARTS:
        raise Conflict(_("A problem can be reported once the order is ready, collected or delivered."))
    if db.session.query(Dispute.id).filter_by(line_id=line.id).first():
        raise Conflict(_("A problem was already reported for this product."))
    return line


def open_dispute(user: User, line_id: int, reason: DisputeReason, note: str) -> Dispute:
    """The buyer reports a problem (missing, damaged, late) with a note."""
    line = disputable_line(user, line_id)
    note = (note or "").strip()
    if not note:
        raise ServiceError(_("Tell the producer what went wrong."), "note")
    if len(note) > MAX_NOTE:
        raise ServiceError(_("Keep the note under %(n)d characters.", n=MAX_NOTE), "note")
    part = line.part
    dispute = Dispute(line_id=line.id, order_id=part.order_id, producer_id=part.producer_id, buyer_id=user.id,
                      reason=DisputeReason(reason), note=note)
    dispute.events.append(DisputeEvent(actor_id=user.id, kind="opened", text=note))
    db.session.add(dispute)
    db.session.flush()
    _tell(dispute, emails.problem_reported, ref=part.order.reference, buyer=user.full_name, reason=dispute.reason,
          product=line.product_name, note=note)
    return dispute


def answer_dispute(user: User, dispute_id: int, answer: str) -> Dispute:
    """The producer concerned gives their side."""
    from marketplace.catalog.services import producer_of

    profile = producer_of(user)
    dispute = db.session.get(Dispute, dispute_id)
    if dispute is None or dispute.producer_id != profile.id:
        raise NotFound(_("No such dispute."))
    answer = (answer or "").strip()
    if not answer:
        raise ServiceError(_("Write your answer."), "answer")
    if len(answer) > MAX_NOTE:
        raise ServiceError(_("Keep the answer under %(n)d characters.", n=MAX_NOTE), "answer")
    _set_status(dispute, DisputeStatus.ANSWERED)
    dispute.producer_answer = answer
    dispute.answered_at = utcnow()
    dispute.events.append(DisputeEvent(actor_id=user.id, kind="answered", text=answer))
    _tell(dispute, emails.producer_answered, ref=dispute.order.reference, producer=profile.name,
          product=dispute.line.product_name, answer=answer)
    db.session.flush()
    return dispute


def max_compensation_cents(dispute: Dispute) -> int:
    return dispute.line.final_cents


def resolve_dispute(admin: User, dispute_id: int, outcome: DisputeStatus, amount_cents: int, note: str) -> Dispute:
    """An admin decides: a credit, a refund through the payment method used, or a rejection with reason."""
    require_admin(admin)
    try:
        outcome = DisputeStatus(outcome)
    except ValueError:
        raise ServiceError(_("Choose credit, refund or reject."), "outcome") from None
    dispute = db.session.query(Dispute).filter_by(id=dispute_id).with_for_update().first()
    if dispute is None:
        raise NotFound(_("No such dispute."))
    if outcome not in (DisputeStatus.CREDITED, DisputeStatus.REFUNDED, DisputeStatus.REJECTED):
        raise ServiceError(_("Choose credit, refund or reject."), "outcome")
    note = (note or "").strip()
    if not note:
        raise ServiceError(_("Give the reason for your decision: both parties will read it."), "note")
    before = {"status": dispute.status, "amount_cents": dispute.amount_cents}
    if outcome == DisputeStatus.REJECTED:
        amount_cents = 0
    elif not isinstance(amount_cents, int) or not 0 < amount_cents <= max_compensation_cents(dispute):
        raise ServiceError(_("The amount must be between 0.01 and %(max)s.",
                             max=format_money(max_compensation_cents(dispute))), "amount")
    order = dispute.order
    if outcome == DisputeStatus.REFUNDED and order.payment_method == PaymentMethod.CARD:
        from marketplace.payments import services as payments

        credit = payments.resolve_dispute(admin, dispute.line_id, amount_cents, note)
        dispute.payment_credit_id = credit.id
    elif outcome == DisputeStatus.REFUNDED:
        # Paid (or to be paid) at the pickup: the money goes back the same way, as a credit.
        outcome = DisputeStatus.CREDITED
    _set_status(dispute, outcome)
    if outcome == DisputeStatus.CREDITED:
        from marketplace.accounts import services as accounts
        from marketplace.accounts.models import MovementKind

        accounts.post_movement(dispute.buyer_id, MovementKind.DISPUTE_CREDIT, amount_cents, reason=note, actor=admin,
                               order_id=order.id, key=f"dispute:{dispute.id}")
    dispute.amount_cents = amount_cents
    dispute.resolution_note = note
    dispute.resolved_by_id = admin.id
    dispute.resolved_at = utcnow()
    dispute.events.append(DisputeEvent(actor_id=admin.id, kind=outcome.value, text=note))
    record(admin, f"dispute.{outcome.value}", dispute, before,
           {"status": outcome, "amount_cents": amount_cents, "order_id": order.id, "line_id": dispute.line_id,
            "payment_method": order.payment_method, "payment_credit_id": dispute.payment_credit_id}, note=note)
    _tell(dispute, emails.decision, to_admins=False, ref=order.reference, product=dispute.line.product_name,
          outcome=outcome, amount_cents=amount_cents, note=note)
    db.session.flush()
    signals.dispute_resolved.send(dispute)
    return dispute


DISPUTES_PER_PAGE = 200


def disputes_for(user: User, page: int = 1, per_page: int | None = None) -> Pagination:
    """One page of the disputes the user opened, and those about their products (producers), newest first, each
    with its line and order (a count and one statement whatever the page's size)."""
    if user is None or not getattr(user, "is_authenticated", False):
        raise NotAllowed(_("Please log in first."))
    query = db.session.query(Dispute).options(joinedload(Dispute.line), joinedload(Dispute.order))
    condition = Dispute.buyer_id == user.id
    profile = getattr(user, "producer_profile", None)
    if profile is not None:
        condition = condition | (Dispute.producer_id == profile.id)
    return query.filter(condition).order_by(Dispute.created_at.desc(), Dispute.id.desc()).paginate(
        page=page, per_page=per_page or DISPUTES_PER_PAGE, error_out=False)


def all_disputes(admin: User, status: str = "", page: int = 1, per_page: int | None = None) -> Pagination:
    """The admins' list: one page of the disputes in this status ("open": those to decide; "all" or an unknown one:
    every dispute), newest first, each read as the columns the list shows, its order's reference, its buyer's and
    producer's names and its product (a count and one statement whatever the page's size)."""
    from marketplace.catalog.models import ProducerProfile
    from marketplace.orders.models import Order

    require_admin(admin)
    query = (db.session.query(Dispute.id, Dispute.created_at, Dispute.reason, Dispute.status, Order.reference,
                              User.full_name.label("buyer_name"), ProducerProfile.name.label("producer_name"),
                              OrderLine.product_name)
             .join(Order, Order.id == Dispute.order_id).join(User, User.id == Dispute.buyer_id)
             .join(ProducerProfile, ProducerProfile.id == Dispute.producer_id)
             .join(OrderLine, OrderLine.id == Dispute.line_id))
    if status == "open":
        query = query.filter(Dispute.status.in_(list(OPEN_STATES)))
    elif status in {s.value for s in DisputeStatus}:
        query = query.filter(Dispute.status == status)
    return query.order_by(Dispute.created_at.desc(), Dispute.id.desc()).paginate(
        page=page, per_page=per_page or DISPUTES_PER_PAGE, error_out=False)


