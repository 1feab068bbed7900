"""Where a logged-in buyer's request spends its CPU: cProfile over the test client, on the bench database.

    python bench/profile_pages.py [catalogue|search|product|add|checkout|hello] [-n 300] [--top 30] [--plain]

Needs the database and Redis of a previous `bench/load.py` run (BENCH_DB_NAME, BENCH_REDIS_URL as there):
nothing is seeded here. Prints the CPU per request and the profile's top functions by cumulative time.
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("page", choices=["catalogue", "search", "product", "add", "checkout", "hello"])
    parser.add_argument("-n", type=int, default=300)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--miss", action="store_true", help="empty the member page cache before each GET")
    parser.add_argument("--plain", action="store_true",
                        help="no profiler: the CPU per call, and per POST for add and checkout (without the GET "
                             "after it; checkout: its own POST, not the two adds before it)")
    args = parser.parse_args()
    instance = Path(tempfile.mkdtemp(prefix="coop-profile-"))
    (instance / "uploads").mkdir()
    facts = load._bench_facts()
    app = load._bench_app(instance)
    client = app.test_client()
    with app.app_context():
        token = load.CSRF_RE.search(client.get("/login").get_data(as_text=True)).group(1)
    with app.app_context():
        client.post("/login", data={"csrf_token": token, "email": facts["buyers"][1], "password": load.PASSWORD})
    with app.app_context():
        token = load.CSRF_RE.search(client.get("/cart").get_data(as_text=True)).group(1)
        client.post("/cart/distribution", data={"csrf_token": token, "distribution_id": facts["distribution"]})
    catalogue, products, searches = load._paths(facts)
    rng = random.Random(3)
    ids = facts["sold"]

    posted = [0.0]
    placed = [0.0]  # the checkout POSTs alone

    def add():
        # Among a few products, so that the cart stays as small as the bench's carts (a few lines).
        pid = rng.choice(ids[-4:] if args.page == "add" else ids)
        started = time.process_time()
        r = client.post("/cart/add", data={"csrf_token": token, "product_id": pid, f"quantity-{pid}": 1,
                                           "next": "/products"})
        posted[0] += time.process_time() - started
        if r.status_code == 303:  # refused: show why
            page = client.get(r.headers["Location"]).get_data(as_text=True)
            sys.exit(f"add refused: {re.findall(r'flash[^>]*>([^<]*)<', page)[:3]}")
        assert r.status_code == 302, r.status_code
        client.get(r.headers["Location"])  # as a browser (and bench/load.py) does: the flashed message leaves

    def checkout():
        started = time.process_time()
        r = client.post("/checkout", data={"csrf_token": token, "fulfilment": "pickup",
                                           "payment_method": "pay_at_pickup"})
        placed[0] += time.process_time() - started
        assert r.status_code == 302, r.status_code
        client.get(r.headers["Location"])

    hello = load.make_hello().test_client()
    paths = {"catalogue": catalogue, "search": searches, "product": products[:200]}
    if args.page in paths:
        mix = paths[args.page]

        def call(i=[0]):
            if args.miss:
                app.extensions.pop("member_pages", None)
            r = client.get(mix[call.__defaults__[0][0] % len(mix)])
            call.__defaults__[0][0] += 1
            assert r.status_code == 200
        for path in dict.fromkeys(mix):
            client.get(path)
    elif args.page == "hello":
        def call():
            hello.get("/")
    elif args.page == "add":
        call = add
    else:
        def call():
            add()
            add()
            checkout()
    for _ in range(5):
        call()
    if args.plain:
        posted[0], placed[0], start = 0.0, 0.0, time.process_time()
        for _ in range(args.n):
            call()
        per_post = {"add": f", {posted[0] * 1000 / args.n:.2f} ms per POST",
                    "checkout": f", {placed[0] * 1000 / args.n:.2f} ms per checkout POST"}.get(args.page, "")
        print(f"{args.page}: {(time.process_time() - start) * 1000 / args.n:.2f} ms CPU per call{per_post}")
        return
    profile = cProfile.Profile(time.process_time)  # CPU, not wall: waits on PostgreSQL or Redis are not counted
    start = time.process_time()
    profile.enable()
    for _ in range(args.n):
        call()
    profile.disable()
    print(f"{args.page}: {(time.process_time() - start) * 1000 / args.n:.2f} ms CPU per call (profiled)")
    pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
