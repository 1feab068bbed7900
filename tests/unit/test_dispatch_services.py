"""Dispatch services on SQLite: planning, offers, the courier's stops, pay, the dispatcher's overrides."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from marketplace.core.errors import Conflict, NotAllowed, ServiceError
from marketplace.core.models import OutboundEmail, OutboxMessage
from marketplace.dispatch import services as dispatch
from marketplace.dispatch.models import (AvailabilitySlot, CourierPayable, CourierProfile, DeliveryJob, JobStatus,
                                         OfferStatus, Run, RunOffer, RunStatus, StopKind, StopStatus)
from marketplace.extensions import db
from marketplace.members.models import College
from marketplace.orders.states import PartStatus
from marketplace.timeutil import utcnow
from tests.dispatch_fixtures import delivery_scene, make_courier
from tests.factories import get_admin, make_member


def _plan(order):
    return dispatch.plan_for_order(order.id)


def _emails_to(address):
    return [e.subject for e in db.session.query(OutboundEmail).filter_by(recipient=address)]


def test_ready_order_is_queued_for_planning_in_the_outbox(app):
    _, _, [order] = delivery_scene()
    rows = db.session.query(OutboxMessage).filter_by(task_name="dispatch.plan_for_order").all()
    assert [json.loads(r.args_json) for r in rows] == [[order.id]]
    assert db.session.query(DeliveryJob).filter_by(order_id=order.id).one().status == JobStatus.OPEN


def test_planning_makes_one_run_offered_to_the_courier_with_pay_shown(app):
    _, [courier], [order] = delivery_scene()
    [run_id] = _plan(order)
    run = db.session.get(Run, run_id)
    assert run.status == RunStatus.OFFERED and run.offered_to_id == courier.id
    kinds = [s.kind for s in run.stops]
    assert kinds.count(StopKind.PICKUP) == 2 and kinds[-1] == StopKind.DROPOFF
    [offer] = run.offers
    assert offer.pay_cents == dispatch.run_pay_cents(run.distance_m, 3) > 500
    assert "A run is offered to you" in _emails_to(courier.email)
    assert db.session.query(DeliveryJob).one().status == JobStatus.PLANNED


def test_planning_twice_creates_one_set_of_runs(app):
    _, _, orders = delivery_scene(n_orders=3, n_couriers=2)
    first = _plan(orders[0])
    assert first and _plan(orders[0]) == [] and _plan(orders[1]) == []
    assert db.session.query(Run).count() == len(first)
    planned = sorted(s.order_id for r in db.session.query(Run) for s in r.stops if s.kind == StopKind.DROPOFF)
    assert planned == sorted(o.id for o in orders)


def test_delivery_that_fits_no_vehicle_is_reported_not_dropped(app):
    distribution, [courier], [order] = delivery_scene()
    courier.courier_profile.capacity_g = 100  # the order weighs more
    assert _plan(order) == []
    job = db.session.query(DeliveryJob).one()
    assert job.status == JobStatus.UNASSIGNED and "heavier" in job.reason
    board = dispatch.board(get_admin(), distribution.slots[0].starts_at.date())
    assert job in board.jobs_needing_action


def test_decline_offers_the_run_to_the_next_courier_then_opens_it(app):
    _, [first, second], [order] = delivery_scene(n_couriers=2)
    [run_id] = _plan(order)
    run = db.session.get(Run, run_id)
    holder = run.offered_to
    other = second if holder.id == first.id else first
    dispatch.decline_run(holder, run_id)
    assert run.status == RunStatus.OFFERED and run.offered_to_id == other.id
    dispatch.decline_run(other, run_id)
    assert run.status == RunStatus.OPEN and run.offered_to_id is None
    assert [o.status for o in run.offers] == [OfferStatus.DECLINED, OfferStatus.DECLINED]
    # An open run can be taken by any suitable courier, including one who declined.
    dispatch.accept_run(holder, run_id)
    assert run.status == RunStatus.ACCEPTED and run.courier_id == holder.id


def test_unanswered_offer_expires_and_goes_to_the_next_courier(app):
    _, [first, second], [order] = delivery_scene(n_couriers=2)
    [run_id] = _plan(order)
    run = db.session.get(Run, run_id)
    [offer] = run.offers
    assert dispatch.expire_offer(offer.id) > 0  # not due yet: the task comes back later
    assert dispatch.expire_due_offers(offer.expires_at + timedelta(seconds=1)) == 1
    assert offer.status == OfferStatus.EXPIRED and run.offered_to_id not in (None, offer.courier_id)
    with pytest.raises(Conflict):
        dispatch.accept_run(offer.courier, run_id, now=offer.expires_at + timedelta(seconds=2))


def test_expired_offer_cannot_be_accepted_even_before_the_task_runs(app):
    _, [courier], [order] = delivery_scene()
    [run_id] = _plan(order)
    run = db.session.get(Run, run_id)
    with pytest.raises(Conflict):
        dispatch.accept_run(courier, run_id, now=run.offer_expires_at + timedelta(seconds=1))
    assert db.session.get(Run, run_id).courier_id is None


def _accepted_run(n_couriers=1):
    _, couriers, [order] = delivery_scene(n_couriers=n_couriers)
    [run_id] = _plan(order)
    run = db.session.get(Run, run_id)
    courier = run.offered_to
    dispatch.accept_run(courier, run_id)
    return run, courier, order, couriers


def test_full_run_delivers_the_order_and_records_the_pay(app):
    run, courier, order, _ = _accepted_run()
    pickups = [s for s in run.stops if s.kind == StopKind.PICKUP]
    dispatch.mark_picked_up(courier, pickups[0].id)
    assert run.status == RunStatus.IN_PROGRESS and order.status == "ready"  # one part still at the farm
    dispatch.mark_picked_up(courier, pickups[1].id)
    assert order.status == "out_for_delivery"
    drop = run.stops[-1]
    dispatch.confirm_delivery(courier, drop.id, order.delivery_code)
    assert order.status == "delivered" and run.status == RunStatus.DONE
    payable = db.session.query(CourierPayable).one()
    assert payable.courier_id == courier.id and payable.stops == 3
    assert payable.amount_cents == dispatch.run_pay_cents(run.distance_m, 3)
    assert any("delivered" in s for s in _emails_to(order.buyer.email))
    assert any("on its way" in s for s in _emails_to(order.buyer.email))


def test_wrong_codes_are_counted_and_limited(app):
    run, courier, order, _ = _accepted_run()
    for stop in run.stops[:-1]:
        dispatch.mark_picked_up(courier, stop.id)
    db.session.commit()
    drop = run.stops[-1]
    wrong = "0000" if order.delivery_code != "0000" else "1111"
    with pytest.raises(ServiceError, match="4 digits"):
        dispatch.confirm_delivery(courier, drop.id, "12a")
    for left in (4, 3, 2, 1):
        with pytest.raises(ServiceError, match=f"{left} attempt"):
            dispatch.confirm_delivery(courier, drop.id, wrong)
        db.session.rollback()
    with pytest.raises(NotAllowed, match="Too many"):
        dispatch.confirm_delivery(courier, drop.id, wrong)
    db.session.rollback()
    with pytest.raises(NotAllowed, match="Too many"):  # even the right code now needs the dispatcher
        dispatch.confirm_delivery(courier, drop.id, order.delivery_code)
    db.session.rollback()
    assert order.status == "out_for_delivery" and drop.status == StopStatus.PENDING
    dispatch.reset_code_attempts(get_admin(), drop.id)
    dispatch.confirm_delivery(courier, drop.id, order.delivery_code)
    assert order.status == "delivered"


def test_another_couriers_run_is_forbidden(app):
    run, courier, order, couriers = _accepted_run(n_couriers=2)
    intruder = next(c for c in couriers if c.id != courier.id)
    for action in (lambda: dispatch.mark_picked_up(intruder, run.stops[0].id),
                   lambda: dispatch.confirm_delivery(intruder, run.stops[-1].id, order.delivery_code),
                   lambda: dispatch.report_failure(intruder, run.stops[-1].id, "no one home"),
                   lambda: dispatch.courier_run(intruder, run.id)):
        with pytest.raises(NotAllowed):
            action()
    assert all(s.status == StopStatus.PENDING for s in run.stops)
    buyer = order.buyer
    with pytest.raises(NotAllowed):
        dispatch.accept_run(buyer, run.id)


def test_failed_delivery_goes_back_to_the_dispatcher(app):
    run, courier, order, _ = _accepted_run()
    for stop in run.stops[:-1]:
        dispatch.mark_picked_up(courier, stop.id)
    with pytest.raises(ServiceError):
        dispatch.report_failure(courier, run.stops[-1].id, "  ")
    dispatch.report_failure(courier, run.stops[-1].id, "Nobody home, phone off")
    assert all(p.status == PartStatus.READY for p in order.parts)
    job = db.session.query(DeliveryJob).one()
    assert job.status == JobStatus.FAILED and job.reason == "Nobody home, phone off"
    assert run.status == RunStatus.DONE
    assert db.session.query(CourierPayable).one().stops == 3  # the attempt is paid
    # The dispatcher replans it: a new run is made.
    new_runs = dispatch.replan(get_admin(), dispatch.plan_key_for(order))
    assert len(new_runs) == 1 and new_runs[0] != run.id


def test_dispatcher_reassigns_and_splits(app):
    _, [first, second], orders = delivery_scene(n_orders=2, n_couriers=2)
    run_ids = _plan(orders[0])
    admin = get_admin()
    run = db.session.get(Run, run_ids[0])
    target = second if run.offered_to_id == first.id else first
    if len(run.order_ids) == 1:  # make one run with both orders for the split
        other = db.session.get(Run, run_ids[1])
        for stop in list(other.stops):
            other.stops.remove(stop)
            stop.position = len(run.stops)
            run.stops.append(stop)
        other.status = RunStatus.CANCELLED
        db.session.flush()
    dispatch.reassign_run(admin, run.id, target.id)
    assert run.offered_to_id == target.id
    assert run.offers[-1].courier_id == target.id and run.offers[-2].status == OfferStatus.WITHDRAWN
    new = dispatch.split_run(admin, run.id, [orders[1].id])
    assert run.order_ids == [orders[0].id] and new.order_ids == [orders[1].id]
    assert {s.kind for s in new.stops} == {StopKind.PICKUP, StopKind.DROPOFF}
    with pytest.raises(ServiceError):
        dispatch.split_run(admin, run.id, [orders[0].id])  # would empty the run
    with pytest.raises(NotAllowed):
        dispatch.reassign_run(first, run.id, second.id)


# ---------------------------------------------------------------- hostile input on availability

def _courier_without_profile():
    return make_member("new.courier@test.coop", College.COURIER, postcode="44000")


def _profile_input(**changes):
    from marketplace.distributions.models import DeliveryZone

    zone = db.session.query(DeliveryZone).first()
    values = dict(vehicle="bike", capacity_kg=20, capacity_parcels=6, max_stops=12, zone_ids=(zone.id,))
    values.update(changes)
    return dispatch.CourierProfileInput(**values)


@pytest.mark.parametrize("changes, field", [
    ({"capacity_kg": 0}, "capacity_kg"), ({"capacity_kg": -5}, "capacity_kg"),
    ({"capacity_parcels": 0}, "capacity_parcels"), ({"capacity_parcels": -1}, "capacity_parcels"),
    ({"max_stops": 0}, "max_stops"), ({"vehicle": "rocket"}, "vehicle"), ({"zone_ids": ()}, "zone_ids"),
    ({"home_latitude": 91.0, "home_longitude": 0.0}, "latitude"),
    ({"home_latitude": 47.0, "home_longitude": -181.0}, "longitude"),
    ({"home_latitude": 47.0, "home_longitude": None}, "latitude"),
])
def test_bad_courier_profile_is_refused_and_nothing_changes(app, changes, field):
    delivery_scene(n_orders=0, n_couriers=0)
    courier = _courier_without_profile()
    with pytest.raises(ServiceError) as error:
        dispatch.save_courier_profile(courier, _profile_input(**changes))
    assert error.value.field.startswith(field.split("_")[0]) and error.value.message
    assert db.session.query(CourierProfile).count() == 0


def test_availability_end_before_start_or_overlapping_is_refused(app):
    distribution, [courier], _ = delivery_scene(n_orders=0)
    start = distribution.slots[0].starts_at
    before = db.session.query(AvailabilitySlot).count()
    with pytest.raises(ServiceError, match="after its start"):
        dispatch.add_availability(courier, start + timedelta(hours=8), start + timedelta(hours=7))
    with pytest.raises(ServiceError, match="after its start"):
        dispatch.add_availability(courier, start + timedelta(hours=8), start + timedelta(hours=8))
    with pytest.raises(Conflict, match="overlaps"):
        dispatch.add_availability(courier, start + timedelta(hours=3), start + timedelta(hours=6))
    with pytest.raises(ServiceError, match="over"):
        dispatch.add_availability(courier, utcnow() - timedelta(hours=3), utcnow() - timedelta(hours=2))
    assert db.session.query(AvailabilitySlot).count() == before
    dispatch.add_availability(courier, start + timedelta(hours=4), start + timedelta(hours=6))  # touching is fine
    assert db.session.query(AvailabilitySlot).count() == before + 1


def test_only_couriers_declare_availability(app):
    distribution, _, _ = delivery_scene(n_orders=0, n_couriers=0)
    buyer = make_member("buyer@test.coop", College.BUYER)
    with pytest.raises(NotAllowed):
        dispatch.save_courier_profile(buyer, _profile_input())


def test_dispatcher_coordinates_out_of_range_are_refused(app):
    distribution, _, [order] = delivery_scene(n_couriers=0)
    _plan(order)
    job = db.session.query(DeliveryJob).one()
    assert job.status == JobStatus.UNASSIGNED  # nobody available
    lat, lon = job.latitude, job.longitude
    for bad in ((95.0, 2.0), (45.0, 200.0), (float("nan"), 2.0), (45.0, None)):
        with pytest.raises(ServiceError):
            dispatch.set_job_coordinates(get_admin(), job.id, *bad)
        assert (job.latitude, job.longitude) == (lat, lon)
    dispatch.set_job_coordinates(get_admin(), job.id, 47.21, -1.55)
    assert job.coordinates_source == "entered"


def test_postcode_csv_import_is_all_or_nothing(app):
    admin = get_admin()
    assert dispatch.import_postcode_centroids(admin, "postcode,lat,lon,town\n44000,47.2,-1.55,Nantes\n") == 1
    with pytest.raises(ServiceError, match="line 3"):
        dispatch.import_postcode_centroids(admin, "postcode,lat,lon\n44100,47.2,-1.6\n44200,99,-1.5\n")
    assert dispatch.centroid("44000") is not None


def test_pay_rule(app):
    dispatch.update_rules(get_admin(), pay_per_run_cents=400, pay_per_km_cents=50, pay_per_stop_cents=100,
                          offer_timeout_minutes=10, max_code_attempts=3)
    assert dispatch.run_pay_cents(12_345, 4) == 400 + 617 + 400
    with pytest.raises(ServiceError):
        dispatch.update_rules(get_admin(), pay_per_run_cents=-1, pay_per_km_cents=50, pay_per_stop_cents=100,
                              offer_timeout_minutes=10, max_code_attempts=3)


def test_beat_tasks_plan_due_slots_and_expire_offers(app):
    from marketplace.dispatch import tasks

    distribution, [courier], [order] = delivery_scene()
    db.session.commit()
    assert tasks.plan_due_slots() == []  # the cut-off has not passed: the order_ready task plans it
    distribution.cutoff_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert tasks.plan_due_slots() == [dispatch.plan_key_for(order)]
    assert tasks.plan_due_slots() == []  # planned: nothing left
    [offer] = db.session.query(RunOffer).all()
    offer.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert tasks.expire_due_offers() == 1
    assert offer.status == OfferStatus.EXPIRED and offer.run.status == RunStatus.OPEN


def test_goods_at_the_pickup_place_start_every_run_there_and_batch_baskets(app):
    """With the goods brought to the distribution, multi-producer baskets share one run from there."""
    dispatch.update_rules(get_admin(), pay_per_run_cents=400, pay_per_km_cents=50, pay_per_stop_cents=100,
                          offer_timeout_minutes=30, max_code_attempts=5, goods_at_pickup_place=True)
    distribution, [courier], placed = delivery_scene(n_orders=3, n_couriers=1)
    place = distribution.pickup_place
    run_ids = dispatch.plan_for_order(placed[0].id)
    db.session.commit()
    runs = db.session.query(Run).all()
    assert [r.id for r in runs] == run_ids and len(runs) == 1
    stops = runs[0].stops
    pickups = [s for s in stops if s.kind.value == "pickup"]
    dropoffs = [s for s in stops if s.kind.value == "dropoff"]
    assert {s.order_id for s in dropoffs} == {o.id for o in placed}
    assert all((s.latitude, s.longitude) == (place.latitude, place.longitude) and s.producer_id is None
               for s in pickups)
    # Every pickup comes before its own drop-off.
    for order in placed:
        positions = [s.position for s in stops if s.order_id == order.id]
        kinds = [s.kind.value for s in sorted((s for s in stops if s.order_id == order.id), key=lambda s: s.position)]
        assert kinds[-1] == "dropoff" and "pickup" in kinds and len(positions) >= 2
