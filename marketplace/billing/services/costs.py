"""The cost ledger: the coop's running costs, their receipts, and Stripe's processing fees."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func

from marketplace.billing.models import CostCategory, CostEntry
from marketplace.billing.services.common import _is_int
from marketplace.billing.services.periods import _open_period_for, coop_today
from marketplace.core.errors import Conflict, NotFound, ServiceError
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.members.services import require_admin
from marketplace.money import MAX_CENTS
from marketplace.payments import services as payments
from marketplace.uploads import detect_type

RECEIPT_TYPES = ("pdf", "png", "jpg")



@dataclass(frozen=True)
class CostInput:
    category: CostCategory | str
    amount_cents: int
    incurred_on: date
    vat_cents: int = 0
    supplier: str = ""
    note: str = ""


def _validate_cost(data: CostInput) -> CostCategory:
    try:
        category = CostCategory(getattr(data.category, "value", data.category))
    except ValueError:
        raise ServiceError(_("Choose a cost category from the list."), "category") from None
    if not _is_int(data.amount_cents):
        raise ServiceError(_("The amount must be a number of euros, e.g. 12.50."), "amount")
    if data.amount_cents <= 0:
        raise ServiceError(_("A cost must be greater than zero. To correct a cost, delete it while its "
                             "period is open."), "amount")
    if data.amount_cents > MAX_CENTS:
        raise ServiceError(_("This amount is too large."), "amount")
    if not _is_int(data.vat_cents) or data.vat_cents < 0:
        raise ServiceError(_("The VAT must be zero or a positive amount."), "vat")
    if data.vat_cents > data.amount_cents:
        raise ServiceError(_("The VAT cannot exceed the amount (VAT included)."), "vat")
    if not isinstance(data.incurred_on, date):
        raise ServiceError(_("Enter the date of the cost."), "incurred_on")
    if data.incurred_on > coop_today():
        raise ServiceError(_("A cost cannot be dated in the future."), "incurred_on")
    if len(data.supplier) > 200 or len(data.note) > 4000:
        raise ServiceError(_("The supplier or the note is too long."), "note")
    return category


def _receipts_folder() -> Path:
    folder = Path(current_app.config.get("BILLING_RECEIPTS_FOLDER")
                  or Path(current_app.instance_path) / "receipts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def store_receipt(data: bytes) -> str:
    """Check an uploaded receipt (PDF, PNG or JPEG, size) and store it outside the public uploads."""
    limit = current_app.config.get("MAX_PHOTO_BYTES", 5 * 1024 * 1024)
    if len(data) > limit:
        raise ServiceError(_("The receipt is too large (%(mb)d MB at most).", mb=limit // (1024 * 1024)),
                           "receipt")
    detected = detect_type(data[:16])
    extension = detected[1] if detected else None
    if extension not in RECEIPT_TYPES:
        raise ServiceError(_("Upload the receipt as a PDF, PNG or JPEG file."), "receipt")
    name = f"{uuid.uuid4().hex}.{extension}"
    (_receipts_folder() / name).write_bytes(data)
    return name


def record_cost(admin: User, data: CostInput, receipt: bytes | None = None,
                receipt_name: str = "") -> CostEntry:
    """Record one operating cost; if its month is closed it lands in the next open period, flagged."""
    require_admin(admin)
    category = _validate_cost(data)
    period, adjusted = _open_period_for(data.incurred_on, lock=True)
    entry = CostEntry(period_id=period.id, category=category, amount_cents=data.amount_cents,
                      vat_cents=data.vat_cents, supplier=data.supplier.strip(), incurred_on=data.incurred_on,
                      note=data.note.strip(), adjusts_period_id=adjusted.id if adjusted else None,
                      created_by_id=admin.id)
    if receipt:
        entry.receipt_filename = store_receipt(receipt)
        entry.receipt_original_name = Path(receipt_name or "receipt").name[:200]
    db.session.add(entry)
    db.session.flush()
    return entry


def delete_cost(admin: User, cost_id: int) -> None:
    """Remove a cost recorded by mistake; only while its period is open."""
    require_admin(admin)
    entry = db.session.get(CostEntry, cost_id)
    if entry is None:
        raise NotFound(_("No such cost."))
    db.session.refresh(entry.period, with_for_update=True)
    if entry.period.is_closed:
        raise Conflict(_("This cost belongs to a closed period: closed periods never change. Record a "
                         "correction in the current period instead."))
    db.session.delete(entry)
    db.session.flush()


def receipt_file(admin: User, cost_id: int) -> tuple[Path, str]:
    """Path and download name of a cost's receipt (admins only)."""
    require_admin(admin)
    entry = db.session.get(CostEntry, cost_id)
    if entry is None or not entry.receipt_filename:
        raise NotFound(_("No receipt for this cost."))
    return _receipts_folder() / entry.receipt_filename, entry.receipt_original_name or entry.receipt_filename


def sync_processing_fees(start: datetime, end: datetime) -> int:
    """Record Stripe processing fees between start and end as costs, once per Stripe id."""
    fees = list(payments.processing_fees_between(start, end))
    if not fees:
        return 0
    ids = [str(stripe_id) for _day, _cents, stripe_id in fees]
    known = {row[0] for row in db.session.query(CostEntry.stripe_id).filter(CostEntry.stripe_id.in_(ids))}
    added = 0
    for day, cents, stripe_id in fees:
        if str(stripe_id) in known or not _is_int(cents) or cents <= 0:
            continue
        day = day.date() if isinstance(day, datetime) else day
        period, adjusted = _open_period_for(min(day, coop_today()))
        db.session.add(CostEntry(period_id=period.id, category=CostCategory.PAYMENT_PROCESSING, amount_cents=cents,
                                 vat_cents=0, supplier="Stripe", incurred_on=day, stripe_id=str(stripe_id),
                                 note=_("Card payment processing fee (recorded automatically)"),
                                 adjusts_period_id=adjusted.id if adjusted else None))
        known.add(str(stripe_id))
        added += 1
    db.session.flush()
    return added


def costs_by_category(period_id: int) -> list[tuple[str, int]]:
    rows = (db.session.query(CostEntry.category, func.sum(CostEntry.amount_cents))
            .filter(CostEntry.period_id == period_id).group_by(CostEntry.category).all())
    totals = {getattr(c, "value", c): int(t) for c, t in rows}
    return [(c.value, totals[c.value]) for c in CostCategory if c.value in totals]
