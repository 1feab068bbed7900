"""Order creation from contracts on PostgreSQL with a real Celery worker: killed in the middle, then sent three
times at once (as a redelivery and an overlapping beat would) → each subscriber has exactly one order."""
from __future__ import annotations

import pytest

from marketplace.catalog.models import DistributionOffer
from marketplace.contracts import services, tasks
from marketplace.contracts.models import PaymentMeans, SubscriptionDelivery
from marketplace.extensions import db
from marketplace.orders.models import Order
from tests.contracts_fixtures import make_contract, make_season, offer
from tests.factories import make_member, make_producer, make_product
from tests.worker_fixtures import celery_config, celery_worker, wait_for

pytestmark = pytest.mark.integration

SUBSCRIBERS = 8


@pytest.fixture
def app_config():
    return celery_config()


def test_killed_in_the_middle_then_sent_three_times_one_order_each(pg_app, monkeypatch):
    ferme = make_producer("ferme@test.coop", "Ferme du Marais")
    leeks = make_product(ferme, "Leeks", price_cents=250, stock=None)
    season = make_season([ferme], weeks=2)
    first = season[0]
    contract = make_contract(ferme, season, [(leeks.variants[0].id, 2)])
    # This week the producer brings 10 bunches: five baskets, so three subscribers get an unserved line.
    offer(first, ferme, leeks.variants[0].id, 10)
    members = [make_member(f"member{i}@test.coop") for i in range(SUBSCRIBERS)]
    for member in members:
        services.subscribe(member, contract.id, accepted_version=1, means=PaymentMeans.CHEQUE)
    db.session.commit()
    member_ids = {m.id for m in members}

    from marketplace.contracts.services import ordering

    real, calls = ordering.place_subscription_order, {"n": 0}

    def killed_at_the_fourth(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise SystemExit("worker killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(ordering, "place_subscription_order", killed_at_the_fourth)
    with pytest.raises(SystemExit):
        tasks.create_due_orders()
    db.session.rollback()
    monkeypatch.setattr(ordering, "place_subscription_order", real)
    assert db.session.query(Order).filter_by(distribution_id=first.id).count() == 3

    with celery_worker(pg_app, concurrency=4) as celery_app:
        results = [celery_app.send_task("contracts.create_due_orders") for _ in range(3)]
        made = sum(result.get(timeout=60) for result in results)
        wait_for(lambda: db.session.query(SubscriptionDelivery).count() == SUBSCRIBERS, what="every claim")

    assert made == SUBSCRIBERS - 3
    orders = db.session.query(Order).filter_by(distribution_id=first.id).all()
    assert sorted(o.buyer_id for o in orders) == sorted(member_ids)  # exactly one each
    served = sum(line.quantity for o in orders for p in o.parts for line in p.lines if line.status.value == "active")
    assert served == 10
    assert db.session.query(DistributionOffer).filter_by(distribution_id=first.id).one().reserved == 10
