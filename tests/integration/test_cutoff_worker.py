"""The cut-off beat task, run by a real Celery worker on Redis against PostgreSQL."""
from datetime import timedelta

import pytest

from marketplace.catalog.models import Product
from marketplace.core.models import OutboundEmail
from marketplace.distributions.models import Distribution
from marketplace.extensions import db
from marketplace.orders import services
from marketplace.orders.models import OrderPart
from marketplace.orders.services import CheckoutInput
from marketplace.orders.states import PartStatus
from marketplace.timeutil import utcnow
from tests.factories import make_distribution, make_member, make_producer, make_product
from tests.worker_fixtures import celery_config, celery_worker, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def app_config():
    return celery_config()


def test_beat_cutoff_task_cancels_under_minimum_once(pg_app):
    small = make_producer("small@test.coop", "Small Farm", min_order_cents=5000)
    big = make_producer("big@test.coop", "Big Farm")
    eggs = make_product(small, "Eggs", price_cents=300, stock=20)
    bread = make_product(big, "Bread", price_cents=450, stock=20)
    distribution = make_distribution([small, big])
    buyer = make_member("buyer@test.coop")
    services.add_to_cart(buyer, eggs.id, 2)
    services.add_to_cart(buyer, bread.id, 1)
    order = services.checkout(buyer, CheckoutInput())
    distribution.cutoff_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    distribution_id, eggs_id = distribution.id, eggs.id

    with celery_worker(pg_app) as celery_app:
        # What beat sends every 30 s; sent twice, as a redelivery would.
        celery_app.send_task("orders.close_due_distributions")
        celery_app.send_task("orders.close_due_distributions")
        wait_for(lambda: db.session.get(Distribution, distribution_id).closed_at, what="cut-off")
        wait_for(lambda: db.session.query(OutboundEmail).filter(OutboundEmail.subject.contains("Harvest")).count(),
                 what="harvest e-mail")

    parts = {p.producer.name: p for p in db.session.query(OrderPart).filter_by(order_id=order.id)}
    assert parts["Small Farm"].status == PartStatus.CANCELLED
    assert parts["Big Farm"].status == PartStatus.PLACED
    assert db.session.get(Product, eggs_id).stock == 20
    cancelled_mails = db.session.query(OutboundEmail).filter(OutboundEmail.recipient == "buyer@test.coop",
                                                             OutboundEmail.subject.contains("cancelled")).count()
    assert cancelled_mails == 1  # the second delivery of the task did nothing
    assert db.session.query(OutboundEmail).filter(OutboundEmail.subject.contains("Harvest")).count() == 1
