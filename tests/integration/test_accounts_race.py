"""Two checkouts spending the same balance at once, on the real PostgreSQL: the balance is spent once."""
import threading

import pytest

from marketplace.accounts import services as accounts
from marketplace.accounts.models import Means, MovementKind
from marketplace.extensions import db
from marketplace.orders import services as orders
from marketplace.orders.models import Order
from marketplace.orders.services.account_payment import pay_from_account
from tests.factories import get_admin, make_distribution, make_member, make_producer, make_product

pytestmark = pytest.mark.integration


@pytest.fixture
def app_config():
    return {"SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 8, "max_overflow": 0, "pool_timeout": 60}}


def _in_parallel(pg_app, calls) -> list[str]:
    barrier = threading.Barrier(len(calls))
    outcomes: list[str] = []

    def run(call) -> None:
        with pg_app.app_context():  # its own session, its own connection
            barrier.wait()
            try:
                call()
                db.session.commit()
                outcomes.append("ok")
            except Exception as exc:  # noqa: BLE001 - any failure is an outcome the test reports
                db.session.rollback()
                outcomes.append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return outcomes


def test_two_checkouts_spending_the_same_balance_at_once_spend_it_once(pg_app):
    producer = make_producer("ferme@test.coop", "Ferme")
    leeks = make_product(producer, "Leeks", price_cents=400, stock=100)
    buyer = make_member("buyer@test.coop")
    accounts.record_top_up(get_admin(), buyer.id, 1000, Means.CASH)
    order_ids = []
    for _ in range(2):  # two orders of 8.00, each placed without the balance, then paid from it at once
        distribution = make_distribution([producer])
        orders.choose_distribution(buyer, distribution.id)
        orders.add_to_cart(buyer, leeks.id, 2)
        order_ids.append(orders.checkout(buyer, orders.CheckoutInput(use_account=False)).id)
    db.session.commit()
    buyer_id = buyer.id
    db.session.remove()

    outcomes = _in_parallel(pg_app, [lambda oid=oid: pay_from_account(db.session.get(Order, oid))
                                     for oid in order_ids])

    assert outcomes == ["ok", "ok"]
    shares = sorted(accounts.order_share_cents(oid) for oid in order_ids)
    assert shares == [200, 800]  # one got 8.00, the other what was left
    assert accounts.balance_cents(buyer_id) == 0


def test_first_movements_at_once_create_one_account(pg_app):
    buyer = make_member("buyer@test.coop")
    db.session.commit()
    buyer_id = buyer.id
    db.session.remove()

    outcomes = _in_parallel(pg_app, [
        lambda: accounts.post_movement(buyer_id, MovementKind.DISPUTE_CREDIT, 300, key="dispute:1"),
        lambda: accounts.post_movement(buyer_id, MovementKind.REJECTED_LINE_CREDIT, 200, key="rejected:1")])

    assert outcomes == ["ok", "ok"] and accounts.balance_cents(buyer_id) == 500
