"""Benchmark the period close: time and query count for 1k members / 100k orders (and 10k / 1M with --large).

    python bench/billing.py                 # 1k members, 100k orders (about a minute with generation)
    python bench/billing.py --large         # also 10k members, 1M orders (generation takes a few minutes)
    python bench/billing.py --members 2000 --orders 300000

Uses its own PostgreSQL database (BENCH_DATABASE_URL, default coop_bench_billing on loopback), which is
dropped and rebuilt: data is bulk-loaded with COPY, then the month is closed once through the service.
The query count must not depend on the number of members.
"""
from __future__ import annotations

import argparse
import io
import os
import random
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/coop_bench_billing"


def ensure_database(url: str) -> None:
    import psycopg

    admin_url, name = url.rsplit("/", 1)[0] + "/postgres", url.rsplit("/", 1)[1]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _copy(cur, table: str, columns: list[str], rows, chunk: int = 50_000) -> int:
    """COPY rows (tuples; None -> NULL) in text format, written in large chunks."""
    count = 0
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        buffer = io.StringIO()
        for row in rows:
            buffer.write("\t".join("\\N" if v is None else str(v) for v in row))
            buffer.write("\n")
            count += 1
            if count % chunk == 0:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        copy.write(buffer.getvalue())
    return count


def generate(app, members: int, orders: int, seed: int = 7) -> tuple:
    """Bulk-load members, producers, products, distributions in last month and completed orders."""
    from sqlalchemy import text

    from marketplace.billing import services
    from marketplace.extensions import db

    rng = random.Random(seed)
    month = services.previous_month(services.coop_today())
    start, _end = services.utc_bounds(type("P", (), {"starts_on": month, "ends_on": services.next_month(month)})())
    now = datetime.utcnow().strftime("%Y-%m-%d %H:%M:%S")
    n_producers = max(1, members // 10)
    n_couriers = max(1, members // 20)
    colleges = ["producer"] * n_producers + ["courier"] * n_couriers + ["buyer"] * (members - n_producers - n_couriers)
    with db.engine.begin() as conn:
        cur = conn.connection.dbapi_connection.cursor()
        _copy(cur, "users", ["id", "email", "password_hash", "full_name", "phone", "address", "postcode", "town",
                             "is_admin", "created_at", "login_disabled"],
              ((i, f"m{i}@bench.coop", "x", f"Member {i}", "", "", "", "", i == 1, now, False)
               for i in range(1, members + 2)))  # user 1 is the admin, members are 2..members+1
        _copy(cur, "memberships", ["id", "user_id", "member_number", "college", "status", "motivation", "applied_at",
                                   "decision_reason", "shares_count", "share_nominal_cents"],
              ((i, i + 1, i, colleges[i - 1], "active", "", now, "", 1, 2000) for i in range(1, members + 1)))
        producer_users = [i + 1 for i in range(1, n_producers + 1)]
        buyer_users = [i + 1 for i in range(n_producers + n_couriers + 1, members + 1)]
        _copy(cur, "producers", ["id", "user_id", "name", "description", "town", "postcode", "pickup_address",
                                 "min_order_cents", "created_at"],
              ((p, u, f"Farm {p}", "", "", "", "", 0, now) for p, u in enumerate(producer_users, 1)))
        conn.execute(text("INSERT INTO categories (id, slug, name_en, name_fr) VALUES (1, 'veg', 'Veg', 'Légumes')"))
        _copy(cur, "products", ["id", "producer_id", "category_id", "name", "description", "unit", "price_cents",
                                "vat_rate_bp", "is_weight_priced", "status", "created_at", "updated_at"],
              ((p, p, 1, "Produce", "", "piece", 300, 550, False, "active", now, now)
               for p in range(1, n_producers + 1)))
        conn.execute(text("INSERT INTO pickup_places (id, name, address, postcode, town, notes, active) "
                          "VALUES (1, 'Hall', 'Rue', '', '', '', true)"))
        distributions = []
        for d in range(1, 9):  # twice a week or so
            starts = start + timedelta(days=3 * d, hours=10)
            distributions.append(d)
            conn.execute(text(
                "INSERT INTO distributions (id, pickup_place_id, title, starts_at, ends_at, opens_at, cutoff_at, "
                "home_delivery, created_at) VALUES (:id, 1, 'Bench', :s, :e, :o, :c, true, :n)"),
                {"id": d, "s": starts, "e": starts + timedelta(hours=2), "o": starts - timedelta(days=5),
                 "c": starts - timedelta(days=1), "n": now})

        statuses = ["collected"] * 18 + ["delivered", "cancelled"]
        _copy(cur, "orders", ["id", "reference", "buyer_id", "distribution_id", "fulfilment", "delivery_address",
                              "delivery_postcode", "delivery_town", "delivery_fee_cents", "delivery_code",
                              "payment_method", "payment_status", "note", "created_at", "updated_at"],
              ((o, f"B{o:09d}", rng.choice(buyer_users), rng.choice(distributions), "pickup", "", "", "",
                0, "0000", "pay_at_pickup", "paid", "", now, now) for o in range(1, orders + 1)))
        part_producer = {}

        def parts():
            for o in range(1, orders + 1):
                producer = rng.randint(1, n_producers)
                part_producer[o] = producer
                yield (o, o, producer, rng.choice(statuses), now, "")

        _copy(cur, "order_parts", ["id", "order_id", "producer_id", "status", "status_changed_at", "cancel_reason"],
              parts())

        def lines():
            line_id = 0
            for o in range(1, orders + 1):
                for _ in range(rng.choice((1, 1, 2))):
                    line_id += 1
                    weighed = rng.random() < 0.3
                    yield (line_id, o, part_producer[o], "Produce", "kg" if weighed else "piece",
                           rng.randint(100, 3000), 550, rng.randint(1, 5), weighed, 400 if weighed else None,
                           rng.randint(300, 2500) if weighed else None,
                           "rejected" if rng.random() < 0.02 else "active", "", 0)

        line_count = _copy(cur, "order_lines", ["id", "part_id", "product_id", "product_name", "unit",
                                                "unit_price_cents", "vat_rate_bp", "quantity", "is_weight_priced",
                                                "estimated_weight_g", "weighed_grams", "status", "rejection_reason",
                                                "credited_cents"], lines())
        for table in ("users", "memberships", "producers", "products", "orders", "order_parts", "order_lines",
                      "distributions", "pickup_places", "categories"):
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                              f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"))
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    return month, line_count


def run_case(url: str, members: int, orders: int) -> None:
    from sqlalchemy import event, text

    from marketplace import create_app
    from marketplace.billing import services
    from marketplace.billing.models import BillingSettings, CostCategory, Statement
    from marketplace.extensions import db
    from marketplace.members.models import User

    sa_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    app = create_app({"SQLALCHEMY_DATABASE_URI": sa_url, "BABEL_DEFAULT_LOCALE": "en", "SECRET_KEY": "bench-secret",
                      "CELERY": {"task_always_eager": True, "broker_url": "memory://",
                                 "result_backend": "cache+memory://"}})
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        db.create_all()
        t0 = time.perf_counter()
        month, line_count = generate(app, members, orders)
        print(f"  generated {members:,} members, {orders:,} orders, {line_count:,} lines "
              f"in {time.perf_counter() - t0:.1f} s")
        admin = db.session.get(User, 1)
        db.session.add(BillingSettings(id=1, quorum_percent=25, majority_percent=50, allow_admin_decision=True))
        rule = services.propose_rule(admin, services.RuleInput({"producer": 300, "buyer": 50},
                                                              {"producer": 2, "courier": 1, "buyer": 1}, month))
        services.adopt_by_decision(admin, rule.id, "bench")
        for i, category in enumerate(CostCategory):
            services.record_cost(admin, services.CostInput(category, 12_345 + 1_000 * i, month))
        db.session.commit()
        period_id = services.get_or_create_period(month).id
        db.session.commit()

        queries = []
        event.listen(db.engine, "before_cursor_execute", lambda *a: queries.append(1))
        t0 = time.perf_counter()
        period = services.close_period(period_id, admin)
        db.session.commit()
        elapsed = time.perf_counter() - t0
        total = db.session.query(db.func.sum(Statement.total_cents)).scalar()
        print(f"  close: {elapsed:.2f} s, {len(queries)} queries, {period.member_count:,} statements, "
              f"fees {total} = costs {period.total_cost_cents} + carry-in {period.carry_in_cents} "
              f"- carry-out {period.carry_out_cents}; producers' sales {period.producer_sales_cents}")
        assert total + period.carry_out_cents == period.total_cost_cents + period.carry_in_cents
        db.session.remove()
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--large", action="store_true", help="also run 10k members / 1M orders")
    parser.add_argument("--members", type=int, help="run one custom case")
    parser.add_argument("--orders", type=int)
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    ensure_database(url)
    os.environ.setdefault("INSTANCE_PATH", "/tmp/coop-bench-instance")
    if args.members:
        cases = [(args.members, args.orders or args.members * 100)]
    else:
        cases = [(1_000, 100_000)] + ([(10_000, 1_000_000)] if args.large else [])
    for members, orders in cases:
        print(f"{members:,} members, {orders:,} orders:")
        run_case(url, members, orders)


if __name__ == "__main__":
    main()
