"""The demo coop's last two months, so that the transparency page tells a real coop's story.

Weekly distributions (Thursday market with home delivery, Saturday at the school), a few hundred
orders from some fifty member households, couriers' runs and their pay, and the running costs of a
small coop (accounting, insurance, software maintenance, the cold room...). Then both months are
closed: fees shared at cost by the voted rule, statements issued.

Rows are written in bulk, as history (the services' checks and e-mails are for live orders); the
seed is deterministic (a fixed random seed).
"""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta

from marketplace.billing.models import CostCategory
from marketplace.catalog.models import ProducerProfile, Product
from marketplace.distributions.models import DeliveryZone, Distribution, PickupPlace
from marketplace.extensions import db
from marketplace.members.models import College, Membership, MembershipStatus, User

MONTHS = 2
HOUSEHOLDS = 48
# (orders per distribution, weekday, local hour, with home delivery)
MARKETS = ((34, 3, 16, True), (20, 5, 9, False))
DELIVERY_SHARE = 0.3

FIRST_NAMES = ("Camille", "Louis", "Manon", "Gabriel", "Léa", "Hugo", "Chloé", "Arthur", "Jade", "Jules",
               "Louise", "Nathan", "Emma", "Lucas", "Zoé", "Malo", "Nina", "Titouan", "Rose", "Erwan",
               "Anaïs", "Youssef", "Maëlle", "Killian")
LAST_NAMES = ("Bernard", "Le Roux", "Petit", "Guillou", "Morin", "Fournier", "Girard", "Rousseau", "Tessier",
              "Mercier", "Ben Ali", "Nguyen", "Blanchard", "Le Bihan", "Gautier", "Perrin", "Renaud", "Caillaud")
STREETS = ("rue de Strasbourg", "rue Paul Bellamy", "boulevard des Poilus", "rue Fouré", "rue de Coulmiers",
           "quai de Versailles", "rue Mondésir", "rue Hippolyte Durand-Gasselin")

# A small coop's running costs per month, in cents (VAT included), with the supplier's name.
MONTHLY_COSTS = (
    ("hosting", 2900, "Hébergeur associatif (serveur et sauvegardes)"),
    ("software", 1200, "Nom de domaine et messagerie"),
    ("accounting", 18000, "Cabinet comptable, forfait mensuel"),
    ("insurance", 4500, "Assurance responsabilité civile"),
    ("payment_processing", 2300, "Frais de tenue de compte bancaire"),
    ("maintenance", 15000, "Maintenance du logiciel (coopérative de développeurs)"),
    ("other", 22000, "Location de la chambre froide et des caisses"),
)


def seed_past_months(admin: User, now: datetime) -> None:
    """The last MONTHS calendar months of activity, then each month closed (oldest first)."""
    from marketplace.billing import services as billing

    rng = random.Random(2026)
    buyers = _households(rng)
    place_by_market = db.session.query(PickupPlace).order_by(PickupPlace.id).all()
    producers = db.session.query(ProducerProfile).order_by(ProducerProfile.id).all()
    products = {p.id: p.products.filter(Product.status == "active").order_by(Product.id).all() for p in producers}
    zone = db.session.query(DeliveryZone).order_by(DeliveryZone.id).first()
    couriers = (db.session.query(User).join(Membership, Membership.user_id == User.id)
                .filter(Membership.college == College.COURIER).order_by(User.id).all())
    this_month = billing.coop_today().replace(day=1)
    months = [_month_before(this_month, n) for n in range(MONTHS, 0, -1)]
    _adopt_rule(admin)
    counter = 0
    for month in months:
        for market, place in zip(MARKETS, place_by_market, strict=False):
            orders_each, weekday, hour, delivery = market
            sellers = producers if delivery else producers[1:]
            for day in _weekdays(month, weekday):
                pickup = datetime.combine(day, datetime.min.time()) + timedelta(hours=hour - 1)  # UTC, winter
                distribution = Distribution(
                    pickup_place=place, title="Marché du jeudi" if delivery else "Samedi à l'école",
                    starts_at=pickup, ends_at=pickup + timedelta(hours=3), opens_at=pickup - timedelta(days=6),
                    cutoff_at=pickup - timedelta(hours=30), closed_at=pickup - timedelta(hours=30),
                    home_delivery=delivery, producers=sellers)
                db.session.add(distribution)
                delivered = []
                for buyer in rng.sample(buyers, orders_each):
                    counter += 1
                    order = _order(rng, counter, buyer, distribution, sellers, products,
                                   zone if delivery and rng.random() < DELIVERY_SHARE else None)
                    if order.delivery_fee_cents:
                        delivered.append(order)
                db.session.flush()
                _runs(rng, distribution, delivered, couriers)
        for category, cents, supplier in MONTHLY_COSTS:
            billing.record_cost(admin, billing.CostInput(category=CostCategory(category), amount_cents=cents,
                                                         incurred_on=month + timedelta(days=4), supplier=supplier))
    db.session.flush()
    for month in months:
        billing.close_month(admin, month)


def _month_before(first: date, n: int) -> date:
    year, month = divmod(first.year * 12 + first.month - 1 - n, 12)
    return date(year, month + 1, 1)


def _weekdays(month: date, weekday: int) -> list[date]:
    day = month + timedelta(days=(weekday - month.weekday()) % 7)
    days = []
    while day.month == month.month:
        days.append(day)
        day += timedelta(days=7)
    return days


def _households(rng: random.Random) -> list[User]:
    """The demo buyers plus member households (same demo password, one hash computed once)."""
    buyers = (db.session.query(User).join(Membership, Membership.user_id == User.id)
              .filter(Membership.college == College.BUYER, Membership.status == MembershipStatus.ACTIVE)
              .order_by(User.id).all())
    password_hash = buyers[0].password_hash
    number = db.session.query(db.func.max(Membership.member_number)).scalar() or 0
    joined = datetime(2025, 3, 1)
    for n in range(HOUSEHOLDS):
        first, last = FIRST_NAMES[n % len(FIRST_NAMES)], LAST_NAMES[(n * 7) % len(LAST_NAMES)]
        slug = f"{first}.{last}".lower().replace(" ", "").replace("ï", "i").replace("é", "e").replace("ë", "e")
        user = User(email=f"{slug}.{n + 1}@membres.demo.coop", password_hash=password_hash,
                    full_name=f"{first} {last}", address=f"{rng.randint(1, 60)} {rng.choice(STREETS)}",
                    postcode=rng.choice(("44000", "44100", "44200", "44300")), town="Nantes",
                    email_confirmed_at=joined, created_at=joined)
        number += 1
        user.membership = Membership(member_number=number, college=College.BUYER, status=MembershipStatus.ACTIVE,
                                     applied_at=joined, joined_at=joined, decided_at=joined)
        db.session.add(user)
        buyers.append(user)
    db.session.flush()
    return buyers


def _order(rng: random.Random, n: int, buyer: User, distribution: Distribution, sellers: list[ProducerProfile],
           products: dict[int, list[Product]], zone: DeliveryZone | None):
    from marketplace.orders.models import Order, OrderLine, OrderPart
    from marketplace.orders.states import Fulfilment, LineStatus, PartStatus, PaymentMethod, PaymentStatus

    pickup = distribution.starts_at
    order = Order(reference=f"C{pickup:%y%m%d}-{n:04d}", buyer_id=buyer.id, distribution=distribution,
                  payment_method=PaymentMethod.PAY_AT_PICKUP, payment_status=PaymentStatus.PAID,
                  delivery_code=f"{rng.randint(0, 9999):04d}", created_at=pickup - timedelta(days=rng.randint(1, 5)))
    if zone is not None:
        order.fulfilment, order.delivery_zone_id = Fulfilment.DELIVERY, zone.id
        order.delivery_fee_cents = zone.fee_cents
        order.delivery_address, order.delivery_postcode, order.delivery_town = buyer.address, buyer.postcode, "Nantes"
    status = PartStatus.DELIVERED if zone is not None else PartStatus.COLLECTED
    # Most households buy vegetables; two or three producers per basket.
    chosen = [sellers[0]] if rng.random() < 0.8 else []
    chosen += rng.sample([s for s in sellers if s not in chosen], k=min(len(sellers) - len(chosen), rng.randint(1, 2)))
    for profile in chosen:
        part = OrderPart(producer_id=profile.id, status=status, status_changed_at=pickup + timedelta(hours=1))
        for product in rng.sample(products[profile.id], k=min(len(products[profile.id]), rng.randint(1, 3))):
            quantity = rng.choice((1, 1, 1, 2, 2, 3))
            grams = None
            if product.is_weight_priced:
                grams = int(quantity * product.estimated_weight_g * rng.uniform(0.9, 1.1))
            part.lines.append(OrderLine(
                product_id=product.id, variant_id=product.variants[0].id, product_name=product.name,
                unit=product.unit.value,
                unit_price_cents=product.price_cents, vat_rate_bp=product.vat_rate_bp, quantity=quantity,
                is_weight_priced=product.is_weight_priced, estimated_weight_g=product.estimated_weight_g,
                weighed_grams=grams, status=LineStatus.ACTIVE))
        order.parts.append(part)
    db.session.add(order)
    return order


def _runs(rng: random.Random, distribution: Distribution, orders: list, couriers: list[User]) -> None:
    """The couriers' finished runs for a distribution's deliveries, paid by the published rule."""
    from marketplace.dispatch.models import CourierPayable, Run, RunStatus
    from marketplace.dispatch.services.rules import get_rules, pay_rule_text

    if not orders or not couriers:
        return
    rules = get_rules()
    rule_text = pay_rule_text(rules)[:200]
    for k, courier in enumerate(couriers):
        mine = orders[k::len(couriers)]
        if not mine:
            continue
        stops = len(mine) + 1  # the pickup at the market, then each door
        distance_m = 3000 + 1400 * len(mine) + rng.randint(0, 1500)
        end = distribution.starts_at + timedelta(hours=3)
        run = Run(status=RunStatus.DONE, plan_key=f"distribution:{distribution.id}", distribution_id=distribution.id,
                  courier_id=courier.id, starts_at=distribution.starts_at + timedelta(hours=1), ends_at=end,
                  distance_m=distance_m, parcels=sum(len(o.parts) for o in mine), created_at=distribution.cutoff_at,
                  accepted_at=distribution.cutoff_at, completed_at=end)
        db.session.add(run)
        pay = rules.pay_per_run_cents + rules.pay_per_km_cents * distance_m // 1000 + rules.pay_per_stop_cents * stops
        db.session.add(CourierPayable(run=run, courier_id=courier.id, amount_cents=pay, distance_m=distance_m,
                                      stops=stops, rule=rule_text, created_at=end))


def _adopt_rule(admin: User) -> None:
    from marketplace.billing import services as billing

    settings = billing.get_billing_settings()
    settings.allow_admin_decision = True
    rule = billing.propose_rule(admin, billing.RuleInput(
        flat_cents={"producer": 300, "courier": 0, "buyer": 50, "supporter": 0},
        weights={"producer": 2, "courier": 1, "buyer": 1}, effective_from=date(2020, 1, 1),
        rationale="Les producteurs portent un peu plus : la boutique est leur canal de vente."))
    billing.adopt_by_decision(admin, rule.id, "AG du 14 mars 2026, résolution 3")
