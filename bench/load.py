"""Load benchmark: the shop under gunicorn + PostgreSQL, against a bare Flask "hello" on the same gunicorn settings.

    python bench/load.py                 # full run (~6 min incl. seeding): main table at 10k, growth 1k/10k/50k
    python bench/load.py --duration 5    # shorter phases
    python bench/load.py --sizes 1000,10000 --main-size 10000   # another growth table
    python bench/load.py --no-seed       # reuse the database seeded by a previous run (no growth table)
    BENCH_DB_NAME=... BENCH_REDIS_URL=... python bench/load.py   # its own database and Redis db

What it does (everything on 127.0.0.1, bounded in time and in requests):
1. (Re)builds its own database with create_all and seeds the demo coop, 200 producers, BUYERS active buyer
   members, and the smallest catalogue of the growth table (bulk inserts, with the sort and search columns
   the catalogue service keeps).
2. Starts two gunicorn servers with the same settings as the Dockerfile (3 sync workers): the shop
   (`marketplace.wsgi:app`, CSRF on, Redis as broker and catalogue version) and `load:make_hello()`.
3. For each catalogue size (1k, 10k, 50k products): the logged-in buyer's catalogue (pages, categories), a
   text search mix and product pages with wrk, side by side with hello measured by wrk in the same run;
   and in-process, the uncached SQL of a catalogue page and of a search (what a cache miss costs).
4. At the main size (10k): the full table — anonymous and logged-in pages with wrk (product pages of products
   nobody viewed, before and after the worker's task rendered every product's page parts ahead: `prerender_all`),
   and the buyers' POSTs with
   a Python client (threads + requests, one session per buyer, the CSRF token read from the page like a
   browser, redirects followed so flashed messages leave the session): add to cart, and checkout at
   CONCURRENCY concurrent buyers. Their ratio is taken against hello measured with the same Python client.

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
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
# Overridable so that two people on one machine do not drop each other's bench database.
DB_NAME = os.environ.get("BENCH_DB_NAME", "coop_bench_load")
DATABASE_URL = f"postgresql://postgres@127.0.0.1:5432/{DB_NAME}"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
PRODUCERS, PRODUCTS, BUYERS = 200, 10_000, 60
GROWTH = (1_000, 10_000, 50_000)  # catalogue sizes of the growth table; the main table is taken at PRODUCTS
SEARCHES = ["pomme", "oeuf", "epinard", "miel", "chevre", "poireaux", "peche", "confiture fraise", "courge",
            "beurre", "bocage", "ferme 042", "lentille", "pain levain", "n°04242", "kiwi"]
CONCURRENCY = 50
GUNICORN = ["--workers", "3"]  # the Dockerfile's settings, for both servers
PASSWORD = "bench-password-2026"
MAX_PYTHON_REQUESTS = 20_000  # per phase, on top of the time bound
# One browser: the buyers' Python sessions and wrk send the same User-Agent, as a member's browser does, so
# Flask-Login's session protection (a hash of address and User-Agent kept in the session) sees the same client.
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) coop-bench/1.0"


def make_hello():
    """The baseline: a bare Flask app answering a short text, and taking a form POST that redirects to it (the
    same exchange as the shop's forms, for the POST rows: the client's cost is then the same on both sides)."""
    from flask import Flask, redirect, request

    app = Flask("hello")

    @app.route("/")
    def hello():
        return "Hello, World!"

    @app.post("/form")
    def form():
        _ = request.form  # parsed, as a form view does
        return redirect("/")

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


def seed(instance: Path, products: int) -> None:
    """create_all, the demo coop, then bulk inserts up to PRODUCERS producers and `products` products."""
    os.environ.update({k: v for k, v in _server_env(instance).items() if k != "PYTHONPATH"})
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import func, insert, select

    from marketplace import create_app
    from marketplace.catalog.models import ProducerProfile
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
        for distribution in open_distributions():
            linked = set(db.session.scalars(select(distribution_producers.c.producer_id).where(
                distribution_producers.c.distribution_id == distribution.id)))
            db.session.execute(insert(distribution_producers), [
                dict(distribution_id=distribution.id, producer_id=p) for p in producer_ids if p not in linked])
        members("buyer", BUYERS, College.BUYER)
        db.session.commit()
        counts = (db.session.query(ProducerProfile).count(), len(open_distributions()))
        db.engine.dispose()
    print(f"seeded {DB_NAME}: {counts[0]} producers, {counts[1]} open distributions")
    grow_to(products)


WORDS = ["Carottes", "Poireaux", "Pommes", "Poires", "Fromage de chèvre", "Miel de châtaignier", "Pain au levain",
         "Œufs fermiers", "Cidre brut", "Pommes de terre", "Courge butternut", "Lentilles vertes", "Yaourt nature",
         "Beurre demi-sel", "Saucisses", "Confiture de fraises", "Épinards", "Oignons", "Pêches de vigne"]


# What catalog.services does for a product created through it: its first variant mirrors its columns.
VARIANTS_SQL = (
    "INSERT INTO product_variants (product_id, label, unit, price_cents, vat_rate_bp, is_weight_priced, "
    "estimated_weight_g, position, active, created_at) "
    "SELECT p.id, '', p.unit, p.price_cents, p.vat_rate_bp, p.is_weight_priced, p.estimated_weight_g, 0, true, now() "
    "FROM products p WHERE NOT EXISTS (SELECT 1 FROM product_variants v WHERE v.product_id = p.id)")


def grow_to(total: int) -> None:
    """Bulk-insert products (with the sort and search columns the catalogue service keeps) up to `total`."""
    import psycopg

    sys.path.insert(0, str(ROOT))
    from marketplace.catalog.search import search_text

    rng = random.Random(total)
    with psycopg.connect(DATABASE_URL) as conn:
        have = conn.execute("SELECT count(*) FROM products").fetchone()[0]
        producers = conn.execute("SELECT id, name FROM producers ORDER BY id").fetchall()
        categories = [r[0] for r in conn.execute("SELECT id FROM categories ORDER BY id")]
        photos = [r[0] for r in conn.execute("SELECT DISTINCT photo_filename FROM products "
                                             "WHERE photo_filename IS NOT NULL ORDER BY 1")]
        rows = []
        for i in range(have, total):
            producer_id, producer = producers[i % len(producers)]
            name = f"{WORDS[i % len(WORDS)]} n°{i:05d}"
            description = "Cultivé et vendu par un membre de la coopérative."
            rows.append((producer_id, categories[i % len(categories)], name, description, "piece",
                         rng.randrange(150, 2500, 10), 550, 1_000_000, False, photos[i % len(photos)] if photos else None,
                         "active", producer, search_text(name, producer, description)))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO products (producer_id, category_id, name, description, unit, price_cents, vat_rate_bp, "
                "stock, is_weight_priced, photo_filename, status, producer_name, search_text, created_at, updated_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now(), now())", rows)
        conn.execute(VARIANTS_SQL)  # every product is sold through at least one variant (catalog.services)
        conn.commit()
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE products")  # as autovacuum would after a bulk load
        conn.execute("VACUUM ANALYZE product_variants")
    import redis

    redis.Redis.from_url(REDIS_URL).incr("catalog:version")  # what a commit through the services does
    print(f"catalogue grown to {total} products ({total - have} inserted)")


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
        # What the buyers put in their carts: products sold at that distribution from their own stock (a
        # demo producer who declared offers there sells only those).
        sold = [r[0] for r in conn.execute(
            "SELECT p.id FROM products p JOIN distribution_producers dp ON dp.producer_id = p.producer_id "
            "AND dp.distribution_id = %s AND dp.offers_set_at IS NULL WHERE p.status = 'active' "
            "AND p.hidden_reason IS NULL ORDER BY p.id", (distribution,))]
    return {"products": products, "categories": categories, "distribution": distribution, "buyers": buyers,
            "sold": sold}


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
  local headers = {["Accept-Language"] = "en", ["User-Agent"] = "%(agent)s"}
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
    script.write_text(WRK_SCRIPT % {"paths": ", ".join(json.dumps(p) for p in paths), "cookie": cookie,
                                          "agent": USER_AGENT})
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
        self.http.headers.update({"Accept-Language": "en", "User-Agent": USER_AGENT})
        token = self._token("/login")
        response = self.http.post(f"{base}/login", data={"csrf_token": token, "email": email, "password": PASSWORD},
                                  allow_redirects=False)
        if response.status_code != 302:
            raise RuntimeError(f"login failed for {email}: {response.status_code}")
        self._follow(response)
        self.csrf = self._token("/cart")  # the session's token, as the cart page's forms carry it
        response = self.http.post(f"{base}/cart/distribution", allow_redirects=False,
                                  data={"csrf_token": self.csrf, "distribution_id": distribution_id})
        if response.status_code != 302:
            raise RuntimeError(f"choosing the distribution failed: {response.status_code}")
        self._follow(response)  # its flashed message is shown, and leaves the session (wrk reuses this cookie)

    def _follow(self, response) -> None:
        if response.is_redirect:
            location = response.headers["Location"]
            self.http.get(self.base + location if location.startswith("/") else location)

    def _token(self, path: str) -> str:
        match = CSRF_RE.search(self.http.get(self.base + path).text)
        if match is None:
            raise RuntimeError(f"no CSRF token in {path}")
        return match.group(1)

    def _post(self, path: str, data: dict) -> tuple[int, float]:
        """POST (timed) then GET where it redirects (untimed), as a browser does: the flashed message is
        shown on that page and leaves the session, so sessions do not grow with every click."""
        start = time.perf_counter()
        response = self.http.post(self.base + path, data={"csrf_token": self.csrf, **data}, allow_redirects=False)
        seconds = time.perf_counter() - start
        self._follow(response)
        return response.status_code, seconds

    def add(self, product_id: int) -> tuple[int, float]:
        # As the catalogue's card does: the product in the button's value, its quantity field, back to the page.
        return self._post("/cart/add", {"product_id": product_id, f"quantity-{product_id}": 1, "next": "/products"})

    def checkout(self) -> tuple[int, float]:
        return self._post("/checkout", {"fulfilment": "pickup", "payment_method": "pay_at_pickup"})


class HelloBuyer:
    """The bare app's side of the buyers' rows: the same client, the same exchanges (a form POST with a cookie jar,
    then a GET of where it redirects), a bare Flask app answering."""

    def __init__(self, base: str):
        import requests

        self.base, self.http = base, requests.Session()
        self.http.headers.update({"Accept-Language": "en", "User-Agent": USER_AGENT})

    def post(self) -> tuple[int, float]:
        start = time.perf_counter()
        response = self.http.post(self.base + "/form", data={"csrf_token": "x" * 91, "product_id": 1234,
                                                             "quantity-1234": 1, "next": "/products"},
                                  allow_redirects=False)
        seconds = time.perf_counter() - start
        self.http.get(self.base + response.headers["Location"])
        return response.status_code, seconds

    def checkout(self) -> tuple[int, float]:
        """As the checkout row's cycle: two adds, then the timed POST, each followed by its GET."""
        self.post()
        self.post()
        return self.post()


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


def _bench_app(instance: Path):
    os.environ.update({k: v for k, v in _server_env(instance).items() if k != "PYTHONPATH"})
    os.environ.setdefault("TRUSTED_HOSTS", "localhost,127.0.0.1")
    sys.path.insert(0, str(ROOT))
    from marketplace import create_app

    return create_app({"CELERY": {"task_always_eager": True}})


def cpu_per_request(instance: Path, facts: dict, requests_per_page: int = 150) -> dict:
    """In-process, with the test client: this process's CPU time per request (ms), for the logged-in
    buyer's pages, cached and uncached, and for the bare hello app. "catalogue", "search", "product page" are
    pages the buyer saw before (kept by catalog/member_pages.py; product pages: 60 of them); "first visit"
    empties that cache before each request (the shared catalogue grid and product page part stay: another
    member's first visit); "uncached" empties both. CPU time, unlike wall time, hardly
    depends on what else the machine runs, so the ratio to hello is the framework ceiling on a quiet
    machine (PostgreSQL's and Redis's own CPU is not counted: see the SQL table for those)."""
    app = _bench_app(instance)
    catalogue, products, searches = _paths(facts)
    hello = make_hello().test_client()

    def measure(client, paths: list[str], n: int, before=None, warm: bool = True) -> float:
        for path in list(dict.fromkeys(paths))[:60] if warm else []:
            client.get(path)  # warm: every distinct page of the mix rendered once (product pages: 60 of them)
        start = time.process_time()
        for i in range(n):
            if before:
                before()
            response = client.get(paths[i % len(paths)])
            assert response.status_code == 200, (paths[i % len(paths)], response.status_code)
        return (time.process_time() - start) * 1000 / n

    client = app.test_client()
    with app.app_context():
        token = CSRF_RE.search(client.get("/login").get_data(as_text=True)).group(1)
    with app.app_context():
        client.post("/login", data={"csrf_token": token, "email": facts["buyers"][0], "password": PASSWORD})

    def first_visit():  # the member's own page not kept yet (the shared grid still is)
        app.extensions.pop("member_pages", None)

    def no_cache():  # nothing kept anywhere: a new catalogue version (the shared parts other workers keep go too)
        app.extensions.pop("member_pages", None)
        with app.app_context():
            from marketplace.catalog import cache

            cache.bump()

    n = requests_per_page
    out = {"hello": measure(hello, ["/"], 10 * n)}
    out["catalogue"] = measure(client, catalogue, n)
    out["search"] = measure(client, searches, n)
    out["product page"] = measure(client, products[:60], n)
    out["catalogue, first visit"] = measure(client, catalogue, n // 3, first_visit)
    out["product, first visit"] = measure(client, products, n // 3, first_visit)
    # Products another member opened (their shared parts kept), each opened once by this member, who has opened
    # other product pages before (their shell kept): what most product pages of a browsing member are.
    other = app.test_client()
    with app.app_context():
        token = CSRF_RE.search(other.get("/login").get_data(as_text=True)).group(1)
    with app.app_context():
        other.post("/login", data={"csrf_token": token, "email": facts["buyers"][1], "password": PASSWORD})
    fresh = products[200:200 + n // 3]
    for path in fresh:
        other.get(path)
    out["product, new to the member"] = measure(client, fresh, len(fresh), warm=False)
    out["product, uncached"] = measure(client, products[60:], n // 3, no_cache)  # no member has seen it
    out["catalogue, uncached"] = measure(client, catalogue, n // 3, no_cache)
    out["search, uncached"] = measure(client, searches, n // 3, no_cache)
    out.update(post_cpu(client, facts, n // 3))
    with app.app_context():
        from marketplace.extensions import db

        db.engine.dispose()
    return out


def post_cpu(client, facts: dict, n: int) -> dict:
    """CPU per POST (ms) of the buyers' two actions as the Python client times them: "add to cart" (a cart of
    a few lines: checked out every 4 adds) and "checkout" of a two-product cart; the GET of where each
    redirects and the adds before a checkout are not counted."""
    token = CSRF_RE.search(client.get("/cart").get_data(as_text=True)).group(1)
    client.post("/cart/distribution", data={"csrf_token": token, "distribution_id": facts["distribution"]})
    rng = random.Random(11)
    spent = {"add to cart (POST)": 0.0, "checkout (POST)": 0.0}

    def post(path: str, data: dict, timed: str | None) -> None:
        start = time.process_time()
        response = client.post(path, data={"csrf_token": token, **data})
        if timed:
            spent[timed] += time.process_time() - start
        assert response.status_code == 302, (path, response.status_code)
        client.get(response.headers["Location"])  # as a browser: the flashed message leaves the session

    def add(timed: str | None) -> None:
        product_id = rng.choice(facts["sold"])
        post("/cart/add", {"product_id": product_id, f"quantity-{product_id}": 1, "next": "/products"}, timed)

    def checkout(timed: str | None) -> None:
        post("/checkout", {"fulfilment": "pickup", "payment_method": "pay_at_pickup"}, timed)

    add(None)
    checkout(None)
    for i in range(n):
        add("add to cart (POST)")
        if i % 4 == 3:
            checkout(None)
    for _ in range(n):
        add(None)
        add(None)
        checkout("checkout (POST)")
    return {page: seconds * 1000 / n for page, seconds in spent.items()}


def uncached_ms(instance: Path, category: str) -> dict:
    """In-process, no cache: the SQL of a catalogue page (page + count) and of a search, median of 15 runs."""
    from statistics import median

    app = _bench_app(instance)
    from marketplace.catalog.services import catalogue_page
    from marketplace.extensions import db

    known = lambda _name, _compute: 10**9  # noqa: E731 - the count a filter's first page left in the cache
    cases = {"page 1": lambda: catalogue_page(1, 24), "page 10": lambda: catalogue_page(10, 24),
             "page 10, count kept": lambda: catalogue_page(10, 24, remember=known),
             "category": lambda: catalogue_page(1, 24, category_slug=category),
             "search": lambda: catalogue_page(1, 24, "pomme"), "search 2 words": lambda: catalogue_page(1, 24, "pain levain")}
    out = {}
    with app.app_context():
        for name, call in cases.items():
            call()  # warm the connection and the plan
            times = []
            for _ in range(15):
                start = time.perf_counter()
                call()
                times.append((time.perf_counter() - start) * 1000)
                db.session.expire_all()
            out[name] = median(times)
        db.engine.dispose()
    return out


# ---------------------------------------------------------------- main

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per GET phase (checkout: twice)")
    parser.add_argument("--growth-duration", type=int, default=None, help="seconds per growth phase (default: --duration)")
    parser.add_argument("--no-seed", action="store_true", help="reuse the database of a previous run (no growth table)")
    parser.add_argument("--sizes", default=",".join(map(str, GROWTH)), help="catalogue sizes of the growth table")
    parser.add_argument("--main-size", type=int, default=PRODUCTS, help="catalogue size of the main table")
    parser.add_argument("--cpu-only", action="store_true",
                        help="no servers: seed, then only the in-process CPU and SQL growth tables (a busy machine)")
    args = parser.parse_args()
    growth_sizes = [int(n) for n in args.sizes.split(",") if n.strip()]
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install -y wrk")
    instance = Path(tempfile.mkdtemp(prefix="coop-bench-"))
    sizes = sorted(set(growth_sizes) | {args.main_size})
    if args.no_seed:
        (instance / "uploads").mkdir(parents=True)
        sizes = []
    else:
        started = time.monotonic()
        seed(instance, sizes[0])
        print(f"seeding took {time.monotonic() - started:.0f} s")
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()  # the bench's own Redis db: last run's queued tasks
    if args.cpu_only:
        growth = {}
        for size in growth_sizes:
            grow_to(size)
            facts = _bench_facts()
            growth[size] = {"cpu": cpu_per_request(instance, facts), "sql": uncached_ms(instance, facts["categories"][0])}
        _print_cpu(growth)
        return
    env = _server_env(instance)
    shop = Server("shop", "marketplace.wsgi:app", env, instance)
    hello = Server("hello", "load:make_hello()", env, instance)
    results: dict[str, dict] = {}
    growth: dict[int, dict] = {}
    try:
        shop.wait("/products")
        hello.wait("/")
        facts = _bench_facts()
        buyers = [Buyer(shop.url, email, facts["distribution"]) for email in facts["buyers"][:CONCURRENCY]]
        cookie = "session=" + buyers[-1].http.cookies.get("session")
        d, g = args.duration, args.growth_duration or args.duration
        results["hello (wrk)"] = run_wrk(hello.url, ["/"], d, workdir=instance)
        for size in sizes or [None]:
            if size is not None:
                grow_to(size)
            facts = _bench_facts()
            catalogue, products, searches = _paths(facts)
            run_wrk(shop.url, catalogue + searches + products[:200], 3, cookie=cookie, workdir=instance)  # warm up
            if size in growth_sizes:
                growth[size] = {
                    "catalogue": run_wrk(shop.url, catalogue, g, cookie=cookie, workdir=instance),
                    "search": run_wrk(shop.url, searches, g, cookie=cookie, workdir=instance),
                    "product page": run_wrk(shop.url, products, g, cookie=cookie, workdir=instance),
                    "sql": uncached_ms(instance, facts["categories"][0]),
                    "cpu": cpu_per_request(instance, facts)}
            if size in (args.main_size, None):
                _main_phases(results, shop, hello, buyers, facts, cookie, d, instance)
                forget_product_parts()
    finally:
        shop.stop()
        hello.stop()
    _print(results)
    if growth:
        _print_growth(growth, results["hello (wrk)"]["rps"])


def _paths(facts: dict) -> tuple[list[str], list[str], list[str]]:
    rng = random.Random(7)
    catalogue = (["/products"] * 10 + [f"/products?page={n}" for n in range(2, 11)]
                 + [f"/products?category={c}" for c in facts["categories"]])
    products = [f"/products/{p}" for p in rng.sample(facts["products"], min(2000, len(facts["products"])))]
    searches = [f"/products?q={quote(q)}" for q in SEARCHES]
    return catalogue, products, searches


def _others(facts: dict, products: list[str]) -> list[str]:
    """2,000 other random product pages: none of `products` (measured before), none viewed by anyone."""
    taken = set(products)
    left = [path for path in (f"/products/{p}" for p in facts["products"]) if path not in taken]
    return random.Random(11).sample(left, min(2000, len(left)))


def prerender_all(instance: Path) -> dict:
    """What the worker's beat task does (catalog.prerender_product_pages), run here to the end: every product's
    page parts rendered ahead of its visitors. CPU seconds, parts, and the memory Redis took for them."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    before = client.info("memory")["used_memory"]
    app = _bench_app(instance)
    from marketplace.catalog import prerender

    with app.app_context():
        started = time.process_time()
        run = prerender.prerender_product_pages(app)
        cpu = time.process_time() - started
    return {"products": run.products, "parts": run.rendered, "cpu_s": cpu, "wall_s": run.seconds,
            "redis_mb": (client.info("memory")["used_memory"] - before) / 1e6}


def forget_product_parts() -> None:
    """Every product page's part out of date (a bulk change would do it): the growth rows after the main table
    measure pages nobody, not even the worker, rendered."""
    import redis

    from marketplace.catalog.product_stamps import GENERATION_KEY

    redis.Redis.from_url(REDIS_URL).incr(GENERATION_KEY)


def _main_phases(results: dict, shop, hello, buyers: list, facts: dict, cookie: str, d: int, instance: Path) -> None:
    catalogue, products, searches = _paths(facts)
    results["catalogue, anonymous"] = run_wrk(shop.url, catalogue, d, workdir=instance)
    results["catalogue, logged-in buyer"] = run_wrk(shop.url, catalogue, d, cookie=cookie, workdir=instance)
    results["search, logged-in buyer"] = run_wrk(shop.url, searches, d, cookie=cookie, workdir=instance)
    results["product page, anonymous, not pre-rendered"] = run_wrk(shop.url, products, d, workdir=instance)
    results["product page, logged-in, not pre-rendered"] = run_wrk(shop.url, products, d, cookie=cookie,
                                                                   workdir=instance)
    # The worker renders every product's page parts ahead of its visitors; then 2,000 other products nobody viewed.
    results["prerender"] = prerender_all(instance)
    others = _others(facts, products)
    results["product page, anonymous, pre-rendered"] = run_wrk(shop.url, others, d, workdir=instance)
    results["product page, logged-in, pre-rendered"] = run_wrk(shop.url, others, d, cookie=cookie, workdir=instance)
    # The products of the catalogue pages measured above (200 of them), each viewed once by this member in the last
    # 30 s (the cache's life): the pages a shop's buyers are opening, where the rows above are products nobody has
    # viewed since the catalogue last changed (2,000 of them in 5 s, each rendered the first time it is asked for).
    popular = _listed(shop.url, catalogue, cookie)
    _view_each_once(shop.url, popular, cookie)
    results["product page, logged-in, viewed <30 s"] = run_wrk(shop.url, popular, d, cookie=cookie, workdir=instance)

    import requests

    hello_sessions = [requests.Session() for _ in range(CONCURRENCY)]
    results["hello (python client)"] = run_python(
        hello_sessions, lambda s, r: _timed(lambda: s.get(hello.url + "/").status_code), d, 200)
    hello_buyers = [HelloBuyer(hello.url) for _ in range(CONCURRENCY)]
    results["hello, POST + GET (python)"] = run_python(hello_buyers, lambda b, r: b.post(), d, 302)
    results["hello, 3 × (POST + GET) (python)"] = run_python(hello_buyers, lambda b, r: b.checkout(), d, 302)
    ids = facts["sold"]
    results["add to cart"] = run_python(buyers, lambda b, r: b.add(r.choice(ids)), d, 302)

    def checkout(buyer, r):
        for product_id in r.sample(ids, 2):  # a two-product cart, then the timed checkout
            buyer.add(product_id)
        return buyer.checkout()

    for buyer in buyers:  # start from a small cart: the add-to-cart phase filled them up
        buyer.checkout()
    results[f"checkout ({CONCURRENCY} buyers)"] = run_python(buyers, checkout, 2 * d, 302)


def _listed(base: str, catalogue: list[str], cookie: str) -> list[str]:
    """The product pages the catalogue pages link to, in order, once each."""
    import requests

    headers = {"Accept-Language": "en", "User-Agent": USER_AGENT, "Cookie": cookie}
    found = [link for path in dict.fromkeys(catalogue) if "category" not in path
             for link in re.findall(r'href="(/products/[0-9]+)"', requests.get(base + path, headers=headers).text)]
    return list(dict.fromkeys(found))


def _view_each_once(base: str, paths: list[str], cookie: str) -> None:
    """GET every path once, four at a time, as the member of `cookie` (wrk's member)."""
    import requests
    from concurrent.futures import ThreadPoolExecutor

    session = requests.Session()
    session.headers.update({"Accept-Language": "en", "User-Agent": USER_AGENT, "Cookie": cookie})
    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda path: session.get(base + path, allow_redirects=False).status_code, paths))
    assert set(statuses) == {200}, sorted(set(statuses))


def _print(results: dict) -> None:
    results = dict(results)
    prerendered = results.pop("prerender", None)
    wrk_base = results["hello (wrk)"]["rps"]
    py_base = results["hello (python client)"]["rps"]
    same = {"add to cart": "hello, POST + GET (python)", "hello, POST + GET (python)": "hello, POST + GET (python)",
            "hello, 3 × (POST + GET) (python)": "hello, 3 × (POST + GET) (python)"}
    same.update({name: "hello, 3 × (POST + GET) (python)" for name in results if name.startswith("checkout")})
    print(f"\n{'page':41} {'req/s':>9} {'vs bare':>8} {'same ex.':>8} {'p50 ms':>8} {'p95 ms':>8} {'requests':>9} "
          f"{'errors':>7}")
    for name, r in results.items():
        python = name in same or name == "hello (python client)"
        base = py_base if python else wrk_base
        matched = f"{r['rps'] / results[same[name]]['rps']:7.1%}" if same.get(name) in results else ""
        print(f"{name:41} {r['rps']:9.1f} {r['rps'] / base:7.1%} {matched:>8} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f} "
              f"{r['requests']:9d} {r['errors']:7d}")
    if prerendered:
        print(f"\npre-rendered (the worker's task, run here to the end): {prerendered['products']:,} products, "
              f"{prerendered['parts']:,} page parts in {prerendered['cpu_s']:.1f} s of CPU "
              f"({prerendered['wall_s']:.1f} s), {prerendered['redis_mb']:.0f} MB more in Redis")
    print("\nvs bare: GET pages against hello measured by wrk; the buyers' rows against one GET of hello by the same "
          "Python client.\nsame ex.: the buyers' rows against the bare app doing the same exchanges with the same "
          "client (add: a form POST and the GET it redirects to; checkout: three of them), so the client's cost "
          "is the same on both sides")


def _print_growth(growth: dict, hello_rps: float) -> None:
    sizes = sorted(growth)
    print(f"\ngrowth, logged-in buyer (wrk req/s, share of bare Flask's {hello_rps:.0f} req/s in this run)")
    print(f"{'page':24}" + "".join(f"{n:>17,}" for n in sizes) + f"{'first/last':>12}")
    for page in ("catalogue", "search", "product page"):
        cells = [growth[n][page] for n in sizes]
        print(f"{page:24}" + "".join(f"{c['rps']:9.0f} {c['rps'] / hello_rps:6.1%}" for c in cells)
              + f"{cells[0]['rps'] / cells[-1]['rps']:11.2f}x")
    _print_cpu(growth)


def _print_cpu(growth: dict) -> None:
    sizes = sorted(growth)
    print("\nCPU per request in this process (ms; test client, logged-in buyer), and the bare app's share of it")
    print(f"{'page':24}" + "".join(f"{n:>17,}" for n in sizes) + f"{'last/first':>12}")
    for page in growth[sizes[0]]["cpu"]:
        cells = [growth[n]["cpu"][page] for n in sizes]
        print(f"{page:24}" + "".join(f"{c:9.2f} {growth[n]['cpu']['hello'] / c:6.1%}" for c, n in zip(cells, sizes))
              + f"{cells[-1] / cells[0]:11.2f}x")
    print("\nuncached SQL of one page (in-process, median ms; what a cache miss costs)")
    for case in growth[sizes[0]]["sql"]:
        cells = [growth[n]["sql"][case] for n in sizes]
        print(f"{case:24}" + "".join(f"{c:17.2f}" for c in cells) + f"{cells[-1] / cells[0]:11.2f}x")


if __name__ == "__main__":
    main()
