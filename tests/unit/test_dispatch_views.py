"""Dispatch pages: the courier's (mobile-first) pages, hostile requests, the dispatcher's board."""
from __future__ import annotations

from marketplace.dispatch import services as dispatch
from marketplace.dispatch.models import AvailabilitySlot, CourierProfile, DeliveryJob, Run, StopStatus
from marketplace.extensions import db
from tests.dispatch_fixtures import delivery_scene
from tests.factories import get_admin, login
from tests.refusals import refused


def _scene_with_offer(n_couriers=2):
    distribution, couriers, [order] = delivery_scene(n_couriers=n_couriers)
    [run_id] = dispatch.plan_for_order(order.id)
    db.session.commit()
    return distribution, couriers, order, db.session.get(Run, run_id)


def test_courier_accepts_and_works_the_run_through_pages(client):
    _, couriers, order, run = _scene_with_offer()
    courier = run.offered_to
    login(client, courier)
    page = client.get("/courier").get_data(as_text=True)
    assert f"Run {run.id}" in page and "Accept" in page and "per km" in page
    assert client.post(f"/courier/runs/{run.id}/accept").status_code == 302
    page = client.get(f"/courier/runs/{run.id}").get_data(as_text=True)
    assert "Pick up at" in page and order.delivery_address in page
    for stop in run.stops[:-1]:
        assert client.post(f"/courier/stops/{stop.id}/picked-up").status_code == 302
    wrong = "0000" if order.delivery_code != "0000" else "1111"
    left = dispatch.get_rules().max_code_attempts - 1
    back, errors = refused(client, f"/courier/stops/{run.stops[-1].id}/delivered", {"code": wrong})
    assert back == f"/courier/runs/{run.id}" and errors == [f"Wrong code: {left} attempt(s) left."]
    db.session.expire_all()
    assert db.session.get(Run, run.id).stops[-1].status == StopStatus.PENDING
    assert client.post(f"/courier/stops/{run.stops[-1].id}/delivered",
                       data={"code": order.delivery_code}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Run, run.id).stops[-1].status == StopStatus.DONE
    assert order.status == "delivered"


def test_another_courier_gets_403_and_nothing_changes(client):
    _, couriers, order, run = _scene_with_offer()
    holder = run.offered_to
    dispatch.accept_run(holder, run.id)
    db.session.commit()
    intruder = next(c for c in couriers if c.id != holder.id)
    login(client, intruder)
    assert client.get(f"/courier/runs/{run.id}").status_code == 403
    assert client.post(f"/courier/stops/{run.stops[0].id}/picked-up").status_code == 403
    assert client.post(f"/courier/stops/{run.stops[-1].id}/delivered",
                       data={"code": order.delivery_code}).status_code == 403
    back, errors = refused(client, f"/courier/runs/{run.id}/accept")
    assert back == "/courier" and errors == ["Too late: this run has been taken or the offer has expired."]
    db.session.expire_all()
    assert all(s.status == StopStatus.PENDING for s in db.session.get(Run, run.id).stops)
    assert db.session.get(Run, run.id).courier_id == holder.id


def test_availability_form_errors_change_nothing(client):
    distribution, [courier], _ = delivery_scene(n_orders=0)
    login(client, courier)
    before = db.session.query(AvailabilitySlot).count()
    day = distribution.slots[0].starts_at.date().isoformat()
    response = client.post("/courier/availability", data={"what": "slot", "slot-day": day, "slot-start": "18:00",
                                                          "slot-end": "17:00"})
    assert response.status_code == 400 and "after its start" in response.get_data(as_text=True)
    profile = {"what": "profile", "profile-vehicle": "bike", "profile-capacity_kg": "0",
               "profile-capacity_parcels": "5", "profile-max_stops": "10", "profile-zone_ids": "1"}
    response = client.post("/courier/availability", data=profile)
    assert response.status_code == 400 and "more than 0 kg" in response.get_data(as_text=True)
    profile.update({"profile-capacity_kg": "12", "profile-home_latitude": "123", "profile-home_longitude": "2"})
    response = client.post("/courier/availability", data=profile)
    assert response.status_code == 400 and "out of range" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.query(AvailabilitySlot).count() == before
    assert db.session.query(CourierProfile).one().capacity_g == 30_000


def test_board_is_for_admins_and_shows_runs(client):
    distribution, couriers, order, run = _scene_with_offer()
    login(client, couriers[0])
    assert client.get("/admin/dispatch").status_code == 403
    client.post("/logout")
    login(client, get_admin())
    page = client.get(f"/admin/dispatch?day={run.starts_at.date().isoformat()}").get_data(as_text=True)
    assert f"Run {run.id}" in page and "Reassign" in page
    assert client.get("/admin/dispatch/rules").status_code == 200
    assert client.post("/admin/dispatch/rules", data={"pay_per_run": "-3", "pay_per_km": "0.5", "pay_per_stop": "1",
                                                      "offer_timeout_minutes": "10",
                                                      "max_code_attempts": "3"}).status_code == 400


def test_pickup_at_the_distribution_lists_the_whole_basket(client):
    dispatch.update_rules(get_admin(), pay_per_run_cents=400, pay_per_km_cents=50, pay_per_stop_cents=100,
                          offer_timeout_minutes=30, max_code_attempts=5, goods_at_pickup_place=True)
    distribution, [courier], [order] = delivery_scene()
    [run_id] = dispatch.plan_for_order(order.id)
    db.session.commit()
    login(client, courier)
    page = client.get(f"/courier/runs/{run_id}").data.decode()
    assert f"Pick up at {distribution.pickup_place.name}" in page
    assert "Ferme A — 1 × Carrots" in page and "Ferme B — 1 × Eggs" in page


# ---------------------------------------------------------------- refusals are shown, not a bare redirect page

def test_a_slot_with_a_run_in_it_is_not_removed_and_the_courier_is_told_why(client):
    _, couriers, order, run = _scene_with_offer(n_couriers=1)
    courier = run.offered_to
    dispatch.accept_run(courier, run.id)
    db.session.commit()
    login(client, courier)
    back, errors = refused(client, f"/courier/availability/{run.availability_id}/delete")
    assert back == "/courier/availability"
    assert errors == ["A run is planned in this availability: decline it or ask the dispatcher first."]
    assert db.session.get(AvailabilitySlot, run.availability_id) is not None


def test_declining_a_run_offered_to_someone_else_is_an_error_page_with_the_reason(client):
    _, couriers, order, run = _scene_with_offer()
    other = next(c for c in couriers if c.id != run.offered_to_id)
    login(client, other)
    response = client.post(f"/courier/runs/{run.id}/decline")
    page = response.get_data(as_text=True)
    assert response.status_code == 403 and "This run is not offered to you." in page
    assert 'href="/courier"' in page  # the way back to their day
    db.session.expire_all()
    assert db.session.get(Run, run.id).offered_to_id != other.id


def test_a_json_caller_gets_the_refusal_as_json_with_its_status(client):
    _, couriers, order, run = _scene_with_offer()
    dispatch.accept_run(run.offered_to, run.id)
    db.session.commit()
    login(client, next(c for c in couriers if c.id != run.courier_id))
    response = client.post(f"/courier/runs/{run.id}/accept", headers={"Accept": "application/json"})
    assert response.status_code == 409
    assert response.get_json() == {"error": "Too late: this run has been taken or the offer has expired."}


def test_board_refusals_are_flashed_on_the_board_the_dispatcher_was_on(client):
    distribution, couriers, order, run = _scene_with_offer()
    board = f"/admin/dispatch?day={run.starts_at.date().isoformat()}"
    login(client, couriers[0])
    assert client.post(f"/admin/dispatch/runs/{run.id}/split").status_code == 403  # the admin first, then input
    assert client.post(f"/admin/dispatch/runs/{run.id}/reassign").status_code == 403
    client.post("/logout")
    login(client, get_admin())
    back, errors = refused(client, f"/admin/dispatch/runs/{run.id}/split", {"next": board})
    assert back == board and errors == ["Choose orders of this run to move."]
    back, errors = refused(client, f"/admin/dispatch/runs/{run.id}/reassign", {"next": board, "courier_id": "x"})
    assert back == board and errors == ["courier_id must be a whole number."]
    job = db.session.query(DeliveryJob).filter_by(order_id=order.id).one()
    before = (job.latitude, job.longitude)
    back, errors = refused(client, f"/admin/dispatch/jobs/{job.id}/coordinates",
                           {"next": board, "latitude": "47,2", "longitude": "-1.5"})
    assert back == board and errors == ["Latitude and longitude must be numbers."]
    back, errors = refused(client, "/admin/dispatch/replan", {"next": board, "plan_key": "slot:abc"})
    assert back == board and errors == ["plan_key must be a whole number."]
    back, errors = refused(client, "/admin/dispatch/postcodes", {"next": "//evil.example/x"})
    assert back == "/admin/dispatch" and errors == ["The CSV holds no postcode."]  # never off the site
    db.session.expire_all()
    assert db.session.query(Run).count() == 1 and db.session.get(Run, run.id).offered_to_id == run.offered_to_id
    assert (db.session.get(DeliveryJob, job.id).latitude, db.session.get(DeliveryJob, job.id).longitude) == before
