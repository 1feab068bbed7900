"""Load benchmark: the shop under gunicorn + PostgreSQL, against a bare Flask "hello" on the same gunicorn settings.

    python bench/load.py                 # full run (~3 min incl. seeding), prints the table
    python bench/load.py --duration 5    # shorter phases
    python bench/load.py --no-seed       # reuse the database seeded by a previous run

What it does (everything on 127.0.0.1, bounded in time and in requests):
1. (Re)builds its own database `coop_bench_load` with create_all and seeds the demo coop, scaled with
   bulk inserts to 200 producers / 10,000 products, plus BUYERS active buyer members.
2. Starts two gunicorn servers with the same settings as the Dockerfile (3 sync workers): the shop
   (`marketplace.wsgi:app`, CSRF on, Redis db 12 as broker) and `load:make_hello()`.
3. GET pages with wrk (C, so the client does not eat the server's CPU): hello, the catalogue (anonymous
   visitors, a mix of first pages and category pages; and a logged-in buyer), a product page.
4. The buyers' POSTs with a Python client (threads + requests, one session per buyer, the CSRF token
   read from the page's form like a browser): add to cart, and checkout at CONCURRENCY concurrent
   buyers (each loop: add two products, then the timed checkout POST). Their ratio is taken against
   the hello app measured with the same Python client, so the client's own cost cancels out.

Needs: PostgreSQL on 127.0.0.1:5432 (user postgres, trust), Redis on 127.0.0.1:6379, wrk (apt-get install wrk).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DB_NAME = "coop_bench_load"
DATABASE_URL = f"postgresql://postgres@127.0.0.1:5432/{DB_NAME}"
REDIS_URL = "redis://127.0.0.1:6379/12"
PRODUCERS, PRODUCTS, BUYERS = 200, 10_000, 60
CONCURRENCY = 50
GUNICORN = ["--workers", "3"]  # the Dockerfile's settings, for both servers
PASSWORD = "bench-password-2026"
MAX_PYTHON_REQUESTS = 20_000  # per phase, on top of the time bound


def make_hello():
    """The baseline: a bare Flask app answering a short text."""
    from flask import Flask

    app = Flask("hello")

    @app.route("/")
    def hello():
        return "Hello, World!"

    return app


# ---------------------------------------------------------------- database

def _create_database() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def _server_env(instance: Path) -> dict:
    env = dict(os.environ)
    env.update(DATABASE_URL=DATABASE_URL, REDIS_URL=REDIS_URL, INSTANCE_PATH=str(instance),
               UPLOAD_FOLDER=str(instance / "uploads"), SECRET_KEY="bench-secret", MAIL_SERVER="",
               STRIPE_SECRET_KEY="", COOP_DEFAULT_LOCALE="en", PYTHONPATH=str(ROOT))
    return env


def seed(instance: Path) -> None:
    """create_all, the demo coop, then bulk inserts up to PRODUCERS producers and PRODUCTS products."""
    os.environ.update({k: v for k, v in _server_env(instance).items() if k != "PYTHONPATH"})
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import func, insert, select

    from marketplace import create_app
    from marketplace.catalog.models import Category, ProducerProfile, Product, ProductStatus, Unit
    from marketplace.demo import seed_demo
    from marketplace.distributions.models import distribution_producers
    from marketplace.distributions.services import open_distributions
    from marketplace.extensions import db
    from marketplace.members.models import College, Membership, MembershipStatus, User
    from marketplace.members.passwords import hash_password
    from marketplace.timeutil import utcnow

    _create_database()
    app = create_app({"CELERY": {"task_always_eager": True}})
    with app.app_context():
        db.create_all()
        seed_demo()
        now, rng = utcnow(), random.Random(6)
        admin = db.session.query(User).filter_by(email="admin@demo.coop").one()
        password_hash = hash_password(PASSWORD)  # one hash for every bench account: argon2 is slow on purpose
        next_number = (db.session.query(func.max(Membership.member_number)).scalar() or 0) + 1

        def members(prefix: str, count: int, college: College) -> list[int]:
            nonlocal next_number
            users = [dict(email=f"{prefix}{i:03d}@bench.coop", password_hash=password_hash,
                          full_name=f"Bench {prefix.title()} {i:03d}", town="Nantes", postcode="44000",
                          address=f"{i} rue du Banc", created_at=now, email_confirmed_at=now) for i in range(count)]
            ids = list(db.session.scalars(insert(User).returning(User.id, sort_by_parameter_order=True), users))
            db.session.execute(insert(Membership), [
                dict(user_id=uid, member_number=next_number + i, college=college, status=MembershipStatus.ACTIVE,
                     applied_at=now, joined_at=now, decided_at=now, decided_by_id=admin.id)
                for i, uid in enumerate(ids)])
            next_number += count
            return ids

        existing = db.session.query(ProducerProfile).count()
        user_ids = members("producer", PRODUCERS - existing, College.PRODUCER)
        db.session.execute(insert(ProducerProfile), [
            dict(user_id=uid, name=f"Ferme {i:03d} du Bocage", description="A family farm near Nantes.",
                 town="Nantes", postcode="44000", pickup_address=f"{i} chemin des Prés",
                 latitude=47.2 + rng.uniform(-0.1, 0.1), longitude=-1.55 + rng.uniform(-0.1, 0.1),
                 created_at=now) for i, uid in enumerate(user_ids)])
        producer_ids = [p for (p,) in db.session.query(ProducerProfile.id).order_by(ProducerProfile.id)]
        categories = [c for (c,) in db.session.query(Category.id).order_by(Category.id)]
        photos = [p for (p,) in db.session.query(Product.photo_filename).filter(Product.photo_filename.isnot(None))]
        words = ["Carrots", "Leeks", "Apples", "Pears", "Goat cheese", "Honey", "Sourdough", "Eggs", "Cider",
                 "Potatoes", "Squash", "Lentils", "Yoghurt", "Butter", "Sausages", "Jam", "Spinach", "Onions"]
        missing = PRODUCTS - db.session.query(Product).count()
        db.session.execute(insert(Product), [
            dict(producer_id=producer_ids[i % len(producer_ids)], category_id=categories[i % len(categories)],
                 name=f"{words[i % len(words)]} n°{i:05d}", description="Grown and sold by a coop member.",
                 unit=Unit.PIECE, price_cents=rng.randrange(150, 2500, 10), vat_rate_bp=550, stock=1_000_000,
                 is_weight_priced=False, photo_filename=photos[i % len(photos)] if photos else None,
                 status=ProductStatus.ACTIVE, created_at=now, updated_at=now) for i in range(missing)])
        for distribution in open_distributions():
            linked = set(db.session.scalars(select(distribution_producers.c.producer_id).where(
                distribution_producers.c.distribution_id == distribution.id)))
            db.session.execute(insert(distribution_producers), [
                dict(distribution_id=distribution.id, producer_id=p) for p in producer_ids if p not in linked])
        members("buyer", BUYERS, College.BUYER)
        db.session.commit()
        counts = (db.session.query(ProducerProfile).count(), db.session.query(Product).count(),
                  len(open_distributions()))
        db.engine.dispose()
    print(f"seeded {DB_NAME}: {counts[0]} producers, {counts[1]} products, {counts[2]} open distributions")


def _bench_facts() -> dict:
    """Ids the load needs, read straight from the database."""
    import psycopg

    with psycopg.connect(DATABASE_URL) as conn:
        products = [r[0] for r in conn.execute("SELECT id FROM products WHERE status = 'active' ORDER BY id")]
        categories = [r[0] for r in conn.execute("SELECT slug FROM categories ORDER BY slug")]
        distribution = conn.execute(
            "SELECT d.id FROM distributions d WHERE d.opens_at <= now() AT TIME ZONE 'utc' "
            "AND d.cutoff_at > now() AT TIME ZONE 'utc' AND d.closed_at IS NULL AND d.cancelled_at IS NULL "
            "ORDER BY (SELECT count(*) FROM distribution_producers dp WHERE dp.distribution_id = d.id) DESC, "
            "d.starts_at LIMIT 1").fetchone()[0]
        buyers = [r[0] for r in conn.execute("SELECT email FROM users WHERE email LIKE 'buyer%%@bench.coop' "
                                             "ORDER BY email")]
    return {"products": products, "categories": categories, "distribution": distribution, "buyers": buyers}


# ---------------------------------------------------------------- servers

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name: str, target: str, env: dict, log_dir: Path):
        self.name, self.port = name, _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log_dir / f"{name}.log", "w")
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        self.process = subprocess.Popen(
            [gunicorn, "--bind", f"127.0.0.1:{self.port}", *GUNICORN, "--pythonpath", str(ROOT / "bench"),
             "--log-level", "warning", target], env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT)

    def wait(self, path: str = "/", timeout: float = 60) -> None:
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.log.name}")
            try:
                if requests.get(self.url + path, timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} did not answer within {timeout} s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


# ---------------------------------------------------------------- wrk (GET pages)

WRK_SCRIPT = """
local paths = {%(paths)s}
local cookie = "%(cookie)s"
local n = 0
request = function()
  n = n + 1
  local headers = {["Accept-Language"] = "en"}
  if cookie ~= "" then headers["Cookie"] = cookie end
  return wrk.format("GET", paths[(n %% #paths) + 1], headers)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p95_us": %%d, ' ..
    '"errors": %%d}\\n', summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def run_wrk(base: str, paths: list[str], duration: int, cookie: str = "", workdir: Path | None = None) -> dict:
    script = Path(workdir or tempfile.gettempdir()) / "bench_load.lua"
    script.write_text(WRK_SCRIPT % {"paths": ", ".join(json.dumps(p) for p in paths), "cookie": cookie})
    out = subprocess.run(["wrk", "-t", "2", "-c", str(CONCURRENCY), "-d", f"{duration}s", "--timeout", "10s",
                          "-s", str(script), base], capture_output=True, text=True, timeout=duration + 60)
    line = next((l for l in out.stdout.splitlines() if l.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {out.stdout}\n{out.stderr}")
    data = json.loads(line[len("WRKJSON "):])
    return {"rps": data["requests"] / (data["duration_us"] / 1e6), "p50_ms": data["p50_us"] / 1000,
            "p95_ms": data["p95_us"] / 1000, "requests": data["requests"], "errors": data["errors"]}


# ---------------------------------------------------------------- Python client (buyers' POSTs)

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class Buyer:
    def __init__(self, base: str, email: str, distribution_id: int):
        import requests

        self.base, self.http = base, requests.Session()
        self.http.headers["Accept-Language"] = "en"
        token = self._token("/login")
        response = self.http.post(f"{base}/login", data={"csrf_token": token, "email": email, "password": PASSWORD},
                                  allow_redirects=False)
        if response.status_code != 302:
            raise RuntimeError(f"login failed for {email}: {response.status_code}")
        self.csrf = self._token("/cart")  # the session's token, as the cart page's forms carry it
        response = self.http.post(f"{base}/cart/distribution", allow_redirects=False,
                                  data={"csrf_token": self.csrf, "distribution_id": distribution_id})
        if response.status_code != 302:
            raise RuntimeError(f"choosing the distribution failed: {response.status_code}")

    def _token(self, path: str) -> str:
        match = CSRF_RE.search(self.http.get(self.base + path).text)
        if match is None:
            raise RuntimeError(f"no CSRF token in {path}")
        return match.group(1)

    def add(self, product_id: int) -> int:
        return self.http.post(f"{self.base}/cart/add", allow_redirects=False,
                              data={"csrf_token": self.csrf, "product_id": product_id, "quantity": 1}).status_code

    def checkout(self) -> int:
        return self.http.post(f"{self.base}/checkout", allow_redirects=False,
                              data={"csrf_token": self.csrf, "fulfilment": "pickup",
                                    "payment_method": "pay_at_pickup"}).status_code


def run_python(workers: list, action, duration: float, expected: int) -> dict:
    """Each worker runs `action(worker)` in a loop (returns (status, seconds) of the timed request)."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + duration
    budget = [MAX_PYTHON_REQUESTS]

    def loop(worker):
        rng = random.Random(id(worker))
        while time.monotonic() < stop_at:
            with lock:
                if budget[0] <= 0:
                    return
                budget[0] -= 1
            try:
                status, seconds = action(worker, rng)
            except Exception:  # a refused connection counts as an error, the run goes on
                status, seconds = 0, 0.0
            with lock:
                if status == expected:
                    latencies.append(seconds)
                else:
                    errors[0] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=loop, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(duration + 60)
    elapsed = time.monotonic() - started
    latencies.sort()
    pct = (lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000) if latencies else (
        lambda q: float("nan"))
    return {"rps": len(latencies) / elapsed, "p50_ms": pct(0.50), "p95_ms": pct(0.95), "requests": len(latencies),
            "errors": errors[0]}


def _timed(call):
    start = time.perf_counter()
    status = call()
    return status, time.perf_counter() - start


# ---------------------------------------------------------------- main

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per GET phase (checkout: twice)")
    parser.add_argument("--no-seed", action="store_true", help="reuse the database of a previous run")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install -y wrk")
    instance = Path(tempfile.mkdtemp(prefix="coop-bench-"))
    if args.no_seed:
        (instance / "uploads").mkdir(parents=True)
    else:
        started = time.monotonic()
        seed(instance)
        print(f"seeding took {time.monotonic() - started:.0f} s")
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()  # the bench's own Redis db: last run's queued tasks
    facts = _bench_facts()
    env = _server_env(instance)
    shop = Server("shop", "marketplace.wsgi:app", env, instance)
    hello = Server("hello", "load:make_hello()", env, instance)
    results: dict[str, dict] = {}
    try:
        shop.wait("/products")
        hello.wait("/")
        rng = random.Random(7)
        catalogue = (["/products"] * 10 + [f"/products?page={n}" for n in range(2, 11)]
                     + [f"/products?category={c}" for c in facts["categories"]])
        products = [f"/products/{p}" for p in rng.sample(facts["products"], 2000)]
        buyers = [Buyer(shop.url, email, facts["distribution"]) for email in facts["buyers"][:CONCURRENCY]]
        cookie = "session=" + buyers[-1].http.cookies.get("session")
        d = args.duration
        run_wrk(shop.url, catalogue + products[:200], 3, workdir=instance)  # warm up workers and caches
        results["hello (wrk)"] = run_wrk(hello.url, ["/"], d, workdir=instance)
        results["catalogue, anonymous"] = run_wrk(shop.url, catalogue, d, workdir=instance)
        results["catalogue, logged-in buyer"] = run_wrk(shop.url, catalogue, d, cookie=cookie, workdir=instance)
        results["product page, anonymous"] = run_wrk(shop.url, products, d, workdir=instance)
        results["product page, logged-in buyer"] = run_wrk(shop.url, products, d, cookie=cookie, workdir=instance)

        import requests

        hello_sessions = [requests.Session() for _ in range(CONCURRENCY)]
        results["hello (python client)"] = run_python(
            hello_sessions, lambda s, r: _timed(lambda: s.get(hello.url + "/").status_code), d, 200)
        ids = facts["products"]
        results["add to cart"] = run_python(buyers, lambda b, r: _timed(lambda: b.add(r.choice(ids))), d, 302)

        def checkout(buyer, r):
            # Empty what the add-to-cart phase left, then a two-product cart, then the timed checkout.
            for product_id in r.sample(ids, 2):
                buyer.add(product_id)
            return _timed(buyer.checkout)

        for buyer in buyers:  # start from a small cart: the add-to-cart phase filled them up
            buyer.checkout()
        results[f"checkout ({CONCURRENCY} buyers)"] = run_python(buyers, checkout, 2 * d, 302)
    finally:
        shop.stop()
        hello.stop()
    _print(results)


def _print(results: dict) -> None:
    wrk_base = results["hello (wrk)"]["rps"]
    py_base = results["hello (python client)"]["rps"]
    print(f"\n{'page':34} {'req/s':>9} {'vs bare':>8} {'p50 ms':>8} {'p95 ms':>8} {'requests':>9} {'errors':>7}")
    for name, r in results.items():
        base = py_base if name in ("add to cart", "hello (python client)") or name.startswith("checkout") else wrk_base
        print(f"{name:34} {r['rps']:9.1f} {r['rps'] / base:7.1%} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f} "
              f"{r['requests']:9d} {r['errors']:7d}")
    print("\nratios: GET pages against hello measured by wrk; add to cart and checkout against hello measured by "
          "the same Python client")


if __name__ == "__main__":
    main()
