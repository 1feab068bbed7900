"""The audit rows of a transaction follow its savepoints: a savepoint rolled back takes only its own changes' rows
with it, one released keeps them, and the whole transaction rolled back leaves none (SQLite and PostgreSQL)."""
from __future__ import annotations

import pytest

from marketplace.audit.models import AuditEntry
from marketplace.core.models import Setting
from marketplace.distributions.models import PickupPlace
from marketplace.extensions import db


def _setting(key: str, value: str) -> None:
    row = db.session.get(Setting, key)
    if row is None:
        db.session.add(Setting(key=key, value=value))
    else:
        row.value = value
    db.session.flush()


def _logged(action: str = "setting.updated") -> dict[str, tuple[dict, dict]]:
    """The settings' audit entries of this action: key -> (before, after); one entry per key at most."""
    entries = db.session.query(AuditEntry).filter_by(action=action).order_by(AuditEntry.id).all()
    logged = {entry.subject_id: (entry.before, entry.after) for entry in entries}
    assert len(logged) == len(entries), "one entry per setting and transaction"
    return logged


@pytest.fixture
def settings_a_b(any_app):
    """Settings 'a' and 'b' committed as '0'."""
    _setting("a", "0")
    _setting("b", "0")
    db.session.commit()
    assert set(_logged("setting.created")) == {"a", "b"}
    return any_app


@pytest.mark.parametrize("changed_inside", ["b", "a"], ids=["another object", "the same object"])
def test_a_rolled_back_savepoint_keeps_the_rows_noted_before_it_and_drops_its_own(settings_a_b, changed_inside):
    _setting("a", "1")
    savepoint = db.session.begin_nested()
    _setting(changed_inside, "2")
    savepoint.rollback()
    db.session.commit()
    assert (db.session.get(Setting, "a").value, db.session.get(Setting, "b").value) == ("1", "0")
    # The same object: its row shows the change that persisted, not the one undone with the savepoint.
    assert _logged() == {"a": ({"value": "0"}, {"value": "1"})}


def test_a_savepoint_that_fails_inside_a_with_block_drops_only_its_rows(settings_a_b):
    _setting("a", "1")
    with pytest.raises(RuntimeError):
        with db.session.begin_nested():
            _setting("b", "1")
            db.session.add(Setting(key="c", value="new"))
            db.session.flush()
            raise RuntimeError("the receiver failed")
    db.session.commit()
    assert _logged() == {"a": ({"value": "0"}, {"value": "1"})}


def test_a_released_savepoint_keeps_both_in_one_row_per_object_written_at_the_commit(settings_a_b):
    _setting("a", "1")
    with db.session.begin_nested():
        _setting("b", "1")
        _setting("a", "2")
        db.session.add(Setting(key="c", value="new"))
    _setting("b", "2")  # after the savepoint, in the same transaction: still one row for b
    db.session.commit()
    assert _logged() == {"a": ({"value": "0"}, {"value": "2"}), "b": ({"value": "0"}, {"value": "2"})}
    assert _logged("setting.created")["c"] == ({}, {"value": "new"})


def test_nested_savepoints_each_keep_or_drop_their_own_rows(settings_a_b):
    _setting("a", "1")
    outer = db.session.begin_nested()
    _setting("b", "1")
    inner = db.session.begin_nested()
    _setting("c", "inner, rolled back")
    inner.rollback()
    inner = db.session.begin_nested()
    _setting("d", "inner, released")
    with db.session.begin_nested():  # a third level, released into the second
        _setting("e", "innermost, released")
    inner.commit()
    outer.commit()
    dropped = db.session.begin_nested()
    _setting("f", "rolled back with everything inside it")
    with db.session.begin_nested():
        _setting("g", "released into a savepoint rolled back after")
    dropped.rollback()
    db.session.commit()
    assert _logged() == {"a": ({"value": "0"}, {"value": "1"}), "b": ({"value": "0"}, {"value": "1"})}
    assert {key: after for key, (_before, after) in _logged("setting.created").items()} == {
        "a": {"value": "0"}, "b": {"value": "0"}, "d": {"value": "inner, released"},
        "e": {"value": "innermost, released"}}


def test_the_whole_transaction_rolled_back_or_closed_leaves_no_row(settings_a_b):
    _setting("a", "1")
    with db.session.begin_nested():
        _setting("b", "1")
    savepoint = db.session.begin_nested()
    _setting("c", "x")
    savepoint.rollback()
    db.session.rollback()
    db.session.commit()  # the next transaction writes nothing left over from the one rolled back
    _setting("a", "2")
    db.session.close()  # a session closed without committing rolls its transaction back too
    db.session.commit()
    assert db.session.get(Setting, "a").value == "0"
    assert _logged() == {}
    assert set(_logged("setting.created")) == {"a", "b"}


def test_other_fields_changed_inside_a_rolled_back_savepoint_are_not_in_the_row(any_app):
    place = PickupPlace(name="Halle", address="1 rue du Marché", postcode="44000", town="Nantes")
    db.session.add(place)
    db.session.commit()
    place = db.session.get(PickupPlace, place.id)  # loaded, as a request loads it
    place.name = "Halle aux grains"
    db.session.flush()
    savepoint = db.session.begin_nested()
    place.town = "Rezé"
    place.name = "Halle de Rezé"
    db.session.flush()
    savepoint.rollback()
    db.session.commit()
    [entry] = db.session.query(AuditEntry).filter_by(subject_type="pickup_places", action="pickup_place.updated").all()
    assert entry.before == {"name": "Halle"} and entry.after == {"name": "Halle aux grains"}


def test_an_erasure_inside_savepoints_redacts_the_waiting_entries_of_every_level(settings_a_b):
    from marketplace.privacy import scrub

    _setting("a", "Call Marie Buyer")
    with db.session.begin_nested():
        _setting("b", "Marie Buyer again")
        undone = db.session.begin_nested()
        _setting("c", "Marie Buyer, undone")
        scrub.redact_pending_audit(["Marie Buyer"])  # what an erasure does before the commit writes the entries
        undone.rollback()
    db.session.commit()
    assert _logged() == {"a": ({"value": "0"}, {"value": "Call […]"}),
                         "b": ({"value": "0"}, {"value": "[…] again"})}
    assert db.session.query(AuditEntry).filter_by(subject_id="c").count() == 0
