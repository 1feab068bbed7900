"""Builders for dispatch tests: couriers with availability, and ready home-delivery orders."""
from __future__ import annotations

from datetime import timedelta

from marketplace.dispatch import services as dispatch
from marketplace.distributions.models import DeliveryZone, Distribution
from marketplace.extensions import db
from marketplace.members.models import College, User
from marketplace.orders import services as orders
from marketplace.orders.models import Order
from marketplace.orders.states import Fulfilment
from tests.factories import make_distribution, make_member, make_producer, make_product


def delivery_day(producers: list[User]) -> Distribution:
    """A distribution open for orders, with two one-hour delivery slots two days from now."""
    return make_distribution(producers, home_delivery=True, slots=2, postcodes="44000,44100,44200,44300")


def make_courier(email: str, distribution: Distribution, *, capacity_kg: float = 30, parcels: int = 10,
                 max_stops: int = 20, vehicle: str = "cargo_bike", home=(47.2184, -1.5536),
                 hours: tuple[float, float] = (-1, 4)) -> User:
    """An active courier member covering every zone, available around the distribution's first slot."""
    courier = make_member(email, College.COURIER, postcode="44000")
    zones = tuple(z.id for z in db.session.query(DeliveryZone).all())
    dispatch.save_courier_profile(courier, dispatch.CourierProfileInput(
        vehicle=vehicle, capacity_kg=capacity_kg, capacity_parcels=parcels, max_stops=max_stops, zone_ids=zones,
        home_latitude=home[0], home_longitude=home[1]))
    base = distribution.slots[0].starts_at
    dispatch.add_availability(courier, base + timedelta(hours=hours[0]), base + timedelta(hours=hours[1]))
    return courier


def place_delivery_order(buyer: User, distribution: Distribution, products, *, postcode: str = "44000",
                         slot_index: int = 0) -> Order:
    orders.choose_distribution(buyer, distribution.id)
    for product in products:
        orders.add_to_cart(buyer, product.id, 1)
    return orders.checkout(buyer, orders.CheckoutInput(
        fulfilment=Fulfilment.DELIVERY, delivery_address="3 rue Crébillon", delivery_postcode=postcode,
        delivery_town="Nantes", delivery_slot_id=distribution.slots[slot_index].id))


def make_ready(order: Order) -> Order:
    """Every producer accepts and packs its part (this sends order_ready)."""
    for part in order.parts:
        producer = part.producer.user
        orders.accept_part(producer, part.id)
        orders.mark_ready(producer, part.id)
    return order


def delivery_scene(n_orders: int = 1, n_couriers: int = 1, *, ready: bool = True):
    """Two farms, a delivery day, couriers and buyers with one order each (both farms)."""
    farm_a = make_producer("farm.a@test.coop", "Ferme A", latitude=47.225, longitude=-1.545)
    farm_b = make_producer("farm.b@test.coop", "Ferme B", latitude=47.212, longitude=-1.565)
    carrots = make_product(farm_a, "Carrots", price_cents=250)
    eggs = make_product(farm_b, "Eggs", price_cents=400)
    distribution = delivery_day([farm_a, farm_b])
    couriers = [make_courier(f"courier{i + 1}@test.coop", distribution) for i in range(n_couriers)]
    placed = []
    for i in range(n_orders):
        buyer = make_member(f"buyer{i + 1}@test.coop", College.BUYER)
        order = place_delivery_order(buyer, distribution, [carrots, eggs], postcode=("44000", "44100")[i % 2])
        placed.append(make_ready(order) if ready else order)
    db.session.flush()
    return distribution, couriers, placed
