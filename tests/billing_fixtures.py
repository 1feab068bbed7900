"""Builders for billing tests: past distributions, completed sales, an adopted fee rule."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from marketplace.billing import services
from marketplace.billing.models import CostCategory
from marketplace.catalog.models import Product, ProductVariant, Unit
from marketplace.distributions.models import Distribution, PickupPlace
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.orders.models import Order, OrderLine, OrderPart
from marketplace.orders.states import Fulfilment, LineStatus, PartStatus, PaymentMethod, PaymentStatus
from tests.factories import category, get_admin

_counter = iter(range(1, 10**9))


def last_month(today: date | None = None) -> date:
    """First day of the previous month (coop time zone)."""
    return services.previous_month(today or services.coop_today())


def adopt_rule(flat: dict[str, int] | None = None, weights: dict[str, int] | None = None,
               effective_from: date = date(2000, 1, 1)):
    """A fee rule in force, adopted by a recorded general-assembly decision."""
    admin = get_admin()
    settings = services.get_billing_settings()
    settings.allow_admin_decision = True
    rule = services.propose_rule(admin, services.RuleInput(
        flat_cents=flat if flat is not None else {"producer": 300, "buyer": 50},
        weights=weights if weights is not None else {"producer": 2, "courier": 1, "buyer": 1},
        effective_from=effective_from, rationale="Test rule"))
    return services.adopt_by_decision(admin, rule.id, "GA 2024-03-01, resolution 4")


def past_distribution(day: date, producers: list[User], hour: int = 10) -> Distribution:
    """A distribution whose pickup was on `day` (inserted directly: its ordering window is over)."""
    place = PickupPlace(name=f"Hall {next(_counter)}", address="Rue Talensac", town="Nantes")
    db.session.add(place)
    starts = datetime.combine(day, datetime.min.time()) + timedelta(hours=hour)
    distribution = Distribution(pickup_place=place, title="Past", starts_at=starts, ends_at=starts + timedelta(hours=2),
                                opens_at=starts - timedelta(days=6), cutoff_at=starts - timedelta(days=2),
                                closed_at=starts - timedelta(days=2))
    distribution.producers = [p.producer_profile for p in producers]
    db.session.add(distribution)
    db.session.flush()
    return distribution


@dataclass
class LineSpec:
    price_cents: int = 300
    quantity: int = 1
    weight_priced_g: int | None = None   # estimated grams per piece (price is per kg)
    weighed_grams: int | None = None
    rejected: bool = False


def _product(producer: User, spec: LineSpec) -> Product:
    product = Product(producer_id=producer.producer_profile.id, category_id=category().id, name="Produce",
                      price_cents=spec.price_cents, is_weight_priced=spec.weight_priced_g is not None,
                      estimated_weight_g=spec.weight_priced_g)
    product.variants.append(ProductVariant(unit=Unit.KG if spec.weight_priced_g else Unit.PIECE,
                                           price_cents=spec.price_cents, vat_rate_bp=550,
                                           is_weight_priced=spec.weight_priced_g is not None,
                                           estimated_weight_g=spec.weight_priced_g))
    db.session.add(product)
    db.session.flush()
    return product


def make_sale(buyer: User, producer: User, distribution: Distribution, lines: list[LineSpec] | None = None,
              status: PartStatus = PartStatus.COLLECTED, delivery_fee_cents: int = 0) -> Order:
    """An order with one producer's part in `status` (collected by default)."""
    lines = lines or [LineSpec()]
    order = Order(reference=f"T{next(_counter):08d}", buyer_id=buyer.id, distribution_id=distribution.id,
                  fulfilment=Fulfilment.DELIVERY if delivery_fee_cents else Fulfilment.PICKUP,
                  delivery_fee_cents=delivery_fee_cents, payment_method=PaymentMethod.PAY_AT_PICKUP,
                  payment_status=PaymentStatus.PAID)
    part = OrderPart(producer_id=producer.producer_profile.id, status=status)
    order.parts.append(part)
    for spec in lines:
        product = _product(producer, spec)
        part.lines.append(OrderLine(
            product_id=product.id, variant_id=product.variants[0].id, product_name=product.name, unit="kg" if spec.weight_priced_g else "piece",
            unit_price_cents=spec.price_cents, vat_rate_bp=550, quantity=spec.quantity,
            is_weight_priced=spec.weight_priced_g is not None, estimated_weight_g=spec.weight_priced_g,
            weighed_grams=spec.weighed_grams, status=LineStatus.REJECTED if spec.rejected else LineStatus.ACTIVE))
    db.session.add(order)
    db.session.flush()
    return order


def add_cost(amount_cents: int, day: date, category: CostCategory = CostCategory.HOSTING, **fields):
    return services.record_cost(get_admin(), services.CostInput(category=category, amount_cents=amount_cents,
                                                                incurred_on=day, **fields))
