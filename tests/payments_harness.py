"""A coop's card money flow on SQLite, driven step by step: the fake Stripe with its webhooks held in
an inbox (delivered, duplicated, reordered or lost on purpose), a worker run by hand from the task
outbox, and the app's clock following Stripe's.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone

from flask import current_app

from marketplace.core.models import OutboxMessage
from marketplace.extensions import db
from marketplace.members.models import College
from marketplace.orders import services as orders
from marketplace.orders.models import Order
from marketplace.orders.states import Fulfilment, PaymentMethod
from marketplace.payments import services
from marketplace.payments.models import CardPayment
from marketplace.timeutil import utcnow
from tests.factories import make_distribution, make_member, make_producer, make_product
from tests.fakes.stripe_server import FakeStripeServer
from tests.payments_fixtures import connect_ready_account


@dataclass
class Delivery:
    endpoint: str  # "platform" or "connect"
    payload: bytes
    signature: str

    @property
    def type(self) -> str:
        return json.loads(self.payload)["type"]


@dataclass
class MoneyFlow:
    """The shop and the fake Stripe, with nothing happening unless a test step says so."""

    app: object
    fake: FakeStripeServer
    inbox: list[Delivery] = field(default_factory=list)
    delivered: list[Delivery] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.client = self.app.test_client()
        self.fake.webhook_handler = lambda payload, sig: self._hold("platform", payload, sig)
        self.fake.connect_webhook_handler = lambda payload, sig: self._hold("connect", payload, sig)

    def _hold(self, endpoint: str, payload: bytes, signature: str) -> int:
        self.inbox.append(Delivery(endpoint, payload, signature))
        return 200

    # ---- time ----------------------------------------------------------------------------

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.fake.now(), timezone.utc).replace(tzinfo=None)

    def follow_stripes_clock(self, monkeypatch) -> None:
        """The app reads the time Stripe's clock says (payments read it through marketplace.timeutil)."""
        monkeypatch.setattr("marketplace.timeutil.utcnow", self.now)

    # ---- webhooks ----------------------------------------------------------------------------

    def deliver(self, index: int = 0, keep: bool = False) -> int:
        """POST one held event to its endpoint (keep=True: Stripe will send it again)."""
        delivery = self.inbox[index] if keep else self.inbox.pop(index)
        path = "/stripe/connect-webhook" if delivery.endpoint == "connect" else "/stripe/webhook"
        response = self.client.post(path, data=delivery.payload, content_type="application/json",
                                    headers={"Stripe-Signature": delivery.signature})
        self.delivered.append(delivery)
        return response.status_code

    def deliver_all(self) -> None:
        while self.inbox:
            assert self.deliver() == 200

    def lose_webhooks(self) -> int:
        lost, self.inbox = len(self.inbox), []
        return lost

    # ---- the worker --------------------------------------------------------------------------

    def pending_tasks(self) -> list[OutboxMessage]:
        return (db.session.query(OutboxMessage).filter(OutboxMessage.published_at.is_(None))
                .order_by(OutboxMessage.id).all())

    def run_task(self, message_id: int) -> object:
        """What a worker does with one queued task (again, if it already ran: a redelivery)."""
        message = db.session.get(OutboxMessage, message_id)
        message.published_at = message.published_at or utcnow()
        name, args = message.task_name, json.loads(message.args_json)
        db.session.commit()
        return current_app.extensions["celery"].tasks[name].run(*args)

    def run_tasks(self, limit: int = 200) -> int:
        ran = 0
        while ran < limit:
            pending = self.pending_tasks()
            if not pending:
                return ran
            self.run_task(pending[0].id)
            ran += 1
        raise AssertionError("the task queue does not drain")

    def settle(self) -> None:
        """Deliver every webhook and run every task until nothing is left."""
        for _ in range(50):
            self.deliver_all()
            if not self.run_tasks():
                if not self.inbox:
                    return
        raise AssertionError("webhooks and tasks keep coming")

    # ---- the coop -------------------------------------------------------------------------------

    def coop(self, producers: int = 2, delivery: bool = True) -> dict:
        farms = [make_producer(f"farm{i}@test.coop", f"Farm {i}") for i in range(producers)]
        products = [make_product(farms[0], "Tomatoes", price_cents=600, weight_priced_g=1000, stock=None)]
        products += [make_product(farm, f"Eggs {i}", price_cents=350, stock=None) for i, farm in enumerate(farms)]
        distribution = make_distribution(farms, home_delivery=delivery)
        for farm in farms:
            connect_ready_account(self.fake, farm)
        courier = make_member("courier@test.coop", College.COURIER)
        connect_ready_account(self.fake, courier)
        db.session.commit()
        self.inbox.clear()
        return {"farms": farms, "products": products, "distribution": distribution, "courier": courier}

    def place_order(self, coop: dict, buyer_email: str, quantities: dict[int, int], delivery: bool = False) -> int:
        buyer = make_member(buyer_email, postcode="44000", address="3 rue Kervégan", town="Nantes")
        orders.choose_distribution(buyer, coop["distribution"].id)
        for index, quantity in quantities.items():
            orders.add_to_cart(buyer, coop["products"][index].id, quantity)
        order = orders.checkout(buyer, orders.CheckoutInput(
            fulfilment=Fulfilment.DELIVERY if delivery else Fulfilment.PICKUP, payment_method=PaymentMethod.CARD,
            delivery_address="3 rue Kervégan", delivery_postcode="44000", delivery_town="Nantes"))
        db.session.commit()
        order_id = order.id
        with current_app.test_request_context(base_url="http://shop.test"):
            services.start_checkout(db.session.get(type(buyer), buyer.id), order_id)
            db.session.commit()
        return order_id

    def pay(self, order_id: int) -> None:
        payment = db.session.query(CardPayment).filter_by(order_id=order_id).one()
        self.fake.pay_checkout_session(payment.session_id)

    def prepare(self, order_id: int, grams: int | None = None) -> None:
        """Every producer accepts, weighs (grams, else the estimate) and packs their part."""
        order = db.session.get(Order, order_id)
        for part in [p for p in order.parts if p.status.value in ("placed", "accepted")]:
            farm = part.producer.user
            if part.status.value == "placed":
                orders.accept_part(farm, part.id)
            for line in part.lines:
                if line.is_weight_priced and line.status.value == "active":
                    orders.record_weight(farm, line.id, grams or line.estimated_weight_total_g)
            db.session.commit()
            orders.mark_ready(farm, part.id)
            db.session.commit()
