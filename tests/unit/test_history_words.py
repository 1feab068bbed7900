"""Order history and the payments ledger store codes and cents; each reader sees them in their own language."""
from __future__ import annotations

import pytest
from flask_babel import refresh

from marketplace.extensions import db
from marketplace.members.models import College
from marketplace.orders import services
from marketplace.orders.services import CheckoutInput
from marketplace.payments.models import LedgerEntry, LedgerKind
from tests.factories import get_admin, login, make_distribution, make_member, make_producer, make_product


@pytest.fixture
def collected_order(app):
    ferme = make_producer("ferme@test.coop", "Ferme du Marais")
    carrots = make_product(ferme, "Carottes", price_cents=1250, stock=10)
    make_distribution([ferme])
    buyer = make_member("amy@test.coop", College.BUYER, locale="en")
    services.add_to_cart(buyer, carrots.id, 2)
    order = services.checkout(buyer, CheckoutInput())
    part = order.parts[0]
    services.accept_part(ferme, part.id)
    services.mark_ready(ferme, part.id)
    services.mark_collected(get_admin(), order.id)
    db.session.commit()
    return order


def test_history_shows_words_and_amounts_in_the_readers_language(client, collected_order):
    event = next(e for e in collected_order.events if e.kind == "paid_at_pickup")
    assert (event.amount_cents, event.detail) == (2500, "")  # stored as cents, not as someone's formatting
    login(client, "amy@test.coop")
    english = client.get(f"/orders/{collected_order.id}").get_data(as_text=True)
    assert "paid at pickup — €25.00" in english and "paid_at_pickup" not in english
    collected_order.buyer.locale = "fr"
    db.session.commit()
    refresh()  # the test's app context outlives a request: forget the locale the last one chose
    french = client.get(f"/orders/{collected_order.id}").get_data(as_text=True)
    assert "— 25,00\u00a0€" in french and "€25.00" not in french


def test_cancelled_by_the_buyer_is_a_code_worded_for_the_reader(app, client):
    ferme = make_producer("ferme@test.coop", "Ferme du Marais")
    carrots = make_product(ferme, "Carottes", price_cents=300, stock=10)
    make_distribution([ferme])
    buyer = make_member("amy@test.coop", College.BUYER, locale="en")
    services.add_to_cart(buyer, carrots.id, 1)
    order = services.checkout(buyer, CheckoutInput())
    services.cancel_order(buyer, order.id)
    db.session.commit()
    assert order.parts[0].cancel_reason == "cancelled_by_buyer"
    login(client, "amy@test.coop")
    page = client.get(f"/orders/{order.id}").get_data(as_text=True)
    assert "Cancelled by the buyer." in page and "cancelled_by_buyer" not in page


def test_ledger_shows_its_kinds_in_words(app, client):
    db.session.add(LedgerEntry(kind=LedgerKind.WITHHOLDING_RELEASED, amount_cents=120, reference="w:1"))
    db.session.commit()
    login(client, get_admin().email)
    page = client.get("/payments/admin/ledger").get_data(as_text=True)
    assert "Withheld fees given back" in page and "withholding_released" not in page


def test_pickup_sheet_and_packing_list_in_the_readers_language_without_seconds(app, collected_order):
    from flask_babel import force_locale

    from marketplace.orders import documents

    distribution_id = collected_order.distribution_id
    producer_id = collected_order.parts[0].producer_id
    with app.test_request_context():
        with force_locale("en"):
            english = documents.pickup_sheet(distribution_id)
            packing = documents.packing_list(distribution_id, producer_id)
        with force_locale("fr"):
            french = documents.pickup_sheet(distribution_id)
    assert english.headers[-2:] == ["To pay / to hand back", "Signature"] and packing.headers[0] == "Product"
    assert french.headers[0] != "Buyer"  # the French catalogue's words
    assert english.rows[0][3] == "Nothing to pay (already paid)" and french.rows[0][3] == "Rien à payer (déjà payée)"
    for subtitle in (english.subtitle, french.subtitle, packing.subtitle):
        time_part = subtitle.rsplit(", ", 1)[-1]
        assert len(time_part) == 5 and time_part[2] == ":", subtitle  # HH:mm, no seconds


def test_payment_alerts_are_stored_as_values_and_worded_for_each_admin(app, client):
    from flask_babel import force_locale
    from flask_babel import gettext as _

    from marketplace.core.models import OutboundEmail
    from marketplace.members.services import register
    from marketplace.payments import emails
    from marketplace.payments.common import raise_alert

    english = get_admin()
    french = register("admin.fr@test.coop", "correct horse battery", "Admin Fr", confirmed=True)
    french.is_admin, french.locale = True, "fr"
    alert = raise_alert(emails.refund_pending, key="refund-pending:1", ref="C-0042", amount_cents=450)
    db.session.commit()
    assert alert.template == "payments.refund_pending" and '"amount_cents": 450' in alert.values_json
    with force_locale("fr"):
        french_subject = _("A refund has been pending for days")
    assert french_subject != "A refund has been pending for days"
    subjects = dict(db.session.query(OutboundEmail.recipient, OutboundEmail.subject))
    assert subjects[english.email] == "A refund has been pending for days"
    assert subjects[french.email] == french_subject
    login(client, "admin.fr@test.coop")
    refresh()
    page = client.get("/payments/admin/attention").get_data(as_text=True)
    assert french_subject in page and "4,50\u00a0€" in page and "€4.50" not in page


def test_why_a_payout_waits_is_a_code_worded_for_the_reader(app):
    from flask_babel import force_locale

    from marketplace.payments.labels import error_text

    with force_locale("en"):
        assert error_text("waits_for_chargeback") == "Waits for the chargeback on this payment to close."
        assert error_text("refund_returned:expired_or_canceled_card") == \
            "The card network returned the refund (expired_or_canceled_card)."
        assert error_text("Your card was declined.") == "Your card was declined."  # Stripe's words, as they came
    with force_locale("fr"):
        assert error_text("waits_for_chargeback") not in ("waits_for_chargeback",
                                                          "Waits for the chargeback on this payment to close.")
