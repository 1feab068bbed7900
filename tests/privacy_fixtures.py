"""A member with a past: had a home delivery (one failed attempt first), opened a dispute, renamed
herself, moved, changed e-mail address, and opened another dispute. Shared by the SQLite and PostgreSQL erasure tests."""
from __future__ import annotations

import json

from sqlalchemy import JSON, Enum, Integer, String, Text, select

from marketplace.catalog.models import Product
from marketplace.dispatch import services as dispatch
from marketplace.dispatch.models import Run, StopKind
from marketplace.disputes import services as disputes
from marketplace.disputes.models import DisputeReason, DisputeStatus
from marketplace.extensions import db
from marketplace.members.models import College, User
from marketplace.orders import services as orders
from marketplace.orders.states import Fulfilment
from tests.dispatch_fixtures import delivery_scene, make_ready
from tests.factories import get_admin, login, make_member

BEFORE = {"full_name": "Marie Curie", "email": "marie.curie@test.coop", "phone": "06 12 34 56 78",
          "address": "3 rue Kervégan", "postcode": "44300", "town": "Nantes"}
AFTER = {"full_name": "Marie Skłodowska", "email": "m.sklodowska@test.coop", "phone": "07 98 76 54 32",
         "address": "5 quai de la Fosse", "postcode": "44200", "town": "Nantes"}
DELIVERY = {"delivery_address": "12 allée Ampère", "delivery_postcode": "44100", "delivery_town": "Nantes"}
ORDER_NOTE = "Second floor, the door with the blue bicycle"
FIRST_NOTE = "Half of the carrots were soft and mouldy"
DISPUTE_NOTE = "Every egg in the box arrived broken, twelve of them"
# Not the member's own: must survive the erasure.
KEPT = ("Ferme A", "Ferme B", "Carrots", "Eggs", "admin@test.coop", "Test Admin")


def identifiers() -> list[str]:
    """Everything that named or located the member at some point, or that she wrote."""
    values = []
    for fields in (BEFORE, AFTER):
        values += [fields["full_name"], fields["email"], fields["phone"], fields["phone"].replace(" ", ""),
                   fields["address"], f"{fields['postcode']} {fields['town']}"]
    values += [DELIVERY["delivery_address"], f"{DELIVERY['delivery_postcode']} {DELIVERY['delivery_town']}",
               ORDER_NOTE, FIRST_NOTE, DISPUTE_NOTE]
    return values + [json.dumps(v)[1:-1] for v in values if json.dumps(v)[1:-1] != v]


def text_columns():
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, (String, Text, JSON)):
                yield table, column


def leftovers(values: list[str]) -> list[str]:
    """Every (table.column, value) where a text column of the database still holds one of the values."""
    found = []
    for table, column in text_columns():
        # Enums and JSON are searched as plain text too (an enum's own type would refuse a free value).
        target = column.cast(Text) if isinstance(column.type, (Enum, JSON)) else column
        for value in values:
            if db.session.execute(select(target).where(target.icontains(value, autoescape=True)).limit(1)).first():
                found.append(f"{table.name}.{column.name}: {value}")
    return found


def numbers() -> dict[str, list[tuple]]:
    """Every integer column of every table that keeps accounts (ids, cents, counts, quantities)."""
    skip = {"outbound_emails", "member_former_identifiers", "carts", "cart_items", "audit_log", "audit_readers",
            "task_outbox"}
    result = {}
    for table in db.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, Integer)]
        if table.name not in skip and columns:
            result[table.name] = [tuple(r) for r in db.session.execute(select(*columns).order_by(*columns))]
    return result


def _work_run(courier: User, run_id: int, *, fail_with: str = "") -> None:
    dispatch.accept_run(courier, run_id)
    run = db.session.get(Run, run_id)
    for stop in run.stops:
        if stop.kind == StopKind.PICKUP:
            dispatch.mark_picked_up(courier, stop.id)
        elif fail_with:
            dispatch.report_failure(courier, stop.id, fail_with)
        else:
            dispatch.confirm_delivery(courier, stop.id, stop.order.delivery_code)


def member_with_a_past(client) -> dict:
    """Build the story; returns the member's id, order and courier. Ends logged in as the member."""
    distribution, [courier], _ = delivery_scene(n_orders=0)
    products = db.session.query(Product).filter(Product.name.in_(["Carrots", "Eggs"])).all()
    marie = make_member(BEFORE["email"], College.BUYER, name=BEFORE["full_name"],
                        **{k: v for k, v in BEFORE.items() if k not in ("email", "full_name")})
    orders.choose_distribution(marie, distribution.id)
    for product in products:
        orders.add_to_cart(marie, product.id, 1)
    order = orders.checkout(marie, orders.CheckoutInput(fulfilment=Fulfilment.DELIVERY, note=ORDER_NOTE,
                                                        delivery_slot_id=distribution.slots[0].id, **DELIVERY))
    make_ready(order)
    [first] = dispatch.plan_for_order(order.id)
    _work_run(courier, first, fail_with=f"{BEFORE['full_name']} was not at {DELIVERY['delivery_address']}")
    [second] = dispatch.replan(get_admin(), dispatch.plan_key_for(order))
    _work_run(courier, second)
    carrots = next(l for p in order.parts for l in p.lines if l.product_name == "Carrots")
    first_dispute = disputes.open_dispute(marie, carrots.id, DisputeReason.DAMAGED, FIRST_NOTE)
    disputes.resolve_dispute(get_admin(), first_dispute.id, DisputeStatus.REJECTED, 0,
                             f"{BEFORE['full_name']} can exchange them at the next pickup")
    db.session.commit()

    login(client, marie)
    response = client.post("/me/account", data={**{k: v for k, v in AFTER.items() if k != "email"}, "locale": "en"})
    assert response.status_code == 302
    # No page changes an e-mail address yet: whichever path does (a confirmation link, an administrator's
    # correction) goes through the model, and that is where the earlier address is remembered.
    marie = db.session.get(User, marie.id)
    marie.email = AFTER["email"]
    db.session.commit()

    eggs = next(l for p in order.parts for l in p.lines if l.product_name == "Eggs")
    dispute = disputes.open_dispute(marie, eggs.id, DisputeReason.DAMAGED, DISPUTE_NOTE)
    disputes.resolve_dispute(get_admin(), dispute.id, DisputeStatus.CREDITED, 200,
                             f"Credited to {AFTER['full_name']}, sorry about the eggs")
    # The credit went to her member account; she asked for it back before leaving, and got it in cash
    # (erasure waits for a settled account).
    from marketplace.accounts import services as accounts
    from marketplace.accounts.models import Means

    accounts.record_payback(get_admin(), marie.id, Means.CASH, f"Handed to {AFTER['full_name']}")
    db.session.commit()
    return {"member_id": marie.id, "order_id": order.id, "courier": courier, "dispute_id": dispute.id}
