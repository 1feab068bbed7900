"""Dispatch pages: the courier's (mobile-first) pages, hostile requests, the dispatcher's board."""
from __future__ import annotations

from marketplace.dispatch import services as dispatch
from marketplace.dispatch.models import AvailabilitySlot, CourierProfile, Run, StopStatus
from marketplace.extensions import db
from tests.dispatch_fixtures import delivery_scene
from tests.factories import get_admin, login


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
    response = client.post(f"/courier/stops/{run.stops[-1].id}/delivered", data={"code": wrong})
    assert response.status_code == 400
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
    assert client.post(f"/courier/runs/{run.id}/accept").status_code in (403, 409)
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
