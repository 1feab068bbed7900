"""Who may see which invoice, the sellers' registers, the admins' journal, and their CSV exports.

CSV amounts are always positive, with a "Type" column (Facture / Avoir): a credit note reduces
what its invoice said. Decimal commas, ';' separators: a French spreadsheet opens them as is.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import or_
from sqlalchemy.orm import joinedload, selectinload

from marketplace.core.errors import NotAllowed, NotFound, ServiceError
from marketplace.csvexport import csv_text
from marketplace.extensions import db
from marketplace.invoicing.drafting import local_date
from marketplace.invoicing.models import DraftStatus, Invoice, InvoiceDraft, IssuerKind
from marketplace.members.models import College, User
from marketplace.members.services import require_admin
from marketplace.orders.models import Order

MAX_ROWS = 5000  # the CSV exports
INVOICES_PER_PAGE = 200  # the pages


def _seller_filter(user: User):
    """The invoices issued in this member's name (as a producer or as a courier)."""
    profile = getattr(user, "producer_profile", None)
    conditions = [(Invoice.issuer_kind == IssuerKind.COURIER) & (Invoice.courier_id == user.id)]
    if profile is not None:
        conditions.append((Invoice.issuer_kind == IssuerKind.PRODUCER) & (Invoice.producer_id == profile.id))
    return or_(*conditions)


def may_see(user: User, invoice: Invoice) -> bool:
    """The buyer, the seller in whose name it is, and the admins."""
    if user.is_admin or invoice.buyer_user_id == user.id:
        return True
    if invoice.issuer_kind == IssuerKind.COURIER:
        return invoice.courier_id == user.id
    profile = getattr(user, "producer_profile", None)
    return invoice.issuer_kind == IssuerKind.PRODUCER and profile is not None and invoice.producer_id == profile.id


def viewable_invoice(user: User, invoice_id: int) -> Invoice:
    """An invoice the user may download; anyone else is told it does not exist."""
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None or not may_see(user, invoice):
        raise NotFound(_("No such invoice."))
    return invoice


def order_invoices(user: User, order: Order) -> list[Invoice]:
    """The invoices and credit notes of an order that this user may see (its buyer sees them all)."""
    invoices = (db.session.query(Invoice).filter(Invoice.order_id == order.id)
                .order_by(Invoice.issued_at, Invoice.id).all())
    return [invoice for invoice in invoices if may_see(user, invoice)]


def order_waiting_count(order: Order) -> int:
    """Parts of the order whose invoice is not issued yet (the buyer is told it is coming)."""
    return (db.session.query(InvoiceDraft).filter(InvoiceDraft.order_id == order.id,
                                                  InvoiceDraft.status == DraftStatus.PENDING).count())


def parse_period(start: str | None, end: str | None) -> tuple[date | None, date | None]:
    """'YYYY-MM-DD' bounds typed in a filter (either may be blank); a wrong date is a clear refusal."""
    try:
        first = date.fromisoformat(start) if start else None
        last = date.fromisoformat(end) if end else None
    except ValueError:
        raise ServiceError(_("Dates are written YYYY-MM-DD."), "start") from None
    if first and last and first > last:
        raise ServiceError(_("The period ends before it starts."), "end")
    return first, last


def _utc(day: date) -> datetime:
    zone = ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "UTC")
    return datetime.combine(day, time.min, zone).astimezone(UTC).replace(tzinfo=None)


def _in_period(query, first: date | None, last: date | None):
    if first:
        query = query.filter(Invoice.issued_at >= _utc(first))
    if last:
        query = query.filter(Invoice.issued_at < _utc(last + timedelta(days=1)))
    return query


def _seller_register_query(user: User, first: date | None, last: date | None):
    if not (user.has_college(College.PRODUCER) or user.has_college(College.COURIER)):
        raise NotAllowed(_("The invoice register is for producers and couriers."))
    query = db.session.query(Invoice).filter(_seller_filter(user))
    return _in_period(query, first, last).order_by(Invoice.series_key, Invoice.number)


def seller_register(user: User, first: date | None = None, last: date | None = None) -> list[Invoice]:
    """A producer's or courier's register: every invoice and credit note issued in their name, in order."""
    return _seller_register_query(user, first, last).limit(MAX_ROWS).all()


def seller_register_page(user: User, first: date | None = None, last: date | None = None, page: int = 1,
                         per_page: int | None = None) -> Pagination:
    """One page of the seller's register (a count and one statement, the credited invoices joined)."""
    query = _seller_register_query(user, first, last).options(joinedload(Invoice.credited_invoice))
    return query.paginate(page=page, per_page=per_page or INVOICES_PER_PAGE, error_out=False)


def _received_query(user: User, first: date | None, last: date | None):
    query = db.session.query(Invoice).filter(Invoice.buyer_user_id == user.id)
    return _in_period(query, first, last).order_by(Invoice.issued_at.desc(), Invoice.id.desc())


def received_invoices(user: User, first: date | None = None, last: date | None = None) -> list[Invoice]:
    """The invoices addressed to this member (their purchases and the coop's fees)."""
    return _received_query(user, first, last).limit(MAX_ROWS).all()


def received_invoices_page(user: User, first: date | None = None, last: date | None = None, page: int = 1,
                           per_page: int | None = None) -> Pagination:
    """One page of the invoices addressed to this member (a count and one statement)."""
    query = _received_query(user, first, last).options(joinedload(Invoice.credited_invoice))
    return query.paginate(page=page, per_page=per_page or INVOICES_PER_PAGE, error_out=False)


def _euros(cents: int) -> str:
    return f"{Decimal(cents) / 100:.2f}".replace(".", ",")


def _kind(invoice: Invoice) -> str:
    return "Avoir" if invoice.is_credit_note else "Facture"


def register_csv(invoices: list[Invoice]) -> str:
    """One line per invoice or credit note, for the seller's accountant."""
    header = ["Numéro", "Type", "Date d'émission", "Date de vente", "Client", "SIREN client", "TVA client",
              "Commande", "Total HT", "TVA", "Total TTC", "Facture d'origine", "Motif"]
    rows = [[i.number_text, _kind(i), local_date(i.issued_at).isoformat(), i.sale_date.isoformat(), i.buyer_name,
             i.buyer_siren, i.buyer_vat_number, i.order.reference if i.order else "", _euros(i.total_ht_cents),
             _euros(i.total_vat_cents), _euros(i.total_ttc_cents),
             i.credited_invoice.number_text if i.credited_invoice else "", i.reason] for i in invoices]
    return csv_text(header, rows)


def journal(admin: User, first: date | None, last: date | None) -> list[Invoice]:
    """Every series' invoices and credit notes issued in the period (admins only)."""
    require_admin(admin)
    query = db.session.query(Invoice).options(selectinload(Invoice.vat_totals))
    return _in_period(query, first, last).order_by(Invoice.issued_at, Invoice.id).limit(50 * MAX_ROWS).all()


def journal_csv(invoices: list[Invoice]) -> str:
    """The sales journal: one line per invoice and VAT rate."""
    header = ["Date d'émission", "Numéro", "Série", "Type", "Vendeur", "SIRET vendeur", "Émise par la coopérative",
              "Client", "SIREN client", "Taux de TVA", "Catégorie TVA", "Base HT", "TVA", "Total TTC",
              "Facture d'origine"]
    rows = []
    for i in invoices:
        for rate in i.vat_totals:
            rows.append([local_date(i.issued_at).isoformat(), i.number_text, i.series_key, _kind(i), i.seller_name,
                         i.seller_siret, "autofacturation" if i.self_billed else ("mandat" if i.on_behalf else "non"),
                         i.buyer_name, i.buyer_siren, f"{Decimal(rate.vat_rate_bp) / 100:.2f}".replace(".", ","),
                         rate.vat_category, _euros(rate.ht_cents), _euros(rate.vat_cents), _euros(rate.ttc_cents),
                         i.credited_invoice.number_text if i.credited_invoice else ""])
    return csv_text(header, rows)


def waiting_drafts_page(admin: User, page: int = 1, per_page: int | None = None) -> Pagination:
    """Sales and credits not invoiced yet, with why: the admins' list to follow up, a page at a time, each with
    its order, producer and courier (a count and one statement)."""
    require_admin(admin)
    query = (db.session.query(InvoiceDraft).filter(InvoiceDraft.status == DraftStatus.PENDING)
             .options(joinedload(InvoiceDraft.order), joinedload(InvoiceDraft.producer),
                      joinedload(InvoiceDraft.courier))
             .order_by(InvoiceDraft.created_at, InvoiceDraft.id))
    return query.paginate(page=page, per_page=per_page or INVOICES_PER_PAGE, error_out=False)


def _seller_waiting_query(user: User):
    profile = getattr(user, "producer_profile", None)
    mine = InvoiceDraft.courier_id == user.id
    if profile is not None:
        mine = mine | (InvoiceDraft.producer_id == profile.id)
    return db.session.query(InvoiceDraft).filter(InvoiceDraft.status == DraftStatus.PENDING, mine)


def seller_waiting_count(user: User) -> int:
    """How many of the seller's sales and credits are not invoiced yet (counted by the database)."""
    return _seller_waiting_query(user).count()
