"""The demo coop the README's first command serves."""
from marketplace.billing.models import BillingPeriod, PeriodStatus
from marketplace.catalog.models import Product
from marketplace.demo import DEMO_PASSWORD, seed_demo
from marketplace.distributions.services import open_distributions
from marketplace.extensions import db
from marketplace.members.models import College, Membership, MembershipStatus
from marketplace.members.services import authenticate


def test_demo_seed_is_complete_and_runs_once(app, client):
    logins = seed_demo()
    assert logins["password"] == DEMO_PASSWORD
    roles = [role for role, _email in logins["accounts"]]
    assert roles.count("producer") >= 3 and roles.count("courier") == 2 and roles.count("buyer") == 3
    for _role, email in logins["accounts"]:
        assert authenticate(email, DEMO_PASSWORD) is not None, email
    # Paul has a prepaid balance (member accounts), and the ledger reconciles.
    from marketplace.accounts import services as accounts
    from marketplace.accounts.models import MovementKind
    from marketplace.members.models import User

    paul = db.session.query(User).filter_by(email="paul.buyer@demo.coop").one()
    assert MovementKind.TOP_UP in [m.kind for m in accounts.movements_of(paul.id)]
    assert accounts.treasury(db.session.query(User).filter_by(is_admin=True).first()).reconciled
    products = db.session.query(Product).all()
    assert len(products) >= 20 and all(p.photo_filename for p in products)
    assert any(p.is_weight_priced for p in products)
    assert len({d.pickup_place_id for d in open_distributions()}) == 2
    assert any(d.home_delivery and d.slots for d in open_distributions())
    active = db.session.query(Membership).filter_by(status=MembershipStatus.ACTIVE)
    assert active.filter_by(college=College.COURIER).count() == 2
    assert db.session.query(Membership).filter_by(status=MembershipStatus.PENDING).count() == 1
    # Last month is closed, so statements and the transparency page show real figures.
    closed = db.session.query(BillingPeriod).filter_by(status=PeriodStatus.CLOSED).one()
    assert client.get("/transparency").status_code == 200
    assert b"116.00" in client.get("/transparency").data
    assert closed.id
    assert seed_demo() is None
    response = client.get("/products")
    assert response.status_code == 200 and response.data.count(b'class="card product"') >= 20


def test_a_demo_home_delivery_is_planned_into_a_run_for_a_demo_courier(app):
    from marketplace.catalog.models import Product
    from marketplace.dispatch import services as dispatch
    from marketplace.dispatch.models import Run
    from marketplace.members.models import User
    from marketplace.orders import services as orders
    from marketplace.orders.states import Fulfilment

    seed_demo()
    marie = db.session.query(User).filter_by(email="marie.buyer@demo.coop").one()
    distribution = next(d for d in open_distributions() if d.home_delivery)
    orders.choose_distribution(marie, distribution.id)
    for name in ("Carrots", "Fresh goat cheese", "Country sourdough loaf"):
        orders.add_to_cart(marie, db.session.query(Product).filter_by(name=name).one().id, 1)
    order = orders.checkout(marie, orders.CheckoutInput(
        fulfilment=Fulfilment.DELIVERY, delivery_address="3 rue Kervégan", delivery_postcode="44000",
        delivery_town="Nantes", delivery_slot_id=distribution.slots[0].id))
    for part in order.parts:
        orders.accept_part(part.producer.user, part.id)
        orders.mark_ready(part.producer.user, part.id)
    db.session.commit()
    [run_id] = dispatch.plan_for_order(order.id)
    db.session.commit()
    run = db.session.get(Run, run_id)
    assert run.offers and run.offers[-1].courier.email.endswith("@demo.coop")
    assert {s.kind.value for s in run.stops} == {"pickup", "dropoff"}
