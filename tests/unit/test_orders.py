"""Cart, checkout, order changes, producer actions and the cut-off, on SQLite."""
from datetime import timedelta

import pytest

from marketplace.catalog.models import Product
from marketplace.core.errors import Conflict, NotAllowed, NotFound, ServiceError
from marketplace.core.models import OutboundEmail
from marketplace.core.services import queue_email
from marketplace.distributions.models import Distribution
from marketplace.extensions import db
from marketplace.members.models import College
from marketplace.orders import services
from marketplace.orders.models import Order
from marketplace.orders.services import CheckoutInput, OutOfStock
from marketplace.orders.states import Fulfilment, LineStatus, PartStatus, PaymentStatus
from marketplace.timeutil import utcnow
from tests.factories import get_admin, login, make_distribution, make_member, make_producer, make_product


@pytest.fixture
def shop(app):
    ferme = make_producer("ferme@test.coop", "Ferme du Marais", min_order_cents=2000)
    chevre = make_producer("chevre@test.coop", "Chèvrerie")
    carrots = make_product(ferme, "Carrots", price_cents=280, stock=10)
    squash = make_product(ferme, "Squash", price_cents=320, stock=20, weight_priced_g=1200)
    cheese = make_product(chevre, "Goat cheese", price_cents=350, stock=5)
    distribution = make_distribution([ferme, chevre], home_delivery=True, slots=1)
    buyer = make_member("marie@test.coop", College.BUYER, address="3 rue Kervégan", postcode="44000")
    db.session.commit()
    return dict(ferme=ferme, chevre=chevre, carrots=carrots, squash=squash, cheese=cheese,
                distribution=distribution, buyer=buyer)


def _checkout(shop, items, **kwargs):
    for product, quantity in items:
        services.add_to_cart(shop["buyer"], product.id, quantity)
    order = services.checkout(shop["buyer"], CheckoutInput(**kwargs))
    db.session.commit()
    return order


def test_cart_groups_by_producer_with_subtotals(shop):
    services.add_to_cart(shop["buyer"], shop["carrots"].id, 2)
    services.add_to_cart(shop["buyer"], shop["squash"].id, 1)
    services.add_to_cart(shop["buyer"], shop["cheese"].id, 3)
    summary = services.summarise_cart(services.get_cart(shop["buyer"]))
    subtotals = {g.producer.name: g.subtotal_cents for g in summary.groups}
    # squash: 1 piece x 1200 g x 3.20/kg = 3.84
    assert subtotals == {"Ferme du Marais": 2 * 280 + 384, "Chèvrerie": 3 * 350}
    assert summary.goods_cents == 560 + 384 + 1050


def test_cart_rejects_more_than_stock(shop):
    with pytest.raises(OutOfStock, match="only 5 left"):
        services.add_to_cart(shop["buyer"], shop["cheese"].id, 6)


def test_checkout_creates_one_part_per_producer_and_reserves_stock(shop):
    order = _checkout(shop, [(shop["carrots"], 3), (shop["cheese"], 2)])
    assert len(order.parts) == 2
    assert {p.producer.name for p in order.parts} == {"Ferme du Marais", "Chèvrerie"}
    assert db.session.get(Product, shop["carrots"].id).stock == 7
    assert db.session.get(Product, shop["cheese"].id).stock == 3
    assert services.get_cart(shop["buyer"]).items == []
    assert order.payment_status == PaymentStatus.DUE
    assert len(order.delivery_code) == 4 and order.delivery_code.isdigit()
    assert db.session.query(OutboundEmail).filter(OutboundEmail.recipient == "marie@test.coop",
                                                  OutboundEmail.subject.contains("confirmed")).count() == 1


def test_checkout_failure_changes_nothing(shop):
    services.add_to_cart(shop["buyer"], shop["carrots"].id, 3)
    services.add_to_cart(shop["buyer"], shop["cheese"].id, 2)
    db.session.commit()
    # Someone else buys the cheese meanwhile.
    db.session.get(Product, shop["cheese"].id).stock = 1
    db.session.commit()
    with pytest.raises(OutOfStock):
        services.checkout(shop["buyer"], CheckoutInput())
    db.session.rollback()
    assert db.session.get(Product, shop["carrots"].id).stock == 10
    assert db.session.query(Order).count() == 0
    assert len(services.get_cart(shop["buyer"]).items) == 2


def test_home_delivery_needs_a_served_postcode_and_adds_the_zone_fee(shop):
    services.add_to_cart(shop["buyer"], shop["carrots"].id, 1)
    db.session.commit()
    slot = shop["distribution"].slots[0]
    with pytest.raises(ServiceError, match="do not deliver"):
        services.checkout(shop["buyer"], CheckoutInput(fulfilment=Fulfilment.DELIVERY, delivery_address="x",
                                                       delivery_postcode="75001", delivery_slot_id=slot.id))
    db.session.rollback()
    order = services.checkout(shop["buyer"], CheckoutInput(fulfilment=Fulfilment.DELIVERY, delivery_address="3 rue",
                                                           delivery_postcode="44000", delivery_slot_id=slot.id))
    assert order.delivery_fee_cents == 450
    assert order.total_due_cents == 280 + 450


def test_pending_member_cannot_order_and_is_told_why(shop):
    pending = make_member("new@test.coop", active=False)
    with pytest.raises(NotAllowed, match="awaiting approval"):
        services.add_to_cart(pending, shop["carrots"].id, 1)


def test_buyer_changes_and_cancels_before_cutoff(shop):
    order = _checkout(shop, [(shop["carrots"], 3)])
    line = order.parts[0].lines[0]
    services.change_line_quantity(shop["buyer"], order.id, line.id, 5)
    db.session.commit()
    assert db.session.get(Product, shop["carrots"].id).stock == 5
    services.cancel_order(shop["buyer"], order.id)
    db.session.commit()
    assert order.status == "cancelled"
    assert db.session.get(Product, shop["carrots"].id).stock == 10


def test_order_cannot_change_after_cutoff(shop):
    order = _checkout(shop, [(shop["carrots"], 3)])
    shop["distribution"].cutoff_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    line = order.parts[0].lines[0]
    with pytest.raises(Conflict, match="cut-off"):
        services.change_line_quantity(shop["buyer"], order.id, line.id, 1)
    with pytest.raises(Conflict, match="cut-off"):
        services.cancel_order(shop["buyer"], order.id)
    with pytest.raises(Conflict, match="closed"):
        services.add_to_cart(shop["buyer"], shop["carrots"].id, 1)


def test_another_buyer_cannot_touch_my_order(shop):
    order = _checkout(shop, [(shop["carrots"], 3)])
    other = make_member("paul@test.coop")
    with pytest.raises(NotFound):
        services.cancel_order(other, order.id)


def test_weighed_line_final_amount_is_weight_times_price_rounded(shop):
    order = _checkout(shop, [(shop["squash"], 2)])
    part = order.parts[0]
    line = part.lines[0]
    assert line.estimated_cents == 768  # 2 x 1200 g x 3.20 / kg
    services.accept_part(shop["ferme"], part.id)
    services.record_weight(shop["ferme"], line.id, 2163)
    db.session.commit()
    # 2163 g x 3.20 EUR/kg = 6.9216 -> 6.92
    assert line.final_cents == 692
    with pytest.raises(ServiceError, match="between"):
        services.record_weight(shop["ferme"], line.id, 3000)  # +25 %: outside the ±20 % margin
    assert line.weighed_grams == 2163


def test_mark_ready_requires_weights(shop):
    order = _checkout(shop, [(shop["squash"], 1)])
    part = order.parts[0]
    services.accept_part(shop["ferme"], part.id)
    with pytest.raises(Conflict, match="Weigh"):
        services.mark_ready(shop["ferme"], part.id)
    services.record_weight(shop["ferme"], part.lines[0].id, 1100)
    services.mark_ready(shop["ferme"], part.id)
    assert part.status == PartStatus.READY


def test_producer_rejects_a_line_buyer_notified_and_credited(shop):
    order = _checkout(shop, [(shop["carrots"], 2), (shop["squash"], 1)])
    part = order.parts[0]
    carrots_line = next(l for l in part.lines if l.product_name == "Carrots")
    services.reject_line(shop["ferme"], carrots_line.id, "Hail destroyed the carrots")
    db.session.commit()
    assert carrots_line.status == LineStatus.REJECTED
    assert carrots_line.credited_cents == 560
    assert carrots_line.final_cents == 0
    assert db.session.get(Product, shop["carrots"].id).stock == 10
    assert part.status == PartStatus.PLACED  # the squash is still coming
    mails = db.session.query(OutboundEmail).filter_by(recipient="marie@test.coop").all()
    assert any("Hail destroyed the carrots" in m.body for m in mails)


def test_producer_cannot_act_on_another_producers_part(shop):
    order = _checkout(shop, [(shop["cheese"], 1)])
    with pytest.raises(NotFound):
        services.accept_part(shop["ferme"], order.parts[0].id)


def test_state_machine_refuses_skipping_steps(shop):
    order = _checkout(shop, [(shop["cheese"], 1)])
    with pytest.raises(Conflict):
        services.mark_ready(shop["chevre"], order.parts[0].id)  # placed -> ready skips acceptance


def test_cutoff_cancels_producer_under_minimum_and_leaves_others(shop):
    order = _checkout(shop, [(shop["carrots"], 2), (shop["cheese"], 2)])  # Ferme: 5.60 < 20.00 minimum
    shop["distribution"].cutoff_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert services.close_due_distributions() == [shop["distribution"].id]
    db.session.commit()  # what the beat task does after the service
    ferme_part = next(p for p in order.parts if p.producer.name == "Ferme du Marais")
    chevre_part = next(p for p in order.parts if p.producer.name == "Chèvrerie")
    assert ferme_part.status == PartStatus.CANCELLED
    assert "minimum" in ferme_part.cancel_reason
    assert chevre_part.status == PartStatus.PLACED
    assert db.session.get(Product, shop["carrots"].id).stock == 10   # returned
    assert db.session.get(Product, shop["cheese"].id).stock == 3     # untouched
    subjects = [(m.recipient, m.subject) for m in db.session.query(OutboundEmail)]
    assert any(r == "marie@test.coop" and "cancelled" in s for r, s in subjects)
    assert any(r == "chevre@test.coop" and "Harvest" in s for r, s in subjects)
    # Running it again does nothing.
    assert services.close_due_distributions() == []
    assert services.close_distribution(shop["distribution"].id) is False


def test_cutoff_leaves_the_commit_to_its_caller(shop):
    order = _checkout(shop, [(shop["carrots"], 2), (shop["cheese"], 2)])
    distribution_id = shop["distribution"].id
    shop["distribution"].cutoff_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert services.close_distribution(distribution_id) is True
    db.session.rollback()  # the caller's boundary gives up: nothing of the cut-off stays
    assert db.session.get(Distribution, distribution_id).closed_at is None
    assert {p.status for p in db.session.get(Order, order.id).parts} == {PartStatus.PLACED}
    assert db.session.get(Product, shop["carrots"].id).stock == 8
    assert db.session.query(OutboundEmail).filter(OutboundEmail.subject.contains("Harvest")).count() == 0


def test_cutoff_already_run_keeps_the_callers_pending_changes(shop):
    distribution_id = shop["distribution"].id
    shop["distribution"].cutoff_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert services.close_distribution(distribution_id) is True
    db.session.commit()
    queue_email("someone@test.coop", "Written by the caller", "Pending when the cut-off is asked again.")
    assert services.close_distribution(distribution_id) is False
    db.session.commit()
    assert db.session.query(OutboundEmail).filter_by(subject="Written by the caller").count() == 1


def test_cutoff_task_commits_what_the_service_decided(shop):
    from marketplace.orders import tasks

    _checkout(shop, [(shop["cheese"], 1)])
    distribution_id = shop["distribution"].id
    shop["distribution"].cutoff_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert tasks.close_due_distributions() == [distribution_id]
    db.session.rollback()
    assert db.session.get(Distribution, distribution_id).closed_at is not None
    assert tasks.close_distribution(distribution_id) is False


def test_close_due_command_commits_the_cutoff(shop, app):
    distribution_id = shop["distribution"].id
    shop["distribution"].cutoff_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["close-due"])
    assert f"Closed 1 distribution(s): [{distribution_id}]" in result.output
    db.session.rollback()
    assert db.session.get(Distribution, distribution_id).closed_at is not None


def test_admin_runs_the_cutoff_by_hand_and_it_is_kept(shop, client):
    distribution_id = shop["distribution"].id
    shop["distribution"].cutoff_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    login(client, get_admin())
    response = client.post(f"/admin/distributions/{distribution_id}/close", follow_redirects=True)
    assert "Cut-off processed." in response.get_data(as_text=True)
    db.session.rollback()
    assert db.session.get(Distribution, distribution_id).closed_at is not None


def test_harvest_totals_sum_over_buyers(shop):
    _checkout(shop, [(shop["cheese"], 2)])
    paul = make_member("paul@test.coop")
    services.add_to_cart(paul, shop["cheese"].id, 1)
    services.checkout(paul, CheckoutInput())
    db.session.commit()
    totals = services.harvest_totals(shop["distribution"].id, shop["chevre"].producer_profile.id)
    assert [(t.product_name, t.quantity) for t in totals] == [("Goat cheese", 3)]


def test_collected_at_pickup_marks_paid(shop):
    order = _checkout(shop, [(shop["cheese"], 1)])
    part = order.parts[0]
    services.accept_part(shop["chevre"], part.id)
    services.mark_ready(shop["chevre"], part.id)
    from tests.factories import get_admin

    services.mark_collected(get_admin(), order.id)
    assert order.status == "collected"
    assert order.payment_status == PaymentStatus.PAID
    with pytest.raises(NotAllowed):
        services.mark_collected(shop["buyer"], order.id)


def test_documents_list_every_buyer(shop, app):
    order = _checkout(shop, [(shop["cheese"], 2), (shop["squash"], 1)])
    from marketplace.orders import documents

    with app.test_request_context():
        packing = documents.packing_list(shop["distribution"].id, shop["chevre"].producer_profile.id)
        assert packing.rows[0][:2] == ["Goat cheese", "2"]
        assert packing.to_pdf().startswith(b"%PDF")
        sheet = documents.pickup_sheet(shop["distribution"].id)
        assert sheet.rows[0][1] == order.reference
        csv_text = sheet.to_csv().decode("utf-8-sig")
        assert "Signature" in csv_text.splitlines()[0]
