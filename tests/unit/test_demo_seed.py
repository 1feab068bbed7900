"""The demo coop the README's first command serves."""
from marketplace.billing.models import BillingPeriod, PeriodStatus
from marketplace.catalog.models import Product
from marketplace.demo import DEMO_PASSWORD, seed_demo
from marketplace.distributions.services import open_distributions
from marketplace.extensions import db
from marketplace.members.models import College, Membership, MembershipStatus
from marketplace.members.services import authenticate
from tests.snapshots import snapshot


def test_demo_seed_is_complete_and_runs_once(app, client):
    logins = snapshot("demo", seed_demo)
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
    # The last two months are closed, so statements and the transparency page show real figures.
    assert db.session.query(BillingPeriod).filter_by(status=PeriodStatus.CLOSED).count() == 2
    assert client.get("/transparency").status_code == 200
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

    snapshot("demo", seed_demo)
    marie = db.session.query(User).filter_by(email="marie.buyer@demo.coop").one()
    distribution = next(d for d in open_distributions() if d.home_delivery)
    orders.choose_distribution(marie, distribution.id)
    for name in ("Carottes des sables", "Chèvre frais", "Pain de campagne au levain"):
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


def test_the_demo_economy_tells_a_small_coops_true_story(app, client):
    """Hundreds of orders over two months, deliveries paid to couriers, a small coop's real running costs:
    most of each buyer euro reaches the producers, and the coop's costs are a small share of its sales."""
    from marketplace.billing.services import transparency_report
    from marketplace.dispatch.models import CourierPayable
    from marketplace.orders.models import Order

    snapshot("demo", seed_demo)
    assert db.session.query(Order).count() >= 300
    assert db.session.query(CourierPayable).count() >= 10
    reports = transparency_report()
    assert len(reports) == 2
    for report in reports:
        period = report.period
        assert 40_000 <= period.total_cost_cents <= 150_000  # accounting, insurance, software, cold room...
        assert period.total_cost_cents < period.producer_sales_cents * 0.15
        assert 0.85 <= report.shares["producers"] < 0.99 and report.shares["couriers"] > 0


def test_the_demo_shop_speaks_french_and_english_to_its_members(app, client):
    """The coop's language is French; a product's English name is shown to English readers; search finds both."""
    from marketplace.catalog.services import browse_query

    snapshot("demo", seed_demo)
    found = db.session.execute(browse_query("pomme")).scalars().all()
    assert {"Pommes Reinette", "Jus de pomme"} <= {p.name for p in found}
    assert "Pommes Reinette" in {p.name for p in db.session.execute(browse_query("apple")).scalars()}
    carrots = db.session.query(Product).filter_by(name="Carottes des sables").one()
    assert carrots.name_for("en") == "Sandy-soil carrots" and carrots.name_for("fr") == "Carottes des sables"
    english = client.get(f"/products/{carrots.id}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Sandy-soil carrots" in english


def test_the_demo_has_a_vegetable_basket_contract_with_a_subscriber_away_one_week(app):
    from marketplace.contracts import services as contracts
    from marketplace.contracts.models import Contract, Subscription

    snapshot("demo", seed_demo)
    contract = db.session.query(Contract).one()
    subscription = db.session.query(Subscription).filter_by(contract_id=contract.id).one()
    assert subscription.member.email == "marie.buyer@demo.coop"
    assert contracts.absences_left(subscription) == 1
    deliveries = len(contracts.delivery_plan(subscription))
    assert contracts.amount_cents(subscription) == 1800 * (deliveries - 1)  # the absence is one of the two free


def test_the_demo_shows_variants_and_the_offers_of_its_open_distributions(app, client):
    from marketplace.catalog.models import DistributionOffer, ProductVariant

    snapshot("demo", seed_demo)
    potatoes = db.session.query(Product).filter_by(name="Pommes de terre Charlotte").one()
    assert [v.label for v in potatoes.variants] == ["1 kg", "Sac de 5 kg", "Sac de 10 kg"]
    assert db.session.query(ProductVariant).count() >= len(db.session.query(Product).all()) + 6
    thursday = next(d for d in open_distributions() if d.title == "Marché du jeudi")
    offered = db.session.query(DistributionOffer).filter_by(distribution_id=thursday.id).all()
    assert len(offered) == 7 and any(o.price_cents == 1150 for o in offered)
    from marketplace.catalog.services import browse_query

    sold = {p.name for p in db.session.scalars(browse_query(distribution_id=thursday.id))}
    assert "Pommes de terre Charlotte" in sold and "Chou kale" not in sold  # Marais did not bring kale
    assert "Chèvre frais" in sold  # the goat farm has not said: everything of theirs is sold there
    page = client.get(f"/products?distribution={thursday.id}").get_data(as_text=True)
    assert "Kale" not in page and "Charlotte potatoes" in page
