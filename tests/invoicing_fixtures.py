"""Builders for invoicing tests: valid identifiers, a coop that can invoice, sellers under mandate, orders."""
from __future__ import annotations

from marketplace.catalog.services import update_seller_identity
from marketplace.core.services import set_setting
from marketplace.extensions import db
from marketplace.invoicing.issuing import accept_mandate_and_catch_up
from marketplace.invoicing.mandate import current_version, party_of
from marketplace.members.models import User
from marketplace.orders import services as orders
from marketplace.orders.models import Order
from marketplace.orders.states import Fulfilment, PaymentMethod
from tests.factories import get_admin, make_distribution, make_member, make_producer, make_product

# Valid (Luhn key) identifiers and the matching French VAT numbers.
COOP_SIRET, COOP_VAT = "12345678200010", "FR11123456782"
FARM_SIRET, FARM_VAT = "98765432400019", "FR14987654324"
FARM2_SIRET = "44000001600012"
BUYER_SIREN, BUYER_VAT = "350000022", "FR07350000022"


def coop_can_invoice() -> None:
    set_setting("coop_siret", COOP_SIRET)
    set_setting("coop_vat_number", COOP_VAT)
    set_setting("coop_registration", "RCS Nantes 123 456 782")


def seller_identity(user: User, *, siret: str = FARM_SIRET, franchise: bool = False, name: str = "") -> None:
    update_seller_identity(user, legal_name=name or f"EARL {user.producer_profile.name}", legal_form="EARL",
                           legal_address="1 chemin des Prés", legal_postcode="44000", legal_town="Nantes",
                           siret=siret, vat_number="" if franchise else FARM_VAT if siret == FARM_SIRET else "",
                           vat_regime="franchise" if franchise else "subject")


def accept_mandate(user: User):
    return accept_mandate_and_catch_up(user, current_version(party_of(user)), "203.0.113.7")


def invoicing_producer(email: str = "farm@test.coop", farm: str = "Green Farm", *, mandate: bool = True,
                       franchise: bool = False) -> User:
    """A producer with a complete seller identity (and, unless told otherwise, the mandate accepted)."""
    producer = make_producer(email, farm)
    seller_identity(producer, franchise=franchise, siret=FARM_SIRET if not franchise else FARM2_SIRET)
    if mandate:
        accept_mandate(producer)
    return producer


def placed_order(buyer: User, items: list[tuple], *, card: bool = False, delivery: bool = False) -> Order:
    """Check out `items` [(product, quantity)] for the products' first open distribution."""
    distribution = make_distribution(sorted({p.producer.user for p, _q in items}, key=lambda u: u.id),
                                     home_delivery=delivery)
    orders.choose_distribution(buyer, distribution.id)
    for product, quantity in items:
        orders.add_to_cart(buyer, product.id, quantity)
    return orders.checkout(buyer, orders.CheckoutInput(
        fulfilment=Fulfilment.DELIVERY if delivery else Fulfilment.PICKUP,
        payment_method=PaymentMethod.CARD if card else PaymentMethod.PAY_AT_PICKUP,
        delivery_address="3 rue Kervégan" if delivery else "", delivery_postcode="44000" if delivery else "",
        delivery_town="Nantes" if delivery else ""))


def prepare(order: Order, grams: dict[str, int] | None = None) -> Order:
    """Every producer accepts, weighs (grams per product name, default: the estimate) and packs."""
    for part in order.parts:
        producer = part.producer.user
        orders.accept_part(producer, part.id)
        for line in part.lines:
            if line.is_weight_priced:
                orders.record_weight(producer, line.id, (grams or {}).get(line.product_name,
                                                                          line.estimated_weight_total_g))
        orders.mark_ready(producer, part.id)
    return order


def collected_order(buyer: User, items: list[tuple], grams: dict[str, int] | None = None) -> Order:
    """A pay-at-pickup order, weighed, packed and collected (paid)."""
    order = prepare(placed_order(buyer, items), grams)
    orders.mark_collected(get_admin(), order.id)
    db.session.flush()
    return order


def shop(mandate: bool = True, franchise: bool = False):
    """A coop that can invoice, one producer (tomatoes by weight, eggs, bread at 20 %) and a buyer."""
    coop_can_invoice()
    farm = invoicing_producer(mandate=mandate, franchise=franchise)
    tomatoes = make_product(farm, "Tomatoes", price_cents=600, weight_priced_g=1000)
    eggs = make_product(farm, "Eggs", price_cents=350)
    buyer = make_member("buyer@test.coop", name="Marie Buyer", address="3 rue Kervégan", postcode="44000",
                        town="Nantes")
    return farm, tomatoes, eggs, buyer
