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


def test_cancelling_a_distribution_cancels_the_subscription_orders_made_for_it(amap):
    from marketplace.contracts import tasks
    from marketplace.orders.models import Order
    from marketplace.orders.states import PartStatus

    first = amap["season"][0]
    first.opens_at = first.opens_at.replace(year=2000)
    sub = services.subscribe(amap["member"], amap["contract"].id, accepted_version=1, means=PaymentMeans.CHEQUE)
    db.session.commit()
    tasks.create_due_orders()
    order = db.session.query(Order).filter_by(buyer_id=amap["member"].id).one()
    assert order.goods_estimated_cents == 1800
    cancel_distribution(get_admin(), first.id)
    db.session.commit()
    assert all(p.status == PartStatus.CANCELLED and p.cancel_reason == "distribution_cancelled" for p in order.parts)
    assert order.goods_estimated_cents == 0 and services.amount_cents(sub) == 3 * 1800


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


def test_a_contract_needs_its_producers_in_the_seasons_distributions_to_come(amap):
    from marketplace.core.errors import ServiceError

    verger = make_producer("verger@test.coop", "Verger des Landes")
    apples = make_product(verger, "Apples", price_cents=300, stock=None)
    with pytest.raises(ServiceError) as refused:  # the orchard brings nothing to the AMAP du Marais
        make_contract(get_admin(), amap["season"], [(amap["leeks"].variants[0].id, 1), (apples.variants[0].id, 1)])
    assert refused.value.field == "series_key" and "Verger des Landes" in refused.value.message
    for distribution in amap["season"][1:3]:  # taking part only in cancelled ones is not enough either
        distribution.producers.append(verger.producer_profile)
        cancel_distribution(get_admin(), distribution.id)
    with pytest.raises(ServiceError):
        make_contract(get_admin(), amap["season"], [(apples.variants[0].id, 1)])
    amap["season"][3].producers.append(verger.producer_profile)
    assert make_contract(get_admin(), amap["season"], [(apples.variants[0].id, 1)]).id


def test_a_refused_new_contract_shows_the_form_again_filled_in_with_the_reason(amap, client):
    from tests.factories import login

    verger = make_producer("verger@test.coop", "Verger des Landes")
    apples = make_product(verger, "Apples", price_cents=300, stock=None)
    db.session.commit()
    login(client, verger)
    form = {"title": "Panier de pommes", "series_key": amap["season"][0].series_key,
            "variant_0": str(apples.variants[0].id), "quantity_0": "3", "price": "12.40", "instalments": "4",
            "means": ["bank_transfer"], "allowed_absences": "1", "text": "Trois kilos de pommes par semaine."}
    response = client.post("/manage/contracts/new", data=form)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "take(s) part in none of this season" in page and "Verger des Landes" in page
    assert 'value="Panier de pommes"' in page and 'value="12.40"' in page and 'value="4"' in page
    assert "Trois kilos de pommes par semaine.</textarea>" in page
    assert f'<option value="{apples.variants[0].id}" selected>' in page
    assert 'value="bank_transfer" checked' in page and 'value="cheque" checked' not in page
    refused = client.post("/manage/contracts/new", data={**form, "price": "douze"})
    assert refused.status_code == 400 and "Enter the price of one delivery, e.g. 18.50." in refused.get_data(as_text=True)
    assert 'value="douze"' in refused.get_data(as_text=True)


def test_the_producer_stops_a_subscription_from_the_next_distribution_not_yet_made(amap, client):
    from marketplace.contracts import tasks
    from marketplace.contracts.models import SubscriptionStatus
    from marketplace.core.errors import ServiceError
    from marketplace.core.models import OutboundEmail
    from marketplace.orders.models import Order
    from tests.factories import login

    season, member = amap["season"], amap["member"]
    season[0].opens_at = season[1].opens_at = season[0].opens_at.replace(year=2000)  # two orders made already
    sub = services.subscribe(member, amap["contract"].id, accepted_version=1, means=PaymentMeans.CHEQUE)
    db.session.commit()
    tasks.create_due_orders()
    assert db.session.query(Order).filter_by(buyer_id=member.id).count() == 2
    other = make_producer("other@test.coop", "Autre Ferme")
    db.session.commit()
    with pytest.raises(ServiceError):  # not their contract
        services.stop_subscription(other, sub.id, "No")
    db.session.rollback()
    login(client, amap["ferme"])
    refused = client.post(f"/manage/subscriptions/{sub.id}/stop", data={"reason": " "}, follow_redirects=True)
    assert "Say why the subscription is stopped" in refused.get_data(as_text=True)
    client.post(f"/manage/subscriptions/{sub.id}/stop", data={"reason": "Moved to Rennes"})
    db.session.expire_all()
    sub = db.session.get(type(sub), sub.id)
    assert sub.status == SubscriptionStatus.STOPPED and sub.stop_reason == "Moved to Rennes"
    # The two orders made stay (and count); the two distributions to come are no delivery any more.
    assert [row.amount_cents for row in sub.instalment_rows] == [1200, 1200, 1200]
    assert services.amount_cents(sub) == 2 * 1800
    tasks.create_due_orders()
    season[2].opens_at = season[2].opens_at.replace(year=2000)
    db.session.commit()
    tasks.create_due_orders()
    orders = db.session.query(Order).filter_by(buyer_id=member.id).all()
    assert len(orders) == 2 and all(order.status == "placed" for order in orders)
    mail = db.session.query(OutboundEmail).filter(OutboundEmail.recipient == "member@test.coop",
                                                  OutboundEmail.subject.contains("stopped")).one()
    assert "Moved to Rennes" in mail.body and "the 2 order(s) already made stay" in mail.body
    page = client.get(f"/manage/contracts/{amap['contract'].id}").get_data(as_text=True)
    assert "Stopped: Moved to Rennes" in page
    login(client, member)
    assert "Stopped: Moved to Rennes" in client.get(f"/subscriptions/{sub.id}").get_data(as_text=True)
