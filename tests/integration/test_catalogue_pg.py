"""The catalogue on the real PostgreSQL: French search served by the trigram index, the order by its index."""
import pytest
from sqlalchemy import insert, text

from marketplace.catalog import search
from marketplace.catalog.models import Product
from marketplace.catalog.services import browse_query, catalogue_page
from marketplace.extensions import db
from tests.factories import make_distribution, make_producer, make_product

pytestmark = pytest.mark.integration


@pytest.fixture
def shelf(pg_app):
    farm = make_producer("farm@test.coop", "Ferme du Verger")
    for name in ("Pommes Reinette", "Pêche de vigne", "Œufs de plein air", "Cidre brut"):
        make_product(farm, name)
    make_distribution([farm])
    db.session.commit()
    return farm


@pytest.mark.parametrize("query, expected", [
    ("pomme", {"Pommes Reinette"}), ("peche", {"Pêche de vigne"}), ("OEUF", {"Œufs de plein air"}),
    ("verger", {"Pommes Reinette", "Pêche de vigne", "Œufs de plein air", "Cidre brut"}), ("kiwi", set()),
])
def test_search_on_postgresql(shelf, query, expected):
    page = catalogue_page(1, 20, query)
    assert {p.name for p in page.items} == expected and page.total == len(expected)


def _plan(statement, *settings: str) -> str:
    compiled = statement.compile(dialect=db.engine.dialect)
    with db.engine.connect() as conn:
        for setting in settings:
            conn.exec_driver_sql(setting)
        return "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params))


def test_search_and_the_catalogue_order_are_served_by_indexes(shelf):
    """3,000 products: the search can read the trigram index, a page is read in the order index's order."""
    farm = shelf.producer_profile
    rows = [{"producer_id": farm.id, "category_id": 1, "name": f"Carottes n°{i}", "description": "",
             "unit": "piece", "price_cents": 250, "vat_rate_bp": 550, "is_weight_priced": False, "status": "active",
             "producer_name": farm.name, "search_text": search.search_text(f"Carottes n°{i}", farm.name, "")}
            for i in range(3000)]
    db.session.execute(insert(Product.__table__), rows)
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE products"))  # as autovacuum would: stats, GIN pending list merged
    assert "ix_products_search_text" in _plan(browse_query("pomme").limit(24))
    plan = _plan(browse_query().limit(24))
    assert "ix_products_catalogue_order" in plan and "Sort" not in plan  # read in index order, no sort
