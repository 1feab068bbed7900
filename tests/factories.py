"""Small builders for readable tests: make_member('marie@x', College.BUYER) and friends."""
from __future__ import annotations

from datetime import timedelta
from itertools import count

from marketplace.catalog.models import Category, Product, Unit
from marketplace.catalog.services import ProductInput, create_product, update_profile
from marketplace.distributions.models import Distribution
from marketplace.distributions.services import (DistributionInput, SlotInput, create_delivery_zone,
                                                create_pickup_place, schedule_distribution)
from marketplace.extensions import db
from marketplace.members.models import College, User
from marketplace.members.services import apply_for_membership, approve_membership, register
from marketplace.timeutil import utcnow

PASSWORD = "correct horse battery"
_seq = count(1)


def get_admin() -> User:
    admin = db.session.query(User).filter_by(email="admin@test.coop").first()
    if admin is None:
        admin = register("admin@test.coop", PASSWORD, "Test Admin", confirmed=True)
        admin.is_admin = True
        db.session.flush()
    return admin


def make_member(email: str | None = None, college: College = College.BUYER, *, active: bool = True,
                name: str | None = None, **fields) -> User:
    email = email or f"member{next(_seq)}@test.coop"
    user = register(email, PASSWORD, name or email.split("@")[0].replace(".", " ").title(), confirmed=True)
    for key, value in fields.items():
        setattr(user, key, value)
    membership = apply_for_membership(user, college)
    if active:
        approve_membership(get_admin(), membership.id)
    db.session.flush()
    return user


def make_producer(email: str | None = None, farm: str | None = None, min_order_cents: int = 0,
                  latitude: float = 47.2, longitude: float = -1.55) -> User:
    user = make_member(email, College.PRODUCER)
    update_profile(user, name=farm or f"Farm {user.id}", description="", town="Nantes", postcode="44000",
                   pickup_address="1 rue du Champ", min_order_cents=min_order_cents, latitude=latitude,
                   longitude=longitude)
    db.session.flush()
    return user


def category() -> Category:
    cat = db.session.query(Category).filter_by(slug="vegetables").first()
    if cat is None:
        cat = Category(slug="vegetables", name_en="Vegetables", name_fr="Légumes")
        db.session.add(cat)
        db.session.flush()
    return cat


def make_product(producer: User, name: str = "Carrots", price_cents: int = 300, stock: int | None = 50,
                 unit: Unit = Unit.PIECE, weight_priced_g: int | None = None) -> Product:
    return create_product(producer, ProductInput(
        name=name, category_id=category().id, unit=Unit.KG if weight_priced_g else unit, price_cents=price_cents,
        stock=stock, is_weight_priced=weight_priced_g is not None, estimated_weight_g=weight_priced_g))


def make_distribution(producers: list[User], *, home_delivery: bool = False, opens_in_hours: float = -24,
                      cutoff_in_hours: float = 24, pickup_in_hours: float = 48, slots: int = 0,
                      postcodes: str = "44000,44100") -> Distribution:
    admin = get_admin()
    now = utcnow()
    place = create_pickup_place(admin, name=f"Place {next(_seq)}", address="Rue Talensac", postcode="44000",
                                town="Nantes", latitude=47.2225, longitude=-1.556)
    start = now + timedelta(hours=pickup_in_hours)
    slot_inputs = tuple(SlotInput(start + timedelta(hours=i), start + timedelta(hours=i + 1), 10)
                        for i in range(slots))
    if home_delivery and not db.session.query(db.text("1")).select_from(db.table("delivery_zones")).first():
        create_delivery_zone(admin, name="Centre", postcodes=postcodes, fee_cents=450)
    [distribution] = schedule_distribution(admin, DistributionInput(
        pickup_place_id=place.id, starts_at=start, ends_at=start + timedelta(hours=3),
        opens_at=now + timedelta(hours=opens_in_hours), cutoff_at=now + timedelta(hours=cutoff_in_hours),
        producer_ids=tuple(p.producer_profile.id for p in producers), home_delivery=home_delivery,
        slots=slot_inputs))
    return distribution


def login(client, user_or_email, password: str = PASSWORD):
    email = user_or_email if isinstance(user_or_email, str) else user_or_email.email
    return client.post("/login", data={"email": email, "password": password}, follow_redirects=False)
