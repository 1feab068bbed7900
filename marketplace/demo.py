"""The demo coop: realistic members, producers, products with photos, distributions."""
from __future__ import annotations

import hashlib
import io
from datetime import datetime, timedelta

from PIL import Image, ImageDraw, ImageFont

from marketplace.catalog.models import Category, Product
from marketplace.catalog.services import ProductInput, create_product, store_photo, update_profile
from marketplace.demo_data import ALCOHOL, CATEGORIES, PRODUCERS, THURSDAY_OFFERS, VARIANTS
from marketplace.demo_economy import seed_past_months
from marketplace.distributions.models import Distribution, PickupPlace
from marketplace.distributions.services import (
    DistributionInput,
    SlotInput,
    create_delivery_zone,
    create_pickup_place,
    schedule_distribution,
)
from marketplace.extensions import db
from marketplace.members.models import College, User
from marketplace.members.passwords import hash_password
from marketplace.members.services import apply_for_membership, approve_membership, register
from marketplace.timeutil import utcnow

DEMO_PASSWORD = "coop-demo-2026"

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


def _member(email: str, name: str, college: College, admin: User, password_hash: str, **extra) -> User:
    user = register(email, DEMO_PASSWORD, name, confirmed=True, password_hash=password_hash)
    for key, value in extra.items():
        setattr(user, key, value)
    membership = apply_for_membership(user, college, "Membre de la coop de démonstration")
    approve_membership(admin, membership.id)
    return user


def seed_demo(now: datetime | None = None) -> dict | None:
    """Create the demo coop once; returns the logins, or None if it already exists."""
    if db.session.query(User).filter_by(email="admin@demo.coop").first():
        return None
    now = now or utcnow()
    password_hash = hash_password(DEMO_PASSWORD)  # once for every demo account: a hash is deliberately slow
    for slug, en, fr in CATEGORIES:
        db.session.add(Category(slug=slug, name_en=en, name_fr=fr))
    admin = register("admin@demo.coop", DEMO_PASSWORD, "Admin de la Coop", confirmed=True, password_hash=password_hash)
    admin.is_admin = True
    db.session.flush()
    admin_membership = apply_for_membership(admin, College.SUPPORTER, "Membre fondateur")
    approve_membership(admin, admin_membership.id)
    categories = {c.slug: c.id for c in db.session.query(Category)}

    producer_ids = []
    accounts = [("admin", "admin@demo.coop")]
    for spec in PRODUCERS:
        user = _member(spec["email"], spec["name"], College.PRODUCER, admin, password_hash, town=spec["town"],
                       postcode=spec["postcode"])
        profile = update_profile(user, name=spec["farm"], description=spec["description"], town=spec["town"],
                                 postcode=spec["postcode"], pickup_address=spec["address"],
                                 min_order_cents=spec["min_order"], latitude=spec["lat"], longitude=spec["lon"])
        producer_ids.append(profile.id)
        accounts.append(("producer", spec["email"]))
        for name, name_en, cat, unit, price, stock, by_weight, weight, description, description_en in spec["products"]:
            product = create_product(user, ProductInput(
                name=name, name_en=name_en, category_id=categories[cat], unit=unit, price_cents=price,
                vat_rate_bp=2000 if name in ALCOHOL else 550, description=description,
                description_en=description_en, stock=stock, is_weight_priced=by_weight, estimated_weight_g=weight))
            product.photo_filename = store_photo(_photo_bytes(name, cat))

    couriers = []
    for email, name in (("velo.sam@demo.coop", "Sam Rivière"), ("cargo.lea@demo.coop", "Léa Fontaine")):
        couriers.append(_member(email, name, College.COURIER, admin, password_hash))
        accounts.append(("courier", email))
    buyers = [("marie.buyer@demo.coop", "Marie Dupont", "3 rue Kervégan", "44000"),
              ("paul.buyer@demo.coop", "Paul Martin", "18 boulevard Guist'hau", "44000"),
              ("aicha.buyer@demo.coop", "Aïcha Diallo", "7 rue de la Mairie", "44200")]
    for email, name, address, postcode in buyers:
        buyer = _member(email, name, College.BUYER, admin, password_hash, address=address, postcode=postcode,
                        town="Nantes")
        accounts.append(("buyer", email))
        if email.startswith("paul."):  # a prepaid balance: it pays his next order first (member accounts)
            from marketplace.accounts.models import Means
            from marketplace.accounts.services import record_top_up

            record_top_up(admin, buyer.id, 2000, Means.CASH, "Espèces remises à la distribution")
    pending = register("new.applicant@demo.coop", DEMO_PASSWORD, "Nouveau Candidat", confirmed=True,
                       password_hash=password_hash)
    apply_for_membership(pending, College.BUYER, "J'habite à côté et je veux acheter local.")
    accounts.append(("pending", "new.applicant@demo.coop"))

    halles = create_pickup_place(admin, name="Les Halles de Talensac", address="Rue Talensac", postcode="44000",
                                 town="Nantes", latitude=47.2225, longitude=-1.5560,
                                 notes="Sous l'arcade est, à côté du fleuriste.")
    ecole = create_pickup_place(admin, name="École Longchamp (préau)", address="2 rue Longchamp",
                                postcode="44300", town="Nantes", latitude=47.2331, longitude=-1.5662)
    create_delivery_zone(admin, name="Nantes centre", postcodes="44000,44100,44200,44300", fee_cents=450)

    day = _next_local(now, weekday=3, hour=16)  # Thursday 16:00, coop time
    thursdays = schedule_distribution(admin, DistributionInput(
        pickup_place_id=halles.id, title="Marché du jeudi", starts_at=day, ends_at=day + timedelta(hours=3),
        opens_at=now - timedelta(days=2), cutoff_at=day - timedelta(hours=30), producer_ids=tuple(producer_ids),
        home_delivery=True, repeat_weeks=4,
        slots=(SlotInput(day + timedelta(hours=1), day + timedelta(hours=3), 20),)))
    saturday = _next_local(now, weekday=5, hour=9, minute=30)
    schedule_distribution(admin, DistributionInput(
        pickup_place_id=ecole.id, title="Samedi à l'école", starts_at=saturday,
        ends_at=saturday + timedelta(hours=2), opens_at=now - timedelta(days=1),
        cutoff_at=saturday - timedelta(hours=40), producer_ids=tuple(producer_ids[1:]), home_delivery=False))
    _seed_variants_and_offers(admin)
    _seed_couriers(admin, couriers, halles.id)
    _seed_contract(thursdays[0].series_key)
    _seed_invoicing()
    seed_past_months(admin, now)
    db.session.commit()
    return {"password": DEMO_PASSWORD, "accounts": accounts}


def _seed_variants_and_offers(admin: User) -> None:
    """A few products in several sizes; Ferme du Marais says what it brings to the open Thursday."""
    from marketplace.catalog.models import Product
    from marketplace.distributions.services import open_distributions
    from marketplace.offers.services import OfferInput, VariantInput, add_variant, set_offers

    for name, (first_label, others) in VARIANTS.items():
        product = db.session.query(Product).filter_by(name=name).one()
        product.variants[0].label = first_label
        for label, unit, price in others:
            add_variant(product.producer.user, product.id,
                        VariantInput(label, unit, price, vat_rate_bp=product.vat_rate_bp))
    marais = db.session.query(User).filter_by(email="ferme.du.marais@demo.coop").one()
    thursday = next(d for d in open_distributions() if d.title == "Marché du jeudi")
    variants = {(v.product.name, v.label): v.id for p in marais.producer_profile.products for v in p.variants}
    set_offers(marais, thursday.id, [OfferInput(variants[key], quantity, price)
                                     for key, (quantity, price) in THURSDAY_OFFERS.items()])


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
    fleet = (("bike", 25, 6, (47.2153, -1.5540)), ("cargo_bike", 80, 14, (47.2290, -1.5660)))
    for courier, (vehicle, kg, parcels, home) in zip(couriers, fleet, strict=False):
        dispatch.save_courier_profile(courier, dispatch.CourierProfileInput(
            vehicle=vehicle, capacity_kg=kg, capacity_parcels=parcels, max_stops=12, zone_ids=zones,
            home_latitude=home[0], home_longitude=home[1]))
        for distribution in db.session.query(Distribution).filter_by(pickup_place_id=place_id, home_delivery=True):
            if distribution.slots:
                first, last = distribution.slots[0], distribution.slots[-1]
                dispatch.add_availability(courier, first.starts_at - timedelta(minutes=30), last.ends_at)


__all__ = ["seed_demo", "DEMO_PASSWORD", "PickupPlace", "Product"]


CONTRACT_TEXT = (
    "Contrat AMAP — panier de légumes de la Ferme du Marais.\n\n"
    "L'adhérent·e s'engage à prendre un panier de légumes de saison à chaque distribution du jeudi de la "
    "saison, et la Ferme du Marais à le récolter la veille. Le prix est celui d'un panier par livraison, "
    "payé en trois échéances (chèque, virement ou compte adhérent).\n"
    "Deux absences déclarées avant la clôture ne sont pas facturées ; au-delà, le panier est dû. On peut "
    "aussi confier son panier à une personne nommée, qui le récupère à sa place.")


def _seed_contract(series_key: str) -> None:
    """A vegetable-basket AMAP contract on the Thursday series; Marie subscribes and is away the second week."""
    from marketplace.catalog.models import Product
    from marketplace.contracts import services as contracts
    from marketplace.contracts.models import PaymentMeans

    farmer = db.session.query(User).filter_by(email="ferme.du.marais@demo.coop").one()
    basket = db.session.query(Product).filter_by(name="Panier de légumes").one()
    contract = contracts.create_contract(farmer, contracts.ContractInput(
        title="AMAP — Panier de légumes du jeudi", series_key=series_key, price_per_delivery_cents=1800,
        items=((basket.variants[0].id, 1),), instalments=3,
        payment_means=(PaymentMeans.CHEQUE, PaymentMeans.BANK_TRANSFER, PaymentMeans.ACCOUNT),
        allowed_absences=2, quantities_changeable=False,
        content="Six légumes de saison, environ 4 kg, selon la récolte.", text=CONTRACT_TEXT))
    marie = db.session.query(User).filter_by(email="marie.buyer@demo.coop").one()
    subscription = contracts.subscribe(marie, contract.id, accepted_version=1, means=PaymentMeans.CHEQUE)
    second = contracts.season_distributions(series_key)[1]
    contracts.declare_absence(marie, subscription.id, second.id)
