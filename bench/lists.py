"""List pages in-process: 200 rows rendered, milliseconds and statements per page (no server, SQLite).

    python bench/lists.py              # 200 orders (two producers each), 200 members; each page 15 times
    python bench/lists.py --rows 400   # more rows
    python bench/lists.py --only disputes reconciliation   # only the pages whose name holds one of these words
    python bench/lists.py --profile /admin/orders [--sort tottime] [--callers format_money]
    python bench/lists.py --profile /producer/orders --as farm0@bench.coop

Builds a throwaway SQLite shop in a temporary directory with the test factories and the shop's own services
(carts and checkouts), logs in the admin and a producer through the test client, then renders each list page
and prints the median wall and CPU milliseconds per rendering, the statements it ran and the rows shown.
The invoicing rows (an invoice of the first farm per order, a credit note on every tenth, a draft waiting per
order for the other farm), the sent e-mails and the extra products are written directly (see `_invoices`), and so
are the card money and a dispute per order (`_card_money_and_disputes`); a contract has every buyer subscribed
(`_contract`, through the services).
Target (issue 15): 200 rows in under 30 ms. A measurement, not a test: nothing here fails on a slow machine.
"""
from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def build(tmp: Path, rows: int):
    from marketplace import create_app
    from marketplace.extensions import db

    app = create_app({"TESTING": True, "SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'l.db'}",
                      "WTF_CSRF_ENABLED": False, "UPLOAD_FOLDER": str(tmp / "uploads"), "MAIL_SERVER": "",
                      "STRIPE_SECRET_KEY": "", "BABEL_DEFAULT_LOCALE": "en", "PASSWORD_HASH_CHEAP": True,
                      "REDIS_URL": "", "INSTANCE_PATH": str(tmp),
                      "CELERY": {"task_always_eager": True, "broker_url": "memory://",
                                 "result_backend": "cache+memory://"}})
    with app.app_context():
        from marketplace.orders import services as orders
        from marketplace.orders.services import CheckoutInput
        from tests.factories import get_admin, make_distribution, make_member, make_producer, make_product

        db.create_all()
        get_admin()
        farms = [make_producer(f"farm{i}@bench.coop", f"Ferme {i}") for i in range(2)]
        products = [make_product(farms[0], "Carrots", stock=100_000), make_product(farms[1], "Leeks", stock=100_000)]
        make_distribution(farms)
        db.session.commit()
        for i in range(rows):
            buyer = make_member(f"buyer{i:04d}@bench.coop", name=f"Buyer {i:04d}")
            orders.add_to_cart(buyer, products[0].id, 1 + i % 3)
            orders.add_to_cart(buyer, products[1].id, 2)
            orders.checkout(buyer, CheckoutInput())
            if i % 50 == 49:
                db.session.commit()
        db.session.commit()
        _invoices(farms[0].producer_profile)
        _card_money_and_disputes()
        _contract(farms[0], products[0], rows)
        from marketplace.core.models import OutboundEmail

        db.session.add_all(OutboundEmail(recipient=f"buyer{i:04d}@bench.coop", subject=f"Order {i}", body="-")
                           for i in range(rows))
        for i in range(rows - len(products)):  # the admins' product list: as many products as rows
            make_product(farms[i % 2], f"Produce {i:04d}", stock=10)
        db.session.commit()
    return app


def _invoices(farm) -> None:
    """The invoicing registers' rows, written directly (issuing them through the shop needs each order collected
    and the billing mandate): an invoice of the farm for each order, a credit note on every tenth, and a draft
    waiting for each order's part of the other farm."""
    import json

    from marketplace.extensions import db
    from marketplace.invoicing.models import BlockedReason, Invoice, InvoiceDraft, InvoiceKind, IssuerKind
    from marketplace.invoicing.numbering import number_text, series_key
    from marketplace.orders.models import Order, OrderPart
    from marketplace.timeutil import utcnow

    key, now = series_key(IssuerKind.PRODUCER, farm.id), utcnow()
    orders = db.session.query(Order).order_by(Order.id).all()

    def invoice(number: int, order, credited=None) -> Invoice:
        return Invoice(kind=InvoiceKind.CREDIT_NOTE if credited else InvoiceKind.INVOICE, series_key=key,
                       number=number, number_text=number_text(key, number), source_key=f"bench:{number}",
                       issued_at=now, sale_date=now.date(), issuer_kind=IssuerKind.PRODUCER, producer_id=farm.id,
                       credited_invoice_id=credited.id if credited else None, order_id=order.id,
                       seller_name=farm.name, buyer_user_id=order.buyer_id, buyer_name=order.buyer.full_name,
                       total_ht_cents=284, total_vat_cents=16, total_ttc_cents=300)

    invoices = [invoice(n, order) for n, order in enumerate(orders, start=1)]
    db.session.add_all(invoices)
    db.session.flush()
    db.session.add_all(invoice(len(orders) + n, invoices[i].order, invoices[i])
                       for n, i in enumerate(range(9, len(invoices), 10), start=1))
    parts = db.session.query(OrderPart).filter(OrderPart.producer_id != farm.id).order_by(OrderPart.id).all()
    db.session.add_all(InvoiceDraft(source_key=f"part:{part.id}", kind=InvoiceKind.INVOICE,
                                    issuer_kind=IssuerKind.PRODUCER, producer_id=part.producer_id,
                                    order_id=part.order_id, part_id=part.id, blocked_reason=BlockedReason.NO_MANDATE,
                                    payload_json=json.dumps({"lines": [{"ttc_cents": 400}]})) for part in parts)


def _card_money_and_disputes() -> None:
    """The payments page's reconciliation and the admins' disputes, written directly: each order captured on a card
    and charged, each part paid out (its transfer in the ledger), and a dispute on each order's first line.
    The orders keep their payment method (pay at the pickup): no other page measured here reads card money."""
    from marketplace.disputes.models import Dispute, DisputeReason
    from marketplace.extensions import db
    from marketplace.orders.models import Order
    from marketplace.payments.models import (
        CardPayment,
        CardPaymentStatus,
        LedgerEntry,
        LedgerKind,
        Payout,
        PayoutKind,
        PayoutStatus,
    )

    for order in db.session.query(Order).order_by(Order.id):
        total = order.goods_estimated_cents
        db.session.add(CardPayment(order_id=order.id, payment_intent_id=f"pi_{order.id}", charge_id=f"ch_{order.id}",
                                   status=CardPaymentStatus.CAPTURED, authorised_cents=total, captured_cents=total))
        db.session.add(LedgerEntry(kind=LedgerKind.CHARGE, amount_cents=total, order_id=order.id,
                                   reference=f"charge:{order.id}"))
        for part in order.parts:
            db.session.add(Payout(kind=PayoutKind.PRODUCER, reference=f"transfer:{part.id}",
                                  user_id=part.producer.user_id, order_id=order.id, part_id=part.id,
                                  gross_cents=part.final_cents, status=PayoutStatus.PAID))
            db.session.add(LedgerEntry(kind=LedgerKind.TRANSFER, amount_cents=part.final_cents, order_id=order.id,
                                       part_id=part.id, reference=f"transfer:{part.id}"))
        line = order.parts[0].lines[0]
        db.session.add(Dispute(line_id=line.id, order_id=order.id, producer_id=order.parts[0].producer_id,
                               buyer_id=order.buyer_id, reason=DisputeReason.DAMAGED, note="Broken"))


def _contract(farm, product, rows: int) -> None:
    """A basket contract of the farm over a season of four weeks, every buyer subscribed (through the services), a
    third of them with an instalment paid and a tenth with an absence declared."""
    from marketplace.contracts import services as contracts
    from marketplace.contracts.models import PaymentMeans
    from marketplace.extensions import db
    from marketplace.members.models import User
    from tests.contracts_fixtures import make_contract, make_season
    from tests.factories import get_admin

    season = make_season([farm], weeks=4, opens_in_hours=2)
    contract = make_contract(farm, season, [(product.variants[0].id, 1)], allowed_absences=1)
    db.session.commit()
    for i in range(rows):
        member = db.session.query(User).filter_by(email=f"buyer{i:04d}@bench.coop").one()
        subscription = contracts.subscribe(member, contract.id, accepted_version=1, means=PaymentMeans.CHEQUE)
        if i % 3 == 0:
            contracts.record_instalment(get_admin(), subscription.id, PaymentMeans.CHEQUE)
        if i % 10 == 0:
            contracts.declare_absence(member, subscription.id, season[1].id)
        if i % 50 == 49:
            db.session.commit()
    db.session.commit()


def measure(app, email: str, pages: list[tuple[str, str, bytes]], repeat: int,
            only: list[str] | None = None) -> list[tuple]:
    from sqlalchemy import event

    from marketplace.extensions import db
    from tests.factories import PASSWORD

    client = app.test_client()
    with app.app_context():
        client.post("/login", data={"email": email, "password": PASSWORD})
    # As a gunicorn worker runs (marketplace/wsgi.py): what is loaded before the first request is frozen out of
    # the garbage collector's scans, which otherwise walk it again at every full collection.
    gc.collect()
    gc.freeze()
    out = []
    for name, url, row_marker in pages:
        if only and not any(word in name for word in only):
            continue
        walls, cpus = [], []
        statements: list[str] = []
        for i in range(repeat + 1):
            with app.app_context():
                counted: list[str] = []
                listener = lambda *a: counted.append(a[2])  # noqa: E731
                event.listen(db.engine, "before_cursor_execute", listener)
                wall, cpu = time.perf_counter(), time.process_time()
                response = client.get(url)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                event.remove(db.engine, "before_cursor_execute", listener)
            assert response.status_code == 200, (url, response.status_code)
            if i:  # the first rendering compiles the templates
                walls.append(wall * 1000)
                cpus.append(cpu * 1000)
                statements = counted
        out.append((name, statistics.median(walls), statistics.median(cpus), len(statements),
                    response.data.count(row_marker)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--profile", metavar="URL", help="instead: cProfile (CPU) of this page, as --as")
    parser.add_argument("--sort", default="cumulative", help="--profile: pstats sort key (cumulative, tottime)")
    parser.add_argument("--callers", metavar="NAME", help="--profile: also who calls the functions matching NAME")
    parser.add_argument("--as", dest="who", default="admin@test.coop", help="who --profile logs in as")
    parser.add_argument("--only", nargs="+", metavar="WORD", help="only the pages whose name holds one of the words")
    args = parser.parse_args()
    if args.profile:
        return profile(args)
    with tempfile.TemporaryDirectory(prefix="coop-lists-") as tmp:
        started = time.monotonic()
        app = build(Path(tmp), args.rows)
        print(f"built {args.rows} orders and members in {time.monotonic() - started:.0f} s (SQLite, in-process)")
        results = measure(app, "admin@test.coop", [
            ("admin orders", "/admin/orders", b'href="/admin/orders/'),
            ("members register (a page)", "/reports/members", b'name="shares_count"'),
            ("admin members", "/admin/members", b"<tr"),
            ("reports: pickup points", "/reports/pickup-points", b"<tr"),
            ("reports: sales", "/reports/sales", b"<tr"),
            ("invoicing: drafts waiting", "/admin/invoicing", b'<a href="/orders/'),
            ("admin distribution's orders", "/admin/distributions/1", b'data-testid="handover"'),
            ("admin products", "/admin/products", b'name="reason"'),
            ("admin e-mails", "/admin/emails", b"<tr><td>"),
            ("payments: reconciliation", "/payments/admin", b'<tr><td><a href="/orders/'),
            ("payments: ledger", "/payments/admin/ledger", b"<tr><td>"),
            ("admin disputes", "/disputes/admin", b'</td><td><a href="/disputes/'),
            ("contract's subscribers", "/manage/contracts/1", b'name="reason"'),
        ], args.repeat, args.only)
        results += measure(app, "farm0@bench.coop", [
            ("producer order desk", "/producer/orders", b'data-testid="part-'),
            ("producer invoice register", "/invoices", b'data-testid="invoice-pdf"'),
            ("producer harvest", "/producer/distributions/1/harvest", b"<tr"),
        ], args.repeat, args.only)
    print(f"\n{'page':28} {'wall ms':>8} {'CPU ms':>8} {'statements':>11} {'rows':>6}")
    for name, wall, cpu, statements, rows in results:
        print(f"{name:28} {wall:8.1f} {cpu:8.1f} {statements:11d} {rows:6d}")
    print("\nmedian of", args.repeat, "renderings each (the first one, which compiles the templates, left out)")


def profile(args) -> None:
    import cProfile
    import pstats

    from tests.factories import PASSWORD

    with tempfile.TemporaryDirectory(prefix="coop-lists-") as tmp:
        app = build(Path(tmp), args.rows)
        client = app.test_client()
        with app.app_context():
            client.post("/login", data={"email": args.who, "password": PASSWORD})
        with app.app_context():
            client.get(args.profile)
        profiler = cProfile.Profile(time.process_time)
        for _ in range(args.repeat):
            with app.app_context():
                profiler.enable()
                client.get(args.profile)
                profiler.disable()
        stats = pstats.Stats(profiler).sort_stats(args.sort)
        stats.print_stats(45)
        if args.callers:
            stats.print_callers(args.callers)


if __name__ == "__main__":
    main()
