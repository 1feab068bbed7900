"""Invoice numbers: one gapless, strictly increasing series per issuer, allocated in the issuing transaction.

The counter row of a series is locked (SELECT ... FOR UPDATE on PostgreSQL; SQLite locks the whole
database for a writer) from the allocation until the issuing transaction ends. A concurrent issue
in the same series waits, then reads the incremented value: two invoices never share a number,
and a rolled-back issue rolls its increment back too, so no number is skipped. Numbers are never
reused: the counter only grows and issued invoices cannot be deleted.
"""
from __future__ import annotations

from sqlalchemy import select, update

from marketplace.extensions import db
from marketplace.invoicing.models import InvoiceCounter, IssuerKind


def series_key(issuer_kind: IssuerKind, issuer_id: int | None) -> str:
    """'producer:12', 'courier:7' or 'coop': the series an issuer's invoices and credit notes share."""
    if issuer_kind == IssuerKind.COOP:
        return "coop"
    if not issuer_id:
        raise ValueError("a producer's or courier's series needs their id")
    return f"{issuer_kind.value}:{issuer_id}"


def number_text(key: str, number: int) -> str:
    """The printed number: a prefix per series (P0012, L0007, C) and six digits, e.g. P0012-000042."""
    kind, _sep, ident = key.partition(":")
    prefix = {"producer": "P", "courier": "L", "coop": "C"}[kind]
    return f"{prefix}{int(ident):04d}-{number:06d}" if ident else f"{prefix}-{number:06d}"


def _ensure_counter(key: str) -> None:
    """Create the series' counter once, whoever comes first (INSERT ... ON CONFLICT DO NOTHING)."""
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    db.session.execute(insert(InvoiceCounter).values(series_key=key, last_number=0)
                       .on_conflict_do_nothing(index_elements=["series_key"]))


def allocate_number(key: str) -> int:
    """Take the next number of a series; the lock is held until the caller's transaction ends."""
    _ensure_counter(key)
    last = db.session.execute(select(InvoiceCounter.last_number).where(InvoiceCounter.series_key == key)
                              .with_for_update()).scalar_one()
    number = last + 1
    db.session.execute(update(InvoiceCounter).where(InvoiceCounter.series_key == key)
                       .values(last_number=number).execution_options(synchronize_session=False))
    return number
