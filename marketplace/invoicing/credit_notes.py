"""Credit notes (avoirs): any change after an invoice is drafted is credited, never edited in place.

A credit note names the invoice it corrects and credits at most what is still uncredited on each
of its lines; its VAT follows the same rounding rule as the invoice (marketplace/invoicing/amounts.py).
"""
from __future__ import annotations

from sqlalchemy import func

from marketplace.disputes.models import Dispute, DisputeStatus
from marketplace.extensions import db
from marketplace.invoicing.drafting import find_draft, save_draft
from marketplace.invoicing.models import Invoice, InvoiceDraft, InvoiceKind, InvoiceLine, IssuerKind
from marketplace.orders.models import Order, OrderLine, OrderPart
from marketplace.orders.states import PartStatus, PaymentMethod
from marketplace.payments.models import Credit


def _refund_note(payment_method: PaymentMethod) -> str:
    if payment_method == PaymentMethod.CARD:
        return "Montant remboursé sur la carte bancaire utilisée pour le paiement."
    return "Montant rendu ou déduit lors du prochain retrait."


def _draft_credit(source_key: str, original: InvoiceDraft | str, reason: str, payload: dict,
                  part: OrderPart | None = None) -> InvoiceDraft:
    original_key = original if isinstance(original, str) else original.source_key
    source = original if isinstance(original, InvoiceDraft) else find_draft(original_key)
    payload = {"reason": reason[:500], **payload}
    order = part.order if part is not None else (source.order if source is not None else None)
    if order is not None:
        payload.setdefault("payment_note", _refund_note(order.payment_method))
    issuer_kind = source.issuer_kind if source is not None else IssuerKind.PRODUCER
    return save_draft(source_key, InvoiceKind.CREDIT_NOTE, issuer_kind, payload,
                      producer_id=part.producer_id if part is not None else (source.producer_id if source else None),
                      courier_id=source.courier_id if source else None, original_key=original_key,
                      order_id=order.id if order is not None else None, part_id=part.id if part is not None else None)


def _draft_delivery_credit(order: Order) -> list[InvoiceDraft]:
    """No part of the order is left: the delivery fee is not due any more, credit it if it was invoiced."""
    delivery = find_draft(f"delivery:{order.id}")
    if delivery is None or any(p.status != PartStatus.CANCELLED for p in order.parts):
        return []
    return [_draft_credit(f"credit:delivery:{order.id}", delivery,
                          f"Commande {order.reference} annulée : livraison non due", {"all_remaining": True})]


def draft_line_rejection(line: OrderLine) -> list[InvoiceDraft]:
    """A line rejected after its part was invoiced: credit what it cost. Before that, the invoice leaves it out."""
    original = find_draft(f"part:{line.part_id}")
    if original is None or not line.credited_cents:
        return []
    credit = _draft_credit(f"credit:line:{line.id}", original,
                           f"Produit non fourni : {line.product_name} — {line.rejection_reason}",
                           {"credits": [{"order_line_id": line.id, "ttc_cents": line.credited_cents}]}, line.part)
    return [credit, *_draft_delivery_credit(line.part.order)]


def draft_part_cancellation(part: OrderPart, reason: str) -> list[InvoiceDraft]:
    """A part cancelled after being invoiced: credit everything still uncredited (and the delivery, if none is left)."""
    drafts = []
    original = find_draft(f"part:{part.id}")
    if original is not None:
        drafts.append(_draft_credit(f"credit:part:{part.id}", original, f"Annulation : {reason}",
                                    {"all_remaining": True}, part))
    return drafts + _draft_delivery_credit(part.order)


def draft_card_refund(credit: Credit) -> InvoiceDraft | None:
    """An admin refunded part of a paid line on the card: a credit note for that amount."""
    if credit.line_id is None or credit.part_id is None or credit.amount_cents <= 0:
        return None
    part = db.session.get(OrderPart, credit.part_id)
    line = db.session.get(OrderLine, credit.line_id)
    return _draft_credit(f"credit:refund:{credit.id}", f"part:{part.id}",
                         f"Remboursement : {line.product_name} — {credit.reason}",
                         {"credits": [{"order_line_id": line.id, "ttc_cents": credit.amount_cents}]}, part)


def draft_dispute_credit(dispute: Dispute) -> InvoiceDraft | None:
    """A dispute settled with a credit (pay-at-pickup orders): a credit note for that amount."""
    if dispute.status != DisputeStatus.CREDITED or dispute.amount_cents <= 0:
        return None
    line = dispute.line
    return _draft_credit(f"credit:dispute:{dispute.id}", f"part:{line.part_id}",
                         f"Réclamation : {line.product_name} — {dispute.resolution_note}",
                         {"credits": [{"order_line_id": line.id, "ttc_cents": dispute.amount_cents}]}, line.part)


# ---------------------------------------------------------------- at issue time

def remaining_by_line(original: Invoice) -> dict[int, int]:
    """Each line of an issued invoice: what is not yet credited by an issued credit note."""
    credited = dict(db.session.query(InvoiceLine.credits_line_id, func.sum(InvoiceLine.ttc_cents))
                    .filter(InvoiceLine.credits_line_id.in_([line.id for line in original.lines]))
                    .group_by(InvoiceLine.credits_line_id).all())
    return {line.id: line.ttc_cents - int(credited.get(line.id) or 0) for line in original.lines}


def credit_lines(payload: dict, original: Invoice) -> list[dict]:
    """The lines of a credit note: what it asks for, capped by what each original line still holds."""
    remaining = remaining_by_line(original)
    if payload.get("all_remaining"):
        wanted = [(line, remaining[line.id]) for line in original.lines]
    else:
        by_order_line = {line.order_line_id: line for line in original.lines}
        wanted = []
        for credit in payload["credits"]:
            line = by_order_line.get(credit["order_line_id"])
            if line is not None:
                wanted.append((line, min(credit["ttc_cents"], remaining[line.id])))
                remaining[line.id] -= wanted[-1][1]
    lines = []
    for line, cents in wanted:
        if cents <= 0:
            continue
        whole = cents == line.ttc_cents
        lines.append({"description": line.description if whole else f"Remboursement partiel — {line.description}",
                      "quantity_milli": line.quantity_milli if whole else 1000,
                      "unit_code": line.unit_code if whole else "C62", "ttc_cents": cents,
                      "vat_rate_bp": line.vat_rate_bp, "order_line_id": line.order_line_id,
                      "credits_line_id": line.id})
    return lines
