"""Admins schedule one-off and weekly distributions through the console."""
from datetime import datetime

from marketplace.distributions.models import Distribution
from marketplace.extensions import db
from tests.factories import get_admin, login, make_member, make_producer
from marketplace.distributions.services import create_pickup_place


def _form(place_id, producer_ids, **overrides):
    data = {"title": "Thursday market", "pickup_place_id": place_id, "starts_at": "2030-03-07T16:00",
            "ends_at": "2030-03-07T19:00", "opens_at": "2030-03-01T08:00", "cutoff_at": "2030-03-05T22:00",
            "producer_ids": producer_ids, "home_delivery": "y", "slots": "17:00-18:00 12\n18:00-19:00 8",
            "repeat_weeks": "3"}
    data.update(overrides)
    return data


def test_weekly_series_with_delivery_slots(app, client):
    admin = get_admin()
    farm = make_producer("farm@test.coop")
    place = create_pickup_place(admin, name="Halles", address="Rue Talensac")
    db.session.commit()
    login(client, admin)
    response = client.post("/admin/distributions/new", data=_form(place.id, [farm.producer_profile.id]))
    assert response.status_code == 302
    series = db.session.query(Distribution).order_by(Distribution.starts_at).all()
    assert len(series) == 3
    assert series[0].series_key and len({d.series_key for d in series}) == 1
    # Times are entered in the coop's zone (Europe/Paris, UTC+1 in March) and stored in UTC.
    assert series[0].starts_at == datetime(2030, 3, 7, 15, 0)
    assert series[2].starts_at == datetime(2030, 3, 21, 15, 0)
    assert [(s.capacity, s.starts_at.hour) for s in series[1].slots] == [(12, 16), (8, 17)]
    assert series[0].producers[0].name == farm.producer_profile.name


def test_cutoff_after_pickup_is_refused_and_nothing_created(app, client):
    admin = get_admin()
    farm = make_producer("farm@test.coop")
    place = create_pickup_place(admin, name="Halles", address="Rue Talensac")
    db.session.commit()
    login(client, admin)
    response = client.post("/admin/distributions/new",
                           data=_form(place.id, [farm.producer_profile.id], cutoff_at="2030-03-08T10:00"))
    assert response.status_code == 400
    assert b"cut-off must come before the pickup" in response.data
    bad_slot = client.post("/admin/distributions/new", data=_form(place.id, [farm.producer_profile.id],
                                                                   slots="five to six"))
    assert bad_slot.status_code == 400 and b"Slot line 1" in bad_slot.data
    assert db.session.query(Distribution).count() == 0


def test_non_admin_cannot_schedule(app, client):
    member = make_member("m@test.coop")
    db.session.commit()
    login(client, member)
    assert client.get("/admin/distributions/new").status_code == 403
