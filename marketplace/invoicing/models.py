"""Invoices and credit notes: drafts waiting to be issued, numbering counters, mandates, documents.

An issued invoice (its lines, VAT totals and stored document) is never changed or deleted: the
mapper refuses it, and so does the database (a trigger on PostgreSQL and on SQLite), the way the
audit log is protected. Any later change is a credit note referencing it.
"""
from __future__ import annotations

import enum
import json

from sqlalchemy import DDL, event

from marketplace.core.types import enum_type
from marketplace.extensions import db
from marketplace.timeutil import utcnow


class InvoiceKind(str, enum.Enum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


class IssuerKind(str, enum.Enum):
    PRODUCER = "producer"  # sales of goods: issued by the coop in the producer's name (billing mandate)
    COURIER = "courier"    # delivery sold by a self-employed courier, and their self-billed pay
    COOP = "coop"          # the coop's own series: members' fees, delivery the coop sells


class MandateParty(str, enum.Enum):
    PRODUCER = "producer"
    COURIER = "courier"


class DraftStatus(str, enum.Enum):
    PENDING = "pending"   # waiting: see blocked_reason
    ISSUED = "issued"
    VOID = "void"         # a credit note with nothing left to credit


class BlockedReason(str, enum.Enum):
    NONE = ""                        # not tried yet
    NO_MANDATE = "no_mandate"        # the seller has not accepted the billing mandate
    SELLER_IDENTITY = "seller_identity"  # legal name, address, SIRET or VAT status missing
    COOP_IDENTITY = "coop_identity"  # the coop's SIRET (or VAT number) is missing in its settings
    ORIGINAL_PENDING = "original_pending"  # a credit note whose invoice is not issued yet
    ERROR = "error"                  # an unexpected error: retried by the beat task


class BillingMandate(db.Model):
    """A seller's acceptance of the billing mandate (CGI art. 289-I-2): which text, when, by whom, from where."""

    __tablename__ = "billing_mandates"
    id = db.Column(db.Integer, primary_key=True)
    party = db.Column(enum_type(MandateParty), nullable=False)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=False, index=True)  # the seller
    version = db.Column(db.Integer, nullable=False)
    text = db.Column(db.Text, nullable=False)   # the exact text accepted
    accepted_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    accepted_by_id = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=False)
    accepted_ip = db.Column(db.String(64), nullable=False, default="")
    revoked_at = db.Column(db.DateTime)

    user = db.relationship("User", foreign_keys=[user_id])
    accepted_by = db.relationship("User", foreign_keys=[accepted_by_id])


class InvoiceCounter(db.Model):
    """The last number issued in one series; its row is locked by the issuing transaction."""

    __tablename__ = "invoice_counters"
    series_key = db.Column(db.String(40), primary_key=True)  # "producer:12", "courier:7", "coop"
    last_number = db.Column(db.Integer, nullable=False, default=0)

    __table_args__ = (db.CheckConstraint("last_number >= 0", name="counter_not_negative"),)


class InvoiceDraft(db.Model):
    """What must be invoiced (or credited), captured when the amount became final; issued once possible."""

    __tablename__ = "invoice_drafts"
    id = db.Column(db.Integer, primary_key=True)
    source_key = db.Column(db.String(120), nullable=False, unique=True)  # "part:12", "credit:line:40", ...
    kind = db.Column(enum_type(InvoiceKind), nullable=False)
    issuer_kind = db.Column(enum_type(IssuerKind), nullable=False)
    producer_id = db.Column(db.Integer, db.ForeignKey("producers.id"), index=True)
    courier_id = db.Column(db.Integer, db.ForeignKey("users.id"), index=True)
    original_key = db.Column(db.String(120))  # credit notes: the source_key of the invoice credited
    order_id = db.Column(db.Integer, db.ForeignKey("orders.id"), index=True)
    part_id = db.Column(db.Integer, db.ForeignKey("order_parts.id"))
    payload_json = db.Column(db.Text, nullable=False)
    status = db.Column(enum_type(DraftStatus), nullable=False, default=DraftStatus.PENDING, index=True)
    blocked_reason = db.Column(enum_type(BlockedReason), nullable=False, default=BlockedReason.NONE)
    blocked_detail = db.Column(db.Text, nullable=False, default="")
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    invoice_id = db.Column(db.Integer, db.ForeignKey("invoices.id"))

    producer = db.relationship("ProducerProfile")
    courier = db.relationship("User", foreign_keys=[courier_id])
    order = db.relationship("Order")
    invoice = db.relationship("Invoice", foreign_keys=[invoice_id])

    @property
    def payload(self) -> dict:
        return json.loads(self.payload_json)

    @property
    def total_ttc_cents(self) -> int:
        """What the draft asks for (a credit note crediting 'all that remains' says 0 until issued)."""
        payload = self.payload
        return sum(item["ttc_cents"] for item in payload.get("lines", payload.get("credits", [])))


class Invoice(db.Model):
    """An issued invoice or credit note, with the seller's and buyer's identity as they were then."""

    __tablename__ = "invoices"
    id = db.Column(db.Integer, primary_key=True)
    kind = db.Column(enum_type(InvoiceKind), nullable=False)
    series_key = db.Column(db.String(40), nullable=False)
    number = db.Column(db.Integer, nullable=False)
    number_text = db.Column(db.String(40), nullable=False, unique=True)
    source_key = db.Column(db.String(120), nullable=False, unique=True)
    issued_at = db.Column(db.DateTime, nullable=False, index=True)
    sale_date = db.Column(db.Date, nullable=False)
    issuer_kind = db.Column(enum_type(IssuerKind), nullable=False)
    producer_id = db.Column(db.Integer, db.ForeignKey("producers.id"), index=True)
    courier_id = db.Column(db.Integer, db.ForeignKey("users.id"), index=True)
    mandate_id = db.Column(db.Integer, db.ForeignKey("billing_mandates.id"))
    self_billed = db.Column(db.Boolean, nullable=False, default=False)  # autofacturation: the coop is the buyer
    credited_invoice_id = db.Column(db.Integer, db.ForeignKey("invoices.id"))
    reason = db.Column(db.Text, nullable=False, default="")
    order_id = db.Column(db.Integer, db.ForeignKey("orders.id"), index=True)
    part_id = db.Column(db.Integer, db.ForeignKey("order_parts.id"), index=True)
    # Seller (in whose name the invoice is) and, under a mandate, the coop that issues it.
    seller_name = db.Column(db.String(200), nullable=False)
    seller_legal_form = db.Column(db.String(200), nullable=False, default="")
    seller_address = db.Column(db.String(300), nullable=False, default="")
    seller_postcode = db.Column(db.String(16), nullable=False, default="")
    seller_town = db.Column(db.String(120), nullable=False, default="")
    seller_siret = db.Column(db.String(14), nullable=False, default="")
    seller_vat_number = db.Column(db.String(20), nullable=False, default="")
    seller_registration = db.Column(db.String(200), nullable=False, default="")
    seller_vat_franchise = db.Column(db.Boolean, nullable=False, default=False)
    issuer_name = db.Column(db.String(200), nullable=False, default="")  # the coop, when not the seller
    issuer_address = db.Column(db.String(300), nullable=False, default="")
    # Buyer, as the order or account said at the time of sale.
    buyer_user_id = db.Column(db.Integer, db.ForeignKey("users.id"), index=True)
    buyer_name = db.Column(db.String(200), nullable=False)
    buyer_address = db.Column(db.String(300), nullable=False, default="")
    buyer_postcode = db.Column(db.String(16), nullable=False, default="")
    buyer_town = db.Column(db.String(120), nullable=False, default="")
    buyer_siren = db.Column(db.String(9), nullable=False, default="")
    buyer_vat_number = db.Column(db.String(20), nullable=False, default="")
    total_ht_cents = db.Column(db.Integer, nullable=False)
    total_vat_cents = db.Column(db.Integer, nullable=False)
    total_ttc_cents = db.Column(db.Integer, nullable=False)
    currency = db.Column(db.String(3), nullable=False, default="EUR")
    payment_note = db.Column(db.Text, nullable=False, default="")

    __table_args__ = (
        db.UniqueConstraint("series_key", "number", name="uq_invoices_series_number"),
        db.CheckConstraint("number > 0", name="number_positive"),
        db.CheckConstraint("total_ht_cents + total_vat_cents = total_ttc_cents", name="totals_add_up"),
        db.CheckConstraint("total_ttc_cents > 0", name="total_positive"),
    )

    producer = db.relationship("ProducerProfile")
    courier = db.relationship("User", foreign_keys=[courier_id])
    buyer = db.relationship("User", foreign_keys=[buyer_user_id])
    mandate = db.relationship("BillingMandate")
    credited_invoice = db.relationship("Invoice", remote_side=[id])
    order = db.relationship("Order")
    lines = db.relationship("InvoiceLine", order_by="InvoiceLine.position", back_populates="invoice")
    vat_totals = db.relationship("InvoiceVatTotal", order_by="InvoiceVatTotal.vat_rate_bp",
                                 back_populates="invoice")

    @property
    def is_credit_note(self) -> bool:
        return self.kind == InvoiceKind.CREDIT_NOTE

    @property
    def is_b2b(self) -> bool:
        return bool(self.buyer_siren or self.buyer_vat_number)

    @property
    def on_behalf(self) -> bool:
        """Issued by the coop in the seller's name (billing mandate or self-billing)."""
        return self.issuer_kind != IssuerKind.COOP


class InvoiceLine(db.Model):
    __tablename__ = "invoice_lines"
    id = db.Column(db.Integer, primary_key=True)
    invoice_id = db.Column(db.Integer, db.ForeignKey("invoices.id"), nullable=False, index=True)
    position = db.Column(db.Integer, nullable=False)
    description = db.Column(db.String(300), nullable=False)
    quantity_milli = db.Column(db.Integer, nullable=False)   # thousandths: 1 250 = 1.25 kg, 3 000 = 3 pieces
    unit_code = db.Column(db.String(3), nullable=False)      # UN/ECE rec. 20: H87 piece, KGM, LTR
    unit_price_ht_e4 = db.Column(db.BigInteger, nullable=False)  # ten-thousandths of a euro, excl. VAT
    vat_rate_bp = db.Column(db.Integer, nullable=False)
    vat_category = db.Column(db.String(2), nullable=False)   # S standard, Z zero rate, E exempt (franchise)
    ht_cents = db.Column(db.Integer, nullable=False)
    vat_cents = db.Column(db.Integer, nullable=False)
    ttc_cents = db.Column(db.Integer, nullable=False)
    order_line_id = db.Column(db.Integer, db.ForeignKey("order_lines.id"))
    credits_line_id = db.Column(db.Integer, db.ForeignKey("invoice_lines.id"))  # a credit note's line: what it credits

    __table_args__ = (db.CheckConstraint("ht_cents + vat_cents = ttc_cents", name="line_adds_up"),)

    invoice = db.relationship("Invoice", back_populates="lines")


class InvoiceVatTotal(db.Model):
    """Totals per VAT rate: the base excluding VAT, the VAT and the total including VAT."""

    __tablename__ = "invoice_vat_totals"
    id = db.Column(db.Integer, primary_key=True)
    invoice_id = db.Column(db.Integer, db.ForeignKey("invoices.id"), nullable=False, index=True)
    vat_rate_bp = db.Column(db.Integer, nullable=False)
    vat_category = db.Column(db.String(2), nullable=False)
    ht_cents = db.Column(db.Integer, nullable=False)
    vat_cents = db.Column(db.Integer, nullable=False)
    ttc_cents = db.Column(db.Integer, nullable=False)

    __table_args__ = (db.UniqueConstraint("invoice_id", "vat_rate_bp", "vat_category", name="uq_invoice_vat_rate"),
                      db.CheckConstraint("ht_cents + vat_cents = ttc_cents", name="rate_adds_up"))

    invoice = db.relationship("Invoice", back_populates="vat_totals")


class InvoiceDocument(db.Model):
    """The Factur-X PDF of an invoice, rendered once and kept as issued."""

    __tablename__ = "invoice_documents"
    invoice_id = db.Column(db.Integer, db.ForeignKey("invoices.id"), primary_key=True)
    pdf = db.Column(db.LargeBinary, nullable=False)
    sha256 = db.Column(db.String(64), nullable=False)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)


class BuyerIdentity(db.Model):
    """A member who buys for a business: the name, SIREN and VAT number printed on their invoices."""

    __tablename__ = "buyer_identities"
    user_id = db.Column(db.Integer, db.ForeignKey("users.id"), primary_key=True)
    business_name = db.Column(db.String(200), nullable=False, default="")
    siren = db.Column(db.String(9), nullable=False, default="")
    vat_number = db.Column(db.String(20), nullable=False, default="")
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow, onupdate=utcnow)


# ---------------------------------------------------------------- immutability

IMMUTABLE_TABLES = ("invoices", "invoice_lines", "invoice_vat_totals", "invoice_documents")
IMMUTABLE_MODELS = (Invoice, InvoiceLine, InvoiceVatTotal, InvoiceDocument)


class IssuedInvoiceImmutable(RuntimeError):
    """Someone tried to change or delete an issued invoice: issue a credit note instead."""


def _refuse(mapper, connection, target):
    raise IssuedInvoiceImmutable("An issued invoice cannot be changed or deleted: issue a credit note.")


for _model in IMMUTABLE_MODELS:
    event.listen(_model, "before_update", _refuse)
    event.listen(_model, "before_delete", _refuse)
    # Kept as issued for ten years (C. com. L123-22; GDPR art. 17(3)(b)): erasure's sweep leaves them alone.
    _model.__table__.info["kept_by_law"] = True

# The same rule in the database. The migration runs these statements too (autogenerate does not see them).
PG_FUNCTION = """
CREATE OR REPLACE FUNCTION invoicing_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'issued invoices are immutable: issue a credit note';
END;
$$ LANGUAGE plpgsql
"""


def pg_trigger(table: str) -> str:
    return (f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION invoicing_immutable()")


def sqlite_triggers(table: str) -> list[str]:
    return [f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, 'issued invoices are immutable ({table})'); END"
            for verb in ("UPDATE", "DELETE")]


event.listen(Invoice.__table__, "after_create", DDL(PG_FUNCTION).execute_if(dialect="postgresql"))
for _model in IMMUTABLE_MODELS:
    _table = _model.__table__
    event.listen(_table, "after_create", DDL(pg_trigger(_table.name)).execute_if(dialect="postgresql"))
    for _statement in sqlite_triggers(_table.name):
        event.listen(_table, "after_create", DDL(_statement).execute_if(dialect="sqlite"))
