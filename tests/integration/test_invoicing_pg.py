"""On the real PostgreSQL: concurrent issues in one series get 1..N with no gap; issued invoices cannot change."""
from __future__ import annotations

import threading

import pytest
import sqlalchemy.exc
from sqlalchemy import text

from marketplace.extensions import db
from marketplace.invoicing.drafting import save_draft
from marketplace.invoicing.issuing import issue_draft
from marketplace.invoicing.models import DraftStatus, Invoice, InvoiceCounter, InvoiceDraft, InvoiceKind, IssuerKind
from tests.factories import make_member
from tests.invoicing_fixtures import coop_can_invoice, invoicing_producer

pytestmark = pytest.mark.integration
CONCURRENT = 50


@pytest.fixture
def app_config():
    # Enough connections for the threads to really overlap (and wait on the series' row lock).
    return {"SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 10, "max_overflow": 20, "pool_timeout": 120}}


def _drafts(n: int) -> list[int]:
    coop_can_invoice()
    farm = invoicing_producer()
    buyer = make_member("buyer@test.coop", name="Marie Buyer")
    ids = []
    for i in range(n):
        payload = {"buyer": {"name": buyer.full_name, "user_id": buyer.id}, "sale_date": "2026-03-14",
                   "payment_note": "", "reference": f"test {i}",
                   "lines": [{"description": f"Basket {i}", "quantity_milli": 1000, "unit_code": "H87",
                              "ttc_cents": 100 + i, "vat_rate_bp": 550, "order_line_id": None}]}
        ids.append(save_draft(f"test:{i}", InvoiceKind.INVOICE, IssuerKind.PRODUCER, payload,
                              producer_id=farm.producer_profile.id).id)
    db.session.commit()
    return ids


def test_concurrent_issues_in_one_series_are_numbered_1_to_n_without_gap_or_duplicate(pg_app):
    ids = _drafts(CONCURRENT + 1)
    # An issue whose transaction rolls back uses no number: the next one still gets 1.
    issue_draft(db.session.get(InvoiceDraft, ids[-1]))
    db.session.rollback()
    assert db.session.query(Invoice).count() == 0

    start = threading.Barrier(CONCURRENT)
    errors: list[BaseException] = []

    def issue(draft_id: int) -> None:
        try:
            with pg_app.app_context():
                start.wait(timeout=120)
                assert issue_draft(db.session.get(InvoiceDraft, draft_id)) is not None
                db.session.commit()
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=issue, args=(draft_id,)) for draft_id in ids[:CONCURRENT]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert errors == [] and not any(t.is_alive() for t in threads)

    db.session.expire_all()
    invoices = db.session.query(Invoice).order_by(Invoice.number).all()
    assert [i.number for i in invoices] == list(range(1, CONCURRENT + 1))
    assert len({i.number_text for i in invoices}) == CONCURRENT and len({i.source_key for i in invoices}) == CONCURRENT
    # Numbers follow the order of issue: never an earlier time on a later number.
    assert [i.issued_at for i in invoices] == sorted(i.issued_at for i in invoices)
    assert db.session.get(InvoiceCounter, invoices[0].series_key).last_number == CONCURRENT
    assert all(d.status == DraftStatus.ISSUED for d in db.session.query(InvoiceDraft).filter(
        InvoiceDraft.id.in_(ids[:CONCURRENT])))

    # The draft left over is issued next, as number N + 1.
    assert issue_draft(db.session.get(InvoiceDraft, ids[-1])).number == CONCURRENT + 1
    db.session.commit()


def test_the_database_refuses_to_update_or_delete_an_issued_invoice(pg_app):
    [draft_id] = _drafts(1)
    invoice = issue_draft(db.session.get(InvoiceDraft, draft_id))
    db.session.commit()
    for statement in ("UPDATE invoices SET total_ttc_cents = 1, total_ht_cents = 1",
                      "UPDATE invoice_lines SET description = 'rewritten'",
                      "UPDATE invoice_vat_totals SET vat_cents = 0, ht_cents = ttc_cents",
                      "DELETE FROM invoice_lines", "DELETE FROM invoices"):
        with pytest.raises(sqlalchemy.exc.DBAPIError, match="immutable"):
            with db.engine.begin() as conn:
                conn.execute(text(statement))
    db.session.expire_all()
    kept = db.session.get(Invoice, invoice.id)
    assert kept.total_ttc_cents == 100 and kept.lines[0].description == "Basket 0"
