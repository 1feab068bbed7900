"""What must be invoiced, written down when the amount becomes final (a draft), once per source.

A draft freezes the lines, the buyer and the sale date at that moment; issuing it (numbering,
seller identity, mandate) may wait until the seller has accepted the billing mandate.
"""
from __future__ import annotations

import json
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import current_app

from marketplace.billing.models import BillingPeriod, Statement
from marketplace.core.services import get_int_setting, get_setting
from marketplace.dispatch.models import CourierPayable, Run, RunStop, StopKind, StopStatus
from marketplace.extensions import db
from marketplace.invoicing.models import DraftStatus, InvoiceDraft, InvoiceKind, IssuerKind
from marketplace.invoicing.parties import buyer_party, is_self_employed_courier, member_party
from marketplace.members.models import User
from marketplace.orders.models import Order, OrderLine, OrderPart
from marketplace.orders.states import Fulfilment, LineStatus, PartStatus, PaymentMethod
from marketplace.timeutil import utcnow

UNIT_CODES = {"kg": "KGM", "litre": "LTR"}  # UN/ECE rec. 20; anything else is counted in pieces (H87)


def local_date(moment: datetime | None) -> date:
    """A stored (naive UTC) time as a date in the coop's time zone."""
    zone = ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "UTC")
    return (moment or utcnow()).replace(tzinfo=UTC).astimezone(zone).date()


def save_draft(source_key: str, kind: InvoiceKind, issuer_kind: IssuerKind, payload: dict, *,
               producer_id: int | None = None, courier_id: int | None = None, original_key: str | None = None,
               order_id: int | None = None, part_id: int | None = None) -> InvoiceDraft:
    """Record a draft once per source: the same event seen twice changes nothing."""
    existing = db.session.query(InvoiceDraft).filter_by(source_key=source_key).one_or_none()
    if existing is not None:
        return existing
    draft = InvoiceDraft(source_key=source_key, kind=kind, issuer_kind=issuer_kind, producer_id=producer_id,
                         courier_id=courier_id, original_key=original_key, order_id=order_id, part_id=part_id,
                         payload_json=json.dumps(payload, sort_keys=True, ensure_ascii=False))
    db.session.add(draft)
    db.session.flush()
    return draft


def drafted_keys(order_id: int) -> set[str]:
    """The sources of an order already drafted (one query: a settlement run again costs nothing more)."""
    return {key for (key,) in db.session.query(InvoiceDraft.source_key).filter(InvoiceDraft.order_id == order_id)}


def find_draft(source_key: str) -> InvoiceDraft | None:
    return db.session.query(InvoiceDraft).filter_by(source_key=source_key).one_or_none()


def line_payload(line: OrderLine) -> dict:
    """An order line as invoiced: weighed lines in kg at the price per kg, others in units."""
    if line.is_weight_priced and line.weighed_grams:
        quantity_milli, unit = line.weighed_grams, "KGM"
    else:
        quantity_milli, unit = line.quantity * 1000, UNIT_CODES.get(line.unit, "H87")
    return {"description": line.display_name, "quantity_milli": quantity_milli, "unit_code": unit,
            "ttc_cents": line.final_cents, "vat_rate_bp": line.vat_rate_bp, "order_line_id": line.id}


def _order_buyer(order: Order) -> dict:
    if order.fulfilment == Fulfilment.DELIVERY:
        return buyer_party(order.buyer, order.delivery_address, order.delivery_postcode,
                           order.delivery_town).as_dict() | {"user_id": order.buyer_id}
    return buyer_party(order.buyer).as_dict() | {"user_id": order.buyer_id}


def _paid_note(order: Order) -> str:
    """How and when the buyer paid (legal text: French whatever the interface language)."""
    if order.origin == "contract":  # the basket's price, paid through the contract's instalments (contracts.rules)
        return f"Payée par les échéances du contrat « {order.note} »."
    if order.payment_method == PaymentMethod.CARD:
        captured = order.card_payment.captured_at if getattr(order, "card_payment", None) else None
        return (f"Payée par carte bancaire le {local_date(captured):%d/%m/%Y}, encaissée par "
                f"{get_setting('coop_name')} pour le compte du vendeur.")
    how = "à la livraison" if order.fulfilment == Fulfilment.DELIVERY else "au retrait"
    return f"Payée {how} le {local_date(None):%d/%m/%Y}."


def _sale_date(order: Order) -> str:
    """When the goods were handed over: today once collected or delivered, else the distribution's day."""
    done = order.parts and all(p.status in (PartStatus.COLLECTED, PartStatus.DELIVERED, PartStatus.CANCELLED)
                               for p in order.parts)
    return local_date(None if done else order.distribution.starts_at).isoformat()


def draft_part(part: OrderPart) -> InvoiceDraft | None:
    """A producer's part, final and paid: one invoice in the producer's name (lines that cost something)."""
    if part.status == PartStatus.CANCELLED:
        return None
    lines = [line_payload(line) for line in part.lines
             if line.status == LineStatus.ACTIVE and line.final_cents > 0]
    if not lines:
        return None
    order = part.order
    payload = {"buyer": _order_buyer(order), "lines": lines, "sale_date": _sale_date(order),
               "payment_note": _paid_note(order), "reference": order.reference}
    return save_draft(f"part:{part.id}", InvoiceKind.INVOICE, IssuerKind.PRODUCER, payload,
                      producer_id=part.producer_id, order_id=order.id, part_id=part.id)


def delivering_courier(order: Order) -> int | None:
    """The courier who completed the drop-off of a home-delivered order, if any."""
    row = (db.session.query(Run.courier_id).join(RunStop, RunStop.run_id == Run.id)
           .filter(RunStop.order_id == order.id, RunStop.kind == StopKind.DROPOFF,
                   RunStop.status == StopStatus.DONE).order_by(RunStop.done_at.desc()).first())
    return row[0] if row else None


def draft_delivery(order: Order, courier_id: int | None = None) -> InvoiceDraft | None:
    """The delivery fee, invoiced by whoever sells it: the coop, or the self-employed courier (a setting)."""
    if order.fulfilment != Fulfilment.DELIVERY or not order.delivery_fee_cents or not order.goods_final_cents:
        return None
    by_courier = get_setting("delivery_seller") == "courier"
    if by_courier and courier_id is None:
        return None  # invoiced when the courier who delivers is known (order completed)
    courier_sells = by_courier and is_self_employed_courier(courier_id)
    line = {"description": f"Livraison à domicile — commande {order.reference}", "quantity_milli": 1000,
            "unit_code": "C62", "ttc_cents": order.delivery_fee_cents,
            "vat_rate_bp": get_int_setting("services_vat_rate_bp"), "order_line_id": None}
    payload = {"buyer": _order_buyer(order), "lines": [line], "sale_date": _sale_date(order),
               "payment_note": _paid_note(order), "reference": order.reference}
    return save_draft(f"delivery:{order.id}", InvoiceKind.INVOICE,
                      IssuerKind.COURIER if courier_sells else IssuerKind.COOP, payload,
                      courier_id=courier_id if courier_sells else None, order_id=order.id)


def draft_statement(statement: Statement, period: BillingPeriod) -> InvoiceDraft | None:
    """A member's fee for a closed period: an invoice in the coop's own series."""
    if statement.total_cents <= 0:
        return None
    label = f"{period.starts_on:%m/%Y}"
    line = {"description": f"Participation aux frais de fonctionnement de la coopérative (au coût réel) — {label}",
            "quantity_milli": 1000, "unit_code": "C62", "ttc_cents": int(statement.total_cents),
            "vat_rate_bp": get_int_setting("services_vat_rate_bp"), "order_line_id": None}
    member = db.session.get(User, statement.user_id)
    payload = {"buyer": member_party(member).as_dict() | {"user_id": statement.user_id}, "lines": [line],
               "sale_date": date.fromordinal(period.ends_on.toordinal() - 1).isoformat(),  # the period's last day
               "payment_note": "Payable à réception. Les sommes dues peuvent être retenues sur vos versements de "
                               "la plateforme (voir « Mes cotisations »).",
               "reference": f"cotisation {label}"}
    return save_draft(f"statement:{statement.id}", InvoiceKind.INVOICE, IssuerKind.COOP, payload)


def _fees_invoiced_by_courier(payable: CourierPayable) -> int:
    """Delivery fees of this run's orders that the courier invoiced to the buyers themselves."""
    order_ids = payable.run.order_ids
    drafts = (db.session.query(InvoiceDraft)
              .filter(InvoiceDraft.source_key.in_([f"delivery:{oid}" for oid in order_ids]),
                      InvoiceDraft.issuer_kind == IssuerKind.COURIER,
                      InvoiceDraft.courier_id == payable.courier_id).all())
    return sum(d.total_ttc_cents for d in drafts)


def draft_courier_pay(payable: CourierPayable) -> InvoiceDraft | None:
    """A self-employed courier's pay for a run: a self-billed invoice (the coop is the buyer)."""
    if not is_self_employed_courier(payable.courier_id):
        return None
    # Delivery fees the courier invoiced the buyers directly are their income already; the coop
    # buys (and self-bills) only the rest of the run's pay.
    amount = payable.amount_cents - _fees_invoiced_by_courier(payable)
    if amount <= 0:
        return None
    run = payable.run
    line = {"description": f"Tournée de livraison n° {run.id} du {local_date(run.starts_at):%d/%m/%Y} — "
                           f"{payable.distance_m / 1000:.1f} km, {payable.stops} arrêts ({payable.rule})"[:300],
            "quantity_milli": 1000, "unit_code": "C62", "ttc_cents": amount,
            "vat_rate_bp": get_int_setting("services_vat_rate_bp"), "order_line_id": None}
    payload = {"buyer": {"user_id": None, "coop": True}, "lines": [line],
               "sale_date": local_date(run.completed_at or payable.created_at).isoformat(),
               "payment_note": f"Réglée par virement de {get_setting('coop_name')}.",
               "reference": f"tournée {run.id}", "self_billed": True}
    return save_draft(f"courier-pay:{payable.id}", InvoiceKind.INVOICE, IssuerKind.COURIER, payload,
                      courier_id=payable.courier_id)


def forget_buyer(user_id: int) -> list[int]:
    """Erasure: the member's name and address leave the invoices still to be issued to them; the ids of the
    drafts that must keep them.

    A draft is not an invoice yet, so the law keeps nothing of it. Issued later, the invoice of a private buyer
    names no one (a sale of goods to an individual needs no invoice naming them, CGI art. 289-I). A business
    buyer's draft keeps its name, address, SIREN and VAT number: the law requires its invoice, with them
    (CGI art. 289-I-1 and 242 nonies A), and the erasure's sweep spares it. Issued invoices are kept as issued.
    """
    kept = []
    for draft in db.session.query(InvoiceDraft).filter(InvoiceDraft.status == DraftStatus.PENDING):
        payload = draft.payload
        buyer = payload.get("buyer") or {}
        if buyer.get("user_id") != user_id:
            continue
        if buyer.get("siren") or buyer.get("vat_number"):
            kept.append(draft.id)
            continue
        payload["buyer"] = buyer_party(None).as_dict() | {"user_id": user_id}
        draft.payload_json = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    db.session.flush()
    return kept
