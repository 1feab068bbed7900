"""The demo coop: realistic members, producers, products with photos, distributions."""
from __future__ import annotations

import hashlib
import io
from datetime import datetime, timedelta

from PIL import Image, ImageDraw, ImageFont

from marketplace.catalog.models import Category, Product, Unit
from marketplace.catalog.services import ProductInput, create_product, store_photo, update_profile
from marketplace.distributions.models import Distribution, PickupPlace
from marketplace.distributions.services import (DistributionInput, SlotInput, create_delivery_zone,
                                                create_pickup_place, schedule_distribution)
from marketplace.extensions import db
from marketplace.members.models import College, User
from marketplace.members.services import apply_for_membership, approve_membership, register
from marketplace.timeutil import utcnow

DEMO_PASSWORD = "coop-demo-2026"

CATEGORIES = [
    ("vegetables", "Vegetables", "Légumes"), ("fruit", "Fruit", "Fruits"),
    ("dairy", "Dairy & eggs", "Crèmerie & œufs"), ("meat", "Meat", "Viande"),
    ("bakery", "Bread & bakery", "Pain & boulangerie"), ("grocery", "Grocery", "Épicerie"),
    ("drinks", "Drinks", "Boissons"),
]

PRODUCERS = [
    {
        "email": "ferme.du.marais@demo.coop", "name": "Claire Moreau", "farm": "Ferme du Marais",
        "town": "Saint-Herblain", "postcode": "44800", "address": "La Métairie, route de Vannes",
        "lat": 47.2212, "lon": -1.6480, "min_order": 2500,
        "description": "Organic market garden on the edge of the Loire marshes since 2009.",
        "products": [
            ("Carrots", "vegetables", Unit.KG, 280, 100, False, None, "Sandy-soil carrots, sweet and crunchy."),
            ("Leeks", "vegetables", Unit.BUNCH, 250, 60, False, None, "Bunch of three leeks."),
            ("Butternut squash", "vegetables", Unit.KG, 320, 40, True, 1200, "Sold by weight, about 1.2 kg each."),
            ("Potatoes (Charlotte)", "vegetables", Unit.KG, 240, 200, False, None, "Firm-fleshed, 1 kg bag."),
            ("Salad (batavia)", "vegetables", Unit.PIECE, 130, 50, False, None, "Picked the morning of pickup."),
            ("Vegetable box", "vegetables", Unit.BOX, 1800, 25, False, None, "Six seasonal vegetables, about 4 kg."),
            ("Kale", "vegetables", Unit.BUNCH, 220, 30, False, None, "Curly kale bunch."),
            ("Onions", "vegetables", Unit.KG, 260, None, False, None, "Yellow onions, 1 kg."),
        ],
    },
    {
        "email": "chevrerie.des.landes@demo.coop", "name": "Yann Le Goff", "farm": "Chèvrerie des Landes",
        "town": "Vertou", "postcode": "44120", "address": "Le Bois Joli", "lat": 47.1687, "lon": -1.4699,
        "min_order": 3000,
        "description": "Forty goats on pasture, farmhouse cheese made every day.",
        "products": [
            ("Fresh goat cheese", "dairy", Unit.PIECE, 350, 40, False, None, "Faisselle-style, 150 g."),
            ("Aged goat cheese", "dairy", Unit.PIECE, 520, 30, False, None, "Three weeks of ageing, 180 g."),
            ("Goat tomme", "dairy", Unit.KG, 2600, 15, True, 400, "Sold by weight, a piece of about 400 g."),
            ("Free-range eggs (6)", "dairy", Unit.BOX, 290, 60, False, None, "From our hens, box of six."),
            ("Goat milk yoghurt (4)", "dairy", Unit.BOX, 380, 25, False, None, "Plain, four pots."),
            ("Raw goat milk", "dairy", Unit.LITRE, 210, 20, False, None, "Bring back the bottle."),
            ("Kid sausage", "meat", Unit.KG, 2200, 10, True, 350, "Sold by weight, about 350 g."),
        ],
    },
    {
        "email": "fournil.et.vergers@demo.coop", "name": "Inès Benali", "farm": "Fournil & Vergers",
        "town": "Rezé", "postcode": "44400", "address": "12 chemin des Pommiers", "lat": 47.1833,
        "lon": -1.5500, "min_order": 0,
        "description": "Sourdough bread from our own wheat, and an old-variety orchard.",
        "products": [
            ("Country sourdough loaf", "bakery", Unit.PIECE, 520, 30, False, None, "1 kg, baked in a wood oven."),
            ("Seeded rye bread", "bakery", Unit.PIECE, 480, 20, False, None, "750 g."),
            ("Brioche", "bakery", Unit.PIECE, 650, 12, False, None, "Butter and farm eggs."),
            ("Apples (Reinette)", "fruit", Unit.KG, 330, 120, False, None, "Old variety, 1 kg."),
            ("Pears (Conférence)", "fruit", Unit.KG, 360, 80, False, None, "1 kg."),
            ("Apple juice", "drinks", Unit.LITRE, 380, 60, False, None, "Pressed on the farm, 1 L."),
            ("Cider (brut)", "drinks", Unit.LITRE, 550, 40, False, None, "Bottle of 75 cl.", ),
            ("Apple jam", "grocery", Unit.PIECE, 450, 35, False, None, "Jar of 350 g."),
            ("Flour T80", "grocery", Unit.KG, 290, 50, False, None, "Stone-milled, 1 kg."),
        ],
    },
]

COLOURS = {"vegetables": "#4f8a3c", "fruit": "#d9822b", "dairy": "#e9e2c8", "meat": "#a44a3f",
           "bakery": "#c79a5b", "grocery": "#8d6e63", "drinks": "#c2b53a"}


def _photo_bytes(name: str, category: str) -> bytes:
    """A generated illustrative photo (the demo ships no real pictures)."""
    seed = int(hashlib.sha256(name.encode()).hexdigest()[:6], 16)
    image = Image.new("RGB", (640, 480), COLOURS.get(category, "#777777"))
    draw = ImageDraw.Draw(image)
    for i in range(6):
        x = (seed >> i) % 540
        y = (seed >> (i + 3)) % 380
        draw.ellipse([x, y, x + 100 + i * 10, y + 100 + i * 10], fill=(255, 255, 255, 60), outline="#ffffff")
    draw.rectangle([0, 390, 640, 480], fill="#1d2320")
    try:
        font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", 40)
    except OSError:
        font = ImageFont.load_default(size=40)
    draw.text((24, 410), name, fill="#ffffff", font=font)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=80)
    return out.getvalue()


def _member(email: str, name: str, college: College, admin: User, **extra) -> User:
    user = register(email, DEMO_PASSWORD, name, confirmed=True)
    for key, value in extra.items():
        setattr(user, key, value)
    membership = apply_for_membership(user, college, "Demo member")
    approve_membership(admin, membership.id)
    return user


def seed_demo(now: datetime | None = None) -> dict | None:
    """Create the demo coop once; returns the logins, or None if it already exists."""
    if db.session.query(User).filter_by(email="admin@demo.coop").first():
        return None
    now = now or utcnow()
    for slug, en, fr in CATEGORIES:
        db.session.add(Category(slug=slug, name_en=en, name_fr=fr))
    admin = register("admin@demo.coop", DEMO_PASSWORD, "Admin de la Coop", confirmed=True)
    admin.is_admin = True
    db.session.flush()
    admin_membership = apply_for_membership(admin, College.SUPPORTER, "Founding member")
    approve_membership(admin, admin_membership.id)
    categories = {c.slug: c.id for c in db.session.query(Category)}

    producer_ids = []
    accounts = [("admin", "admin@demo.coop")]
    for spec in PRODUCERS:
        user = _member(spec["email"], spec["name"], College.PRODUCER, admin, town=spec["town"],
                       postcode=spec["postcode"])
        profile = update_profile(user, name=spec["farm"], description=spec["description"], town=spec["town"],
                                 postcode=spec["postcode"], pickup_address=spec["address"],
                                 min_order_cents=spec["min_order"], latitude=spec["lat"], longitude=spec["lon"])
        producer_ids.append(profile.id)
        accounts.append(("producer", spec["email"]))
        for name, cat, unit, price, stock, by_weight, weight, description in spec["products"]:
            product = create_product(user, ProductInput(
                name=name, category_id=categories[cat], unit=unit, price_cents=price,
                vat_rate_bp=2000 if cat == "drinks" and "Cider" in name else 550, description=description,
                stock=stock, is_weight_priced=by_weight, estimated_weight_g=weight))
            product.photo_filename = store_photo(_photo_bytes(name, cat))

    couriers = []
    for email, name in (("velo.sam@demo.coop", "Sam Rivière"), ("cargo.lea@demo.coop", "Léa Fontaine")):
        couriers.append(_member(email, name, College.COURIER, admin))
        accounts.append(("courier", email))
    buyers = [("marie.buyer@demo.coop", "Marie Dupont", "3 rue Kervégan", "44000"),
              ("paul.buyer@demo.coop", "Paul Martin", "18 boulevard Guist'hau", "44000"),
              ("aicha.buyer@demo.coop", "Aïcha Diallo", "7 rue de la Mairie", "44200")]
    for email, name, address, postcode in buyers:
        buyer = _member(email, name, College.BUYER, admin, address=address, postcode=postcode, town="Nantes")
        accounts.append(("buyer", email))
        if email.startswith("paul."):  # a prepaid balance: it pays his next order first (member accounts)
            from marketplace.accounts.models import Means
            from marketplace.accounts.services import record_top_up

            record_top_up(admin, buyer.id, 2000, Means.CASH, "Espèces remises à la distribution")
    pending = register("new.applicant@demo.coop", DEMO_PASSWORD, "Nouveau Candidat", confirmed=True)
    apply_for_membership(pending, College.BUYER, "I live nearby and want to buy local.")
    accounts.append(("pending", "new.applicant@demo.coop"))

    halles = create_pickup_place(admin, name="Les Halles de Talensac", address="Rue Talensac", postcode="44000",
                                 town="Nantes", latitude=47.2225, longitude=-1.5560,
                                 notes="Under the east arcade, by the flower stall.")
    ecole = create_pickup_place(admin, name="École Longchamp (préau)", address="2 rue Longchamp",
                                postcode="44300", town="Nantes", latitude=47.2331, longitude=-1.5662)
    create_delivery_zone(admin, name="Nantes centre", postcodes="44000,44100,44200,44300", fee_cents=450)

    day = _next_local(now, weekday=3, hour=16)  # Thursday 16:00, coop time
    schedule_distribution(admin, DistributionInput(
        pickup_place_id=halles.id, title="Marché du jeudi", starts_at=day, ends_at=day + timedelta(hours=3),
        opens_at=now - timedelta(days=2), cutoff_at=day - timedelta(hours=30), producer_ids=tuple(producer_ids),
        home_delivery=True, repeat_weeks=4,
        slots=(SlotInput(day + timedelta(hours=1), day + timedelta(hours=3), 20),)))
    saturday = _next_local(now, weekday=5, hour=9, minute=30)
    schedule_distribution(admin, DistributionInput(
        pickup_place_id=ecole.id, title="Samedi à l'école", starts_at=saturday,
        ends_at=saturday + timedelta(hours=2), opens_at=now - timedelta(days=1),
        cutoff_at=saturday - timedelta(hours=40), producer_ids=tuple(producer_ids[1:]), home_delivery=False))
    _seed_couriers(admin, couriers, halles.id)
    _seed_invoicing()
    _seed_last_month(admin, now)
    db.session.commit()
    return {"password": DEMO_PASSWORD, "accounts": accounts}


# Made-up identifiers with valid check keys. The third producer has not accepted the billing mandate
# yet: the admin's invoicing page shows their sales waiting.
DEMO_SELLERS = {
    "ferme.du.marais@demo.coop": ("EARL Ferme du Marais", "EARL au capital de 7 500 €", "84512345400017",
                                  "FR88845123454", "subject"),
    "chevrerie.des.landes@demo.coop": ("Yann Le Goff", "EI", "85298765000011", "", "franchise"),
}


def _seed_invoicing() -> None:
    from marketplace.catalog.services import update_seller_identity
    from marketplace.core.services import set_setting
    from marketplace.invoicing.mandate import MandateParty, accept_mandate, current_version

    set_setting("coop_siret", "90112233300015")
    set_setting("coop_vat_number", "FR00901122333")
    set_setting("coop_registration", "RCS Nantes 901 122 333")
    for spec in PRODUCERS:
        if spec["email"] not in DEMO_SELLERS:
            continue
        name, form, siret, vat, regime = DEMO_SELLERS[spec["email"]]
        user = db.session.query(User).filter_by(email=spec["email"]).one()
        update_seller_identity(user, legal_name=name, legal_form=form, legal_address=spec["address"],
                               legal_postcode=spec["postcode"], legal_town=spec["town"], siret=siret, vat_number=vat,
                               vat_regime=regime)
        accept_mandate(user, current_version(MandateParty.PRODUCER), "127.0.0.1")


def _next_local(now: datetime, weekday: int, hour: int, minute: int = 0) -> datetime:
    """The next given weekday at least 2 days ahead, at a local (coop time zone) hour, as naive UTC."""
    from zoneinfo import ZoneInfo

    from flask import current_app

    zone = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    local_now = now.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone)
    day = local_now.date() + timedelta(days=2)
    day += timedelta(days=(weekday - day.weekday()) % 7)
    local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
    return local.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def _seed_couriers(admin: User, couriers: list[User], place_id: int) -> None:
    """Couriers' vehicles and availability on every delivery slot of the demo distributions."""
    from marketplace.dispatch import services as dispatch
    from marketplace.distributions.models import DeliveryZone

    dispatch.update_rules(admin, pay_per_run_cents=400, pay_per_km_cents=50, pay_per_stop_cents=100,
                          offer_timeout_minutes=30, max_code_attempts=5, goods_at_pickup_place=True)
    zones = tuple(z.id for z in db.session.query(DeliveryZone))
    for courier, (vehicle, kg, parcels, home) in zip(couriers, (("bike", 25, 6, (47.2153, -1.5540)),
                                                                ("cargo_bike", 80, 14, (47.2290, -1.5660)))):
        dispatch.save_courier_profile(courier, dispatch.CourierProfileInput(
            vehicle=vehicle, capacity_kg=kg, capacity_parcels=parcels, max_stops=12, zone_ids=zones,
            home_latitude=home[0], home_longitude=home[1]))
        for distribution in db.session.query(Distribution).filter_by(pickup_place_id=place_id, home_delivery=True):
            if distribution.slots:
                first, last = distribution.slots[0], distribution.slots[-1]
                dispatch.add_availability(courier, first.starts_at - timedelta(minutes=30), last.ends_at)


def _seed_last_month(admin: User, now: datetime) -> None:
    """Last month's history: a collected distribution, the coop's costs, the fee rule, the closed month.

    So that statements and the public transparency page have real figures from the first visit.
    """
    from datetime import date

    from marketplace.billing import services as billing
    from marketplace.billing.models import CostCategory
    from marketplace.orders.models import Order, OrderLine, OrderPart
    from marketplace.orders.states import LineStatus, PartStatus, PaymentMethod, PaymentStatus

    month = billing.previous_month(billing.coop_today())
    second_thursday = month + timedelta(days=7 + (3 - month.weekday()) % 7)
    pickup = datetime.combine(second_thursday, datetime.min.time()) + timedelta(hours=15)
    place = db.session.query(PickupPlace).order_by(PickupPlace.id).first()
    producers = [u.producer_profile for u in db.session.query(User).filter(User.email.like("%@demo.coop"))
                 if u.producer_profile is not None]
    past = Distribution(pickup_place=place, title="Marché du jeudi", starts_at=pickup,
                        ends_at=pickup + timedelta(hours=3), opens_at=pickup - timedelta(days=6),
                        cutoff_at=pickup - timedelta(hours=30), closed_at=pickup - timedelta(hours=30),
                        producers=producers)
    db.session.add(past)
    buyers = db.session.query(User).filter(User.email.like("%.buyer@demo.coop")).order_by(User.id).all()
    for n, buyer in enumerate(buyers):
        order = Order(reference=f"C{pickup:%y%m}-DEMO{n + 1}", buyer_id=buyer.id, distribution=past,
                      payment_method=PaymentMethod.PAY_AT_PICKUP, payment_status=PaymentStatus.PAID,
                      delivery_code=f"{1234 + n:04d}", created_at=pickup - timedelta(days=3))
        for k, profile in enumerate(producers):
            products = profile.products.order_by(Product.id).limit(3).all()
            part = OrderPart(producer_id=profile.id, status=PartStatus.COLLECTED)
            for product in products[(n + k) % 2:]:
                grams = int(product.estimated_weight_g * 0.95) if product.is_weight_priced else None
                part.lines.append(OrderLine(
                    product_id=product.id, product_name=product.name, unit=product.unit.value,
                    unit_price_cents=product.price_cents, vat_rate_bp=product.vat_rate_bp, quantity=1 + n,
                    is_weight_priced=product.is_weight_priced, estimated_weight_g=product.estimated_weight_g,
                    weighed_grams=grams * (1 + n) if grams else None, status=LineStatus.ACTIVE))
            order.parts.append(part)
        db.session.add(order)
    db.session.flush()

    settings = billing.get_billing_settings()
    settings.allow_admin_decision = True
    rule = billing.propose_rule(admin, billing.RuleInput(
        flat_cents={"producer": 300, "courier": 0, "buyer": 50, "supporter": 0},
        weights={"producer": 2, "courier": 1, "buyer": 1}, effective_from=date(2020, 1, 1),
        rationale="Producers carry a little more: the shop is their sales channel."))
    billing.adopt_by_decision(admin, rule.id, "AG du 14 mars 2026, résolution 3")
    for category, cents, supplier in ((CostCategory.HOSTING, 2900, "Hébergeur associatif"),
                                      (CostCategory.SOFTWARE, 1200, "Nom de domaine et e-mail"),
                                      (CostCategory.ACCOUNTING, 6000, "Cabinet comptable"),
                                      (CostCategory.INSURANCE, 1500, "Assurance RC")):
        billing.record_cost(admin, billing.CostInput(category=category, amount_cents=cents,
                                                     incurred_on=month + timedelta(days=2), supplier=supplier))
    db.session.flush()
    billing.close_month(admin, month)


__all__ = ["seed_demo", "DEMO_PASSWORD", "PickupPlace", "Product"]
