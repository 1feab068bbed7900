"""Contracts around their season: a cancelled distribution, producers who must take part, stopping a
subscription, and the new-contract form that keeps what was typed."""
from __future__ import annotations

import pytest

from marketplace.contracts import services
from marketplace.contracts.models import Instalment, PaymentMeans
from marketplace.core.errors import Conflict, NotAllowed
from marketplace.distributions.services import cancel_distribution
from marketplace.extensions import db
from tests.contracts_fixtures import make_contract, make_season
from tests.factories import get_admin, make_member, make_producer, make_product


@pytest.fixture
def amap(app):
    ferme = make_producer("ferme@test.coop", "Ferme du Marais")
    leeks = make_product(ferme, "Leeks", price_cents=250, stock=None)
    season = make_season([ferme], weeks=4, opens_in_hours=2)
    contract = make_contract(ferme, season, [(leeks.variants[0].id, 2)], price_cents=1800, instalments=3)
    member = make_member("member@test.coop")
    db.session.commit()
    return dict(ferme=ferme, leeks=leeks, season=season, contract=contract, member=member)


def _stored_schedule(subscription_id: int) -> list[tuple[int, int | None]]:
    rows = db.session.query(Instalment).filter_by(subscription_id=subscription_id).order_by(Instalment.number)
    return [(row.amount_cents, row.paid_cents) for row in rows]


def test_cancelling_a_distribution_recomputes_the_series_schedules_at_once(amap):
    sub = services.subscribe(amap["member"], amap["contract"].id, accepted_version=1, means=PaymentMeans.CHEQUE)
    services.record_instalment(get_admin(), sub.id, PaymentMeans.CHEQUE)
    db.session.commit()
    assert _stored_schedule(sub.id) == [(2400, 2400), (2400, None), (2400, None)]
    cancel_distribution(get_admin(), amap["season"][3].id)
    db.session.commit()
    db.session.expire_all()
    # Three deliveries left (5400): the stored instalments still to pay shrink now, not at the next change.
    assert _stored_schedule(sub.id) == [(2400, 2400), (1500, None), (1500, None)]


def test_only_an_admin_cancels_a_distribution(amap):
    with pytest.raises(NotAllowed):
        cancel_distribution(amap["member"], amap["season"][3].id)


def test_the_admin_cancels_a_distribution_from_its_page_after_confirming(amap, client):
    from tests.factories import login

    sub = services.subscribe(amap["member"], amap["contract"].id, accepted_version=1, means=PaymentMeans.CHEQUE)
    db.session.commit()
    login(client, get_admin())
    last = amap["season"][3]
    page = client.get(f"/admin/distributions/{last.id}").get_data(as_text=True)
    assert "Cancel the distribution" in page
    refused = client.post(f"/admin/distributions/{last.id}/cancel", follow_redirects=True)
    assert "Tick the box to confirm the cancellation." in refused.get_data(as_text=True)
    client.post(f"/admin/distributions/{last.id}/cancel", data={"confirm": "yes"})
    db.session.expire_all()
    assert db.session.get(type(last), last.id).cancelled_at is not None
    assert [amount for amount, _paid in _stored_schedule(sub.id)] == [1800, 1800, 1800]
