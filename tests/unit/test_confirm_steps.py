"""Destructive actions are asked twice without JavaScript and say what happens (issue 16 item 5)."""
from __future__ import annotations

import lxml.html

from marketplace.dispatch import services as dispatch
from marketplace.dispatch.models import Run
from marketplace.extensions import db
from marketplace.orders import services
from marketplace.orders.services import CheckoutInput
from tests.dispatch_fixtures import delivery_scene
from tests.factories import login, make_distribution, make_member, make_producer, make_product


def _confirmed_button(page: str, action: str) -> tuple[str, str]:
    """The form posting to `action` must sit inside a closed <details> whose body explains the consequence."""
    doc = lxml.html.fromstring(page)
    [form] = doc.xpath(f"//form[@action='{action}']")
    details = form.xpath("ancestor::details[contains(@class, 'confirm')]")
    assert details, f"{action} is one click away"
    [step] = details
    assert step.get("open") is None
    explanation = " ".join(p.text_content() for p in step.xpath(".//p"))
    return step.xpath("summary")[0].text_content().strip(), explanation


def test_cancelling_an_order_and_rejecting_a_line_say_what_happens_first(app, client):
    farm = make_producer("farm@test.coop", "Ferme du Marais")
    carrots = make_product(farm, "Carrots")
    make_distribution([farm])
    buyer = make_member("marie@test.coop")
    services.add_to_cart(buyer, carrots.id, 2)
    order = services.checkout(buyer, CheckoutInput())
    db.session.commit()
    login(client, buyer)
    label, why = _confirmed_button(client.get(f"/orders/{order.id}").get_data(as_text=True),
                                   f"/orders/{order.id}/cancel")
    assert label == "Cancel my order…" and "cannot be undone" in why
    client.post("/logout")
    login(client, farm)
    line = order.parts[0].lines[0]
    label, why = _confirmed_button(client.get("/producer/orders").get_data(as_text=True),
                                   f"/producer/lines/{line.id}/reject")
    assert label == "Cannot supply…" and "pays nothing for this line" in why


def test_declining_a_run_and_erasing_my_data_say_what_happens_first(app, client):
    _, couriers, [order] = delivery_scene(n_couriers=1)
    [run_id] = dispatch.plan_for_order(order.id)
    db.session.commit()
    courier = db.session.get(Run, run_id).offered_to
    login(client, courier)
    label, why = _confirmed_button(client.get("/courier").get_data(as_text=True), f"/courier/runs/{run_id}/decline")
    assert label == "Decline…" and "next suitable courier" in why
    label, why = _confirmed_button(client.get("/me/data/").get_data(as_text=True), "/me/data/erase")
    assert label == "Erase my account…"
