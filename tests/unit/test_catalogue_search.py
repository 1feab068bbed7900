"""Catalogue search: accents, case and plurals do not matter; name matches come first; one statement per page."""
from __future__ import annotations

import pytest

from marketplace.catalog import search
from marketplace.catalog.services import ProductInput, catalogue_page, update_product
from marketplace.extensions import db
from tests.factories import category, make_producer, make_product
from tests.unit.test_catalogue_querycount import counting


@pytest.mark.parametrize("text, folded", [
    ("Pommes", "pomme"), ("Pêche", "peche"), ("Œufs frais", "oeuf frais"), ("CHOUX-fleurs", "chou fleur"), ("Gâteaux", "gateau"),
    ("Noix", "noix"), ("Jus de pommes", "jus de pomme"), ("Crème fraîche", "creme fraiche"),
])
def test_fold_drops_case_accents_ligatures_and_plurals(text, folded):
    assert search.fold(text) == folded


def _names(page) -> list[str]:
    return [p.name for p in page.items]


@pytest.fixture
def shelf(app):
    farm = make_producer("farm@test.coop", "Ferme du Verger")
    other = make_producer("other@test.coop", "La Pommeraie")
    make_product(farm, "Pommes Reinette")
    make_product(farm, "Pêche de vigne")
    make_product(farm, "Œufs de plein air")
    make_product(other, "Cidre brut")
    make_product(farm, "Compote", )
    db.session.commit()
    return farm, other


@pytest.mark.parametrize("query, expected", [
    ("pomme", ["Pommes Reinette", "Cidre brut"]),  # the name first, then the producer "La Pommeraie"
    ("POMMES", ["Pommes Reinette", "Cidre brut"]),
    ("peche", ["Pêche de vigne"]),
    ("pêches", ["Pêche de vigne"]),
    ("oeuf", ["Œufs de plein air"]),
    ("œufs plein", ["Œufs de plein air"]),
    ("ferme verger", ["Compote", "Pommes Reinette", "Pêche de vigne", "Œufs de plein air"]),
    ("banane", []),
    ("50%_", []),
])
def test_search_finds_what_a_french_shopper_types(shelf, query, expected):
    assert _names(catalogue_page(1, 20, query)) == expected


def test_search_reads_its_page_and_total_in_one_statement(shelf):
    farm, _other = shelf
    for i in range(5):
        make_product(farm, f"Pommes n°{i}")
    db.session.commit()
    with counting() as statements:
        page = catalogue_page(2, 3, "pomme")
    assert page.total == 7 and page.pages == 3 and len(page.items) == 3
    assert len([s for s in statements if "FROM products" in s and "count" in s.lower()]) == 1
    assert not [s for s in statements if s.lstrip().upper().startswith("SELECT COUNT")]


def test_a_description_or_rename_is_searchable_at_once(shelf):
    farm, _other = shelf
    compote = make_product(farm, "Compote maison")
    db.session.commit()
    assert _names(catalogue_page(1, 20, "rhubarbe")) == []
    update_product(farm, compote.id, ProductInput(name="Compote maison", category_id=category().id,
                                                  unit=compote.unit, price_cents=400,
                                                  description="Rhubarbes du jardin"))
    db.session.commit()
    assert _names(catalogue_page(1, 20, "rhubarbe")) == ["Compote maison"]


def test_browsing_keeps_the_catalogue_order_and_counts_past_the_last_page(shelf):
    page = catalogue_page(1, 3)
    assert page.total == 5 and page.pages == 2
    assert _names(page) == ["Compote", "Pommes Reinette", "Pêche de vigne"]  # Ferme du Verger first
    assert _names(catalogue_page(2, 3)) == ["Œufs de plein air", "Cidre brut"]  # then La Pommeraie
    beyond = catalogue_page(9, 3)
    assert beyond.items == [] and beyond.total == 5


def test_the_count_of_a_filter_is_remembered_until_the_catalogue_changes(shelf):
    from marketplace.catalog import cache

    farm, _other = shelf
    with counting() as first:
        catalogue_page(1, 2, remember=cache.remembered)
    with counting() as second:
        page = catalogue_page(2, 2, remember=cache.remembered)
    assert [s for s in first if "count(" in s.lower()] and not [s for s in second if "count(" in s.lower()]
    assert page.total == 5 and len(page.items) == 2
    make_product(farm, "Rhubarbe")
    db.session.commit()  # a catalogue change: a new version, a new count
    assert catalogue_page(3, 2, remember=cache.remembered).total == 6
