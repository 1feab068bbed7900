"""Issuing: a draft becomes a numbered, immutable invoice once its seller can be invoiced for.

A producer's or courier's invoices need their accepted billing mandate and a complete identity;
the coop's need its SIRET (and VAT number) in the settings. Until then the draft waits, flagged
to the admins with the reason, and is issued by the catch-up (on acceptance, or the beat task).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import current_app

from marketplace.core.mail import send_email
from marketplace.extensions import db
from marketplace.invoicing import amounts, emails
from marketplace.invoicing.credit_notes import credit_lines
from marketplace.invoicing.mandate import accept_mandate, mandate_in_force, party_of
from marketplace.invoicing.models import (
    BillingMandate,
    BlockedReason,
    DraftStatus,
    Invoice,
    InvoiceDraft,
    InvoiceKind,
    InvoiceLine,
    InvoiceVatTotal,
    IssuerKind,
    MandateParty,
)
from marketplace.invoicing.numbering import allocate_number, number_text, series_key
from marketplace.invoicing.parties import (
    Party,
    coop_gaps,
    coop_party,
    courier_identity,
    producer_identity,
    seller_gaps,
    seller_party,
)
from marketplace.members.models import User
from marketplace.tasking import enqueue_after_commit
from marketplace.timeutil import utcnow


class Blocked(Exception):
    def __init__(self, reason: BlockedReason, detail: str = ""):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


@dataclass
class Seller:
    party: Party
    mandate: BillingMandate | None
    seller_user_id: int | None


def _seller(draft: InvoiceDraft) -> Seller:
    """Who sells, or why they cannot be invoiced for yet."""
    if draft.issuer_kind == IssuerKind.COOP:
        if gaps := coop_gaps():
            raise Blocked(BlockedReason.COOP_IDENTITY, ", ".join(gaps))
        return Seller(coop_party(), None, None)
    if draft.issuer_kind == IssuerKind.PRODUCER:
        identity, party = producer_identity(draft.producer_id), MandateParty.PRODUCER
        user_id = identity.user_id if identity is not None else None
    else:
        identity, party, user_id = courier_identity(draft.courier_id), MandateParty.COURIER, draft.courier_id
    mandate = mandate_in_force(party, user_id) if user_id else None
    if mandate is None:
        raise Blocked(BlockedReason.NO_MANDATE)
    if gaps := seller_gaps(identity):
        raise Blocked(BlockedReason.SELLER_IDENTITY, ", ".join(gaps))
    if draft.payload.get("self_billed") and (gaps := coop_gaps()):
        raise Blocked(BlockedReason.COOP_IDENTITY, ", ".join(gaps))
    return Seller(seller_party(identity), mandate, user_id)


def _issuer_id(draft: InvoiceDraft) -> int | None:
    return {IssuerKind.PRODUCER: draft.producer_id, IssuerKind.COURIER: draft.courier_id}.get(draft.issuer_kind)


def _new_invoice(draft: InvoiceDraft, seller: Party, buyer: Party, buyer_user_id: int | None, lines: list[dict],
                 **fields) -> Invoice:
    """Number and write the invoice: the series' counter stays locked until the transaction ends."""
    split = amounts.breakdown([amounts.LineInput(line["ttc_cents"], line["vat_rate_bp"]) for line in lines],
                              franchise=seller.vat_franchise)
    key = series_key(draft.issuer_kind, _issuer_id(draft))
    number = allocate_number(key)
    coop = coop_party()
    invoice = Invoice(
        kind=draft.kind, series_key=key, number=number, number_text=number_text(key, number),
        source_key=draft.source_key, issued_at=utcnow(), issuer_kind=draft.issuer_kind,
        producer_id=draft.producer_id, courier_id=draft.courier_id, order_id=draft.order_id, part_id=draft.part_id,
        seller_name=seller.name, seller_legal_form=seller.legal_form, seller_address=seller.address,
        seller_postcode=seller.postcode, seller_town=seller.town, seller_siret=seller.siret,
        seller_vat_number=seller.vat_number, seller_registration=seller.registration,
        seller_vat_franchise=seller.vat_franchise,
        issuer_name=coop.name if draft.issuer_kind != IssuerKind.COOP else "",
        issuer_address=", ".join(p for p in (coop.address, f"{coop.postcode} {coop.town}".strip()) if p)
        if draft.issuer_kind != IssuerKind.COOP else "",
        buyer_user_id=buyer_user_id, buyer_name=buyer.name or "—", buyer_address=buyer.address,
        buyer_postcode=buyer.postcode, buyer_town=buyer.town, buyer_siren=buyer.siren,
        buyer_vat_number=buyer.vat_number, total_ht_cents=split.ht_cents, total_vat_cents=split.vat_cents,
        total_ttc_cents=split.ttc_cents, currency=current_app.config.get("COOP_CURRENCY", "EUR")[:3].upper(),
        **fields)
    for position, (line, amount) in enumerate(zip(lines, split.lines, strict=False), start=1):
        invoice.lines.append(InvoiceLine(
            position=position, description=line["description"][:300], quantity_milli=line["quantity_milli"],
            unit_code=line["unit_code"], vat_rate_bp=amount.vat_rate_bp, vat_category=amount.category,
            unit_price_ht_e4=amounts.unit_price_ht_e4(amount.ttc_cents, line["quantity_milli"], amount.vat_cents),
            ht_cents=amount.ht_cents, vat_cents=amount.vat_cents, ttc_cents=amount.ttc_cents,
            order_line_id=line.get("order_line_id"), credits_line_id=line.get("credits_line_id")))
    for rate in split.rates:
        invoice.vat_totals.append(InvoiceVatTotal(vat_rate_bp=rate.vat_rate_bp, vat_category=rate.category,
                                                  ht_cents=rate.ht_cents, vat_cents=rate.vat_cents,
                                                  ttc_cents=rate.ttc_cents))
    db.session.add(invoice)
    db.session.flush()
    return invoice


def _issue_invoice(draft: InvoiceDraft, seller: Seller) -> Invoice:
    payload = draft.payload
    if payload.get("self_billed"):
        buyer, buyer_user_id = coop_party(), None
    else:
        data = {k: v for k, v in payload["buyer"].items() if k in Party.__dataclass_fields__}
        buyer, buyer_user_id = Party(**data), payload["buyer"].get("user_id")
    return _new_invoice(draft, seller.party, buyer, buyer_user_id, payload["lines"],
                        sale_date=date.fromisoformat(payload["sale_date"]),
                        mandate_id=seller.mandate.id if seller.mandate else None,
                        self_billed=bool(payload.get("self_billed")), payment_note=payload.get("payment_note", ""))


def _original(draft: InvoiceDraft) -> Invoice:
    """The issued invoice a credit note corrects, or why the credit note must wait."""
    original = db.session.query(Invoice).filter_by(source_key=draft.original_key).one_or_none()
    if original is None:
        raise Blocked(BlockedReason.ORIGINAL_PENDING, draft.original_key or "")
    return original


def _issue_credit_note(draft: InvoiceDraft, original: Invoice) -> Invoice | None:
    lines = credit_lines(draft.payload, original)
    if not lines:
        return None
    seller = Party(name=original.seller_name, legal_form=original.seller_legal_form, address=original.seller_address,
                   postcode=original.seller_postcode, town=original.seller_town, siret=original.seller_siret,
                   siren=original.seller_siret[:9], vat_number=original.seller_vat_number,
                   registration=original.seller_registration, vat_franchise=original.seller_vat_franchise)
    buyer = Party(name=original.buyer_name, address=original.buyer_address, postcode=original.buyer_postcode,
                  town=original.buyer_town, siren=original.buyer_siren, vat_number=original.buyer_vat_number)
    return _new_invoice(draft, seller, buyer, original.buyer_user_id, lines, sale_date=original.sale_date,
                        mandate_id=original.mandate_id, self_billed=original.self_billed,
                        credited_invoice_id=original.id, reason=draft.payload.get("reason", ""),
                        payment_note=draft.payload.get("payment_note", ""))


def issue_draft(draft: InvoiceDraft) -> Invoice | None:
    """Issue a pending draft if its seller can be invoiced for (returns the new invoice); else record why it waits."""
    if draft.status != DraftStatus.PENDING:
        return None
    try:  # checked before writing anything: a waiting draft leaves the transaction untouched
        basis = _original(draft) if draft.kind == InvoiceKind.CREDIT_NOTE else _seller(draft)
    except Blocked as blocked:
        _mark_blocked(draft, blocked.reason, blocked.detail)
        return None
    with db.session.begin_nested():  # an unexpected error takes back the number and every row
        invoice = (_issue_credit_note(draft, basis) if draft.kind == InvoiceKind.CREDIT_NOTE
                   else _issue_invoice(draft, basis))
    if invoice is None:
        draft.status, draft.blocked_reason, draft.blocked_detail = DraftStatus.VOID, BlockedReason.NONE, ""
        return None
    draft.status, draft.invoice_id = DraftStatus.ISSUED, invoice.id
    draft.blocked_reason, draft.blocked_detail = BlockedReason.NONE, ""
    db.session.flush()
    enqueue_after_commit("invoicing.render_document", [invoice.id], dedup_key=f"invoice-document:{invoice.id}")
    return invoice


def _mark_blocked(draft: InvoiceDraft, reason: BlockedReason, detail: str) -> None:
    first = draft.blocked_reason != reason
    draft.blocked_reason, draft.blocked_detail = reason, detail[:1000]
    db.session.flush()
    if first and reason in (BlockedReason.NO_MANDATE, BlockedReason.SELLER_IDENTITY):
        _ask_seller(draft, reason)


def _ask_seller(draft: InvoiceDraft, reason: BlockedReason) -> None:
    """Tell the seller once (their first waiting sale) what to do for their sales to be invoiced."""
    others = (db.session.query(InvoiceDraft.id)
              .filter(InvoiceDraft.status == DraftStatus.PENDING, InvoiceDraft.id != draft.id,
                      InvoiceDraft.blocked_reason.in_([BlockedReason.NO_MANDATE, BlockedReason.SELLER_IDENTITY]),
                      InvoiceDraft.producer_id == draft.producer_id if draft.producer_id
                      else InvoiceDraft.courier_id == draft.courier_id).first())
    user_id = draft.producer.user_id if draft.producer_id else draft.courier_id
    user = db.session.get(User, user_id) if user_id else None
    if others is not None or user is None:
        return
    send_email(user, emails.sales_waiting_for_invoices, no_mandate=reason == BlockedReason.NO_MANDATE)


def pending_drafts(*, producer_id: int | None = None, courier_id: int | None = None) -> list[InvoiceDraft]:
    """Waiting drafts (of one seller if given): invoices first, then credit notes, oldest first."""
    query = db.session.query(InvoiceDraft).filter(InvoiceDraft.status == DraftStatus.PENDING)
    if producer_id is not None:
        query = query.filter(InvoiceDraft.producer_id == producer_id)
    if courier_id is not None:
        query = query.filter(InvoiceDraft.courier_id == courier_id)
    return sorted(query.all(), key=lambda d: (d.kind == InvoiceKind.CREDIT_NOTE, d.id))


def issue_pending(*, producer_id: int | None = None, courier_id: int | None = None) -> list[Invoice]:
    """Issue every waiting draft that can be issued now (the catch-up); safe to run twice."""
    issued = []
    for draft in pending_drafts(producer_id=producer_id, courier_id=courier_id):
        try:
            invoice = issue_draft(draft)
        except Exception as exc:  # one broken draft must not hold back the others: flagged, retried
            current_app.logger.exception("invoicing: draft %s could not be issued", draft.id)
            _mark_blocked(draft, BlockedReason.ERROR, str(exc))
            continue
        if invoice is not None:
            issued.append(invoice)
    return issued


def accept_mandate_and_catch_up(user: User, version: int, ip_address: str) -> list[Invoice]:
    """The seller accepts the billing mandate; their sales waiting for it are invoiced at once."""
    mandate = accept_mandate(user, version, ip_address)
    if party_of(user) == MandateParty.PRODUCER:
        profile = user.producer_profile
        return issue_pending(producer_id=profile.id) if profile is not None else []
    return issue_pending(courier_id=mandate.user_id)
