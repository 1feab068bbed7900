"""A catalogue change stays noted through a savepoint rolled back after it: the outer commit bumps the version."""
from __future__ import annotations

from marketplace.catalog import cache
from marketplace.catalog.models import Product
from marketplace.extensions import db
from tests.factories import make_producer, make_product


def test_a_savepoint_rolled_back_after_a_product_change_leaves_the_change_to_bump_the_version(app):
    farm = make_producer("farm@test.coop", "Ferme du Marais")
    carrots = make_product(farm, "Carrots", price_cents=280, stock=40)
    db.session.commit()
    before = cache.version()
    db.session.get(Product, carrots.id).name = "Carottes nouvelles"
    db.session.flush()  # the change is noted
    savepoint = db.session.begin_nested()
    savepoint.rollback()  # something else tried and undone
    db.session.commit()
    assert cache.version() == before + 1
    db.session.get(Product, carrots.id).name = "Carottes"
    db.session.flush()
    db.session.rollback()  # the whole transaction undone: nothing to bump
    assert cache.version() == before + 1
