"""Benchmark the courier-run planner (VROOM) against the greedy baseline.

Synthetic city around Nantes (47.2184, -1.5536): 30 producers on a ~10 km
ring, buyers spread inside, couriers (bikes, cargo bikes, vans) starting and
ending near the centre, drop-off windows of 1-2 h across a 4 h afternoon,
1-12 kg per delivery, ~15 % of deliveries with 2-3 producer pickups.

    python bench/dispatch.py            # 100/10, 1000/50, 3000/150
    python bench/dispatch.py --quick    # 100/10 only
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from marketplace.dispatch.geo import Coordinates  # noqa: E402
from marketplace.dispatch.planner import Courier, Delivery, Pickup, plan_greedy, plan_runs  # noqa: E402

CENTRE = Coordinates(47.2184, -1.5536)
RADIUS_KM = 10.0
AFTERNOON = 1_767_272_400  # 2026-01-01 13:00 UTC, an arbitrary fixed epoch
SIZES = [(100, 10), (1000, 50), (3000, 150)]

VEHICLES = [  # (name, speed km/h, capacity g, parcels, max stops, share)
    ("bike", 15.0, 25_000, 6, 24, 0.4),
    ("cargo", 13.0, 80_000, 16, 40, 0.4),
    ("van", 25.0, 400_000, 60, 80, 0.2),
]


def _offset(centre: Coordinates, dist_km: float, bearing: float) -> Coordinates:
    dlat = dist_km / 111.32 * math.cos(bearing)
    dlon = dist_km / (111.32 * math.cos(math.radians(centre.lat))) * math.sin(bearing)
    return Coordinates(round(centre.lat + dlat, 6), round(centre.lon + dlon, 6))


def make_city(n_deliveries: int, n_couriers: int, seed: int = 42) -> tuple[list[Delivery], list[Courier]]:
    rng = random.Random(seed)
    producers = [
        Pickup(_offset(CENTRE, rng.uniform(0.85, 1.0) * RADIUS_KM, 2 * math.pi * i / 30 + rng.uniform(-0.1, 0.1)), f"P{i}")
        for i in range(30)
    ]
    deliveries = []
    for i in range(n_deliveries):
        k = 1 if rng.random() < 0.85 else rng.choice((2, 3))
        pickups = rng.sample(producers, k)
        drop = _offset(CENTRE, RADIUS_KM * 0.8 * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi))
        start = AFTERNOON + rng.randrange(0, 3 * 3600, 900)
        length = rng.choice((3600, 5400, 7200))
        end = min(AFTERNOON + 4 * 3600, start + length)
        deliveries.append(
            Delivery(
                id=i + 1,
                pickups=pickups,
                dropoff=drop,
                weight_g=rng.randint(1_000, 12_000),
                parcels=rng.randint(1, 3),
                window=(start, end),
            )
        )
    couriers = []
    for j in range(n_couriers):
        r = rng.random()
        acc = 0.0
        for name, speed, cap_g, cap_p, max_stops, share in VEHICLES:
            acc += share
            if r <= acc:
                break
        home = _offset(CENTRE, RADIUS_KM * 0.5 * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi))
        couriers.append(
            Courier(
                id=j + 1,
                start=home,
                end=home,
                shift=(AFTERNOON - 3600, AFTERNOON + 4 * 3600 + 1800),
                capacity_g=cap_g,
                capacity_parcels=cap_p,
                max_stops=max_stops,
                speed_kmh=speed,
            )
        )
    return deliveries, couriers


def run(sizes, exploration: int, threads: int, timeout_s: float | None, big_timeout_s: float) -> None:
    header = f"{'deliveries':>10} {'couriers':>8} | {'planner':<7} {'wall s':>7} {'km':>9} {'unassigned':>10} {'runs':>5} {'km/deliv':>8}"
    print(header)
    print("-" * len(header))
    for n_d, n_c in sizes:
        deliveries, couriers = make_city(n_d, n_c)
        # The largest instance gets a hard solver time limit rather than waiting forever.
        limit = big_timeout_s if n_d >= 3000 else timeout_s
        for name, fn, kwargs in (
            ("vroom", plan_runs, {"exploration": exploration, "threads": threads, "timeout_s": limit}),
            ("greedy", plan_greedy, {}),
        ):
            t = time.perf_counter()
            plan = fn(deliveries, couriers, **kwargs)
            wall = time.perf_counter() - t
            served = n_d - len(plan.unassigned)
            per = plan.total_distance_m / 1000 / served if served else float("nan")
            print(
                f"{n_d:>10} {n_c:>8} | {name:<7} {wall:>7.2f} {plan.total_distance_m / 1000:>9.1f}"
                f" {len(plan.unassigned):>10} {len(plan.runs):>5} {per:>8.2f}",
                flush=True,
            )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="only the first size (100 deliveries, 10 couriers)")
    ap.add_argument("--exploration", type=int, default=None, help="VROOM exploration level (default: planner's)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=None, help="VROOM time limit in seconds for the smaller sizes")
    ap.add_argument("--big-timeout", type=float, default=20.0, help="VROOM time limit in seconds for 3000 deliveries (VROOM does not bound its construction phase by it; the planner also splits instances over 1000 deliveries into sectors)")
    args = ap.parse_args(argv)
    from marketplace.dispatch.planner import DEFAULT_EXPLORATION

    exploration = DEFAULT_EXPLORATION if args.exploration is None else args.exploration
    sizes = SIZES[:1] if args.quick else SIZES
    print(f"VROOM exploration={'auto' if exploration is None else exploration} threads={args.threads} timeout={args.timeout} big-timeout={args.big_timeout}")
    run(sizes, exploration, args.threads, args.timeout, args.big_timeout)


if __name__ == "__main__":
    main()
