"""An audit entry's "before" is the value a watched field had, even when SQLAlchemy had forgotten it: every commit
expires the loaded objects, and so does a savepoint's rollback for those changed inside it (SQLite and PostgreSQL).
Only the watched fields pay for it: changing another field of an expired object reads nothing."""
from __future__ import annotations

from marketplace.audit.models import AuditEntry
from marketplace.catalog.models import Product
from marketplace.distributions.models import PickupPlace
from marketplace.extensions import db
from tests.factories import make_producer, make_product
from tests.unit.test_catalogue_querycount import counting


def _place(name: str = "Halle") -> PickupPlace:
    place = PickupPlace(name=name, address="1 rue du Marché", postcode="44000", town="Nantes")
    db.session.add(place)
    return place


def _updates() -> list[tuple[dict, dict]]:
    """The pickup places' update entries, oldest first: (before, after)."""
    entries = (db.session.query(AuditEntry).filter_by(action="pickup_place.updated").order_by(AuditEntry.id).all())
    return [(entry.before, entry.after) for entry in entries]


def test_a_change_after_a_commit_records_the_value_before_it(any_app):
    place = _place()
    db.session.commit()  # the place is expired: its name is no longer loaded
    place.name = "Halle aux grains"
    db.session.commit()
    place.name = "Halle de Rezé"  # a request or task that commits, then changes the object again
    db.session.commit()
    assert _updates() == [({"name": "Halle"}, {"name": "Halle aux grains"}),
                          ({"name": "Halle aux grains"}, {"name": "Halle de Rezé"})]


def test_a_task_committing_in_a_loop_records_the_value_before_each_change(any_app):
    for index in range(3):
        _place(f"Halle {index}")
    db.session.commit()
    places = db.session.query(PickupPlace).order_by(PickupPlace.id).all()  # the batch, loaded once
    for place in places:
        place.active = False
        db.session.commit()  # expires the rest of the batch
    assert _updates() == [({"active": True}, {"active": False})] * 3


def test_a_change_after_a_savepoint_rolled_back_records_the_value_before_it(any_app):
    place = _place()
    db.session.commit()
    place = db.session.get(PickupPlace, place.id)  # loaded, as a request loads it
    savepoint = db.session.begin_nested()
    place.name = "Undone"
    db.session.flush()
    savepoint.rollback()  # expires the place: its name was changed inside the savepoint
    place.name = "Halle aux grains"
    db.session.commit()
    assert _updates() == [({"name": "Halle"}, {"name": "Halle aux grains"})]


def test_a_watched_field_set_to_the_value_it_had_is_no_change(any_app):
    place = _place()
    db.session.commit()
    place.name = "Halle"
    db.session.commit()
    assert _updates() == []


def _kinds(statements: list[str]) -> list[str]:
    return [statement.split()[0] for statement in statements]


def test_only_the_watched_fields_of_an_expired_object_read_their_old_value(any_app):
    place = _place()
    product = make_product(make_producer("farm@test.coop", "Farm"), "Leeks")
    db.session.commit()
    with counting() as statements:
        place.notes = "Back door"  # not watched
        product.name = "Young leeks"  # a model that is not watched at all
    assert statements == []
    db.session.commit()
    with counting() as at_change:
        place.name = "Halle aux grains"  # watched: one read of the row's expired fields
        place.town = "Rezé"  # watched, loaded by that read
    with counting() as at_commit:
        db.session.commit()
    assert _kinds(at_change) == ["SELECT"]
    # The read moved rather than added: updating an expired row, SQLAlchemy reads it back first anyway.
    assert _kinds(at_change + at_commit) == ["SELECT", "UPDATE", "INSERT"]
    assert _updates() == [({"name": "Halle", "town": "Nantes"}, {"name": "Halle aux grains", "town": "Rezé"})]
    assert (db.session.get(PickupPlace, place.id).notes, db.session.get(Product, product.id).name) == (
        "Back door", "Young leeks")
