"""Running the coop in Chromium: an admin approves a member and settles a dispute; a member takes their data and leaves."""
from __future__ import annotations

import json
import zipfile

import pytest

from marketplace.accounts import services as accounts
from marketplace.audit.models import AuditEntry
from marketplace.disputes.models import Dispute, DisputeStatus
from marketplace.extensions import db
from marketplace.members.models import Membership, MembershipStatus, User
from marketplace.orders.models import Order
from tests.admin_fixtures import coop  # noqa: F401
from tests.e2e.pages import log_in
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


def _page(browser, **context):
    return browser.new_context(locale="en-GB", **context).new_page()


def test_admin_approves_a_member_and_refunds_a_reported_problem(app, coop, live_server, browser):
    admin = _page(browser)
    log_in(admin, live_server, "admin@test.coop")
    admin.goto(f"{live_server}/admin/members?status=pending")
    row = admin.locator("[data-testid='member-pending@test.coop']")
    assert "Pat Pending" in row.inner_text()
    row.locator("button:has-text('Approve')").click()
    assert "Membership approved" in admin.inner_text("main")
    assert admin.locator("[data-testid='member-pending@test.coop']").count() == 0  # left the queue

    # The buyer reports damaged carrots on her collected (pay-at-pickup) order.
    order = coop["done_order"]
    buyer = _page(browser)
    log_in(buyer, live_server, "marie@test.coop")
    buyer.goto(f"{live_server}/orders/{order.id}")
    buyer.locator("tr", has_text="Carrots").locator("a:has-text('Report a problem')").click()
    buyer.check("input[name=reason][value=damaged]")
    buyer.fill("textarea[name=note]", "Half of the carrots were mouldy")
    buyer.click("main form button[type=submit]")
    assert "Reported" in buyer.inner_text("main")
    assert "open" in buyer.inner_text("h1")

    admin.goto(f"{live_server}/disputes/admin")
    admin.locator("tr", has_text="Carrots").locator(f"a:has-text('{order.reference}')").click()
    assert "Half of the carrots were mouldy" in admin.inner_text("[data-testid=dispute-timeline]")
    form = admin.locator("[data-testid=resolve-form]")
    form.locator("select[name=outcome]").select_option("refunded")
    form.locator("input[name=amount]").fill("5.60")
    form.locator("textarea[name=note]").fill("Damaged goods, refunded in full")
    form.locator("button[type=submit]").click()
    main = admin.inner_text("main")
    assert "Decision recorded" in main
    # Paid at the pickup: the refund goes back the same way, as a credit.
    assert "credited" in admin.inner_text("h1") and "€5.60" in main
    assert admin.locator("[data-testid=resolve-form]").count() == 0

    buyer.goto(f"{live_server}/disputes/")
    row = buyer.locator("tr", has_text="Carrots")
    assert "credited" in row.inner_text() and "€5.60" in row.inner_text()

    db.session.expire_all()
    pending = db.session.query(User).filter_by(email="pending@test.coop").one()
    assert db.session.get(Membership, pending.membership.id).status == MembershipStatus.ACTIVE
    dispute = db.session.query(Dispute).one()
    assert dispute.status == DisputeStatus.CREDITED and dispute.amount_cents == 560
    assert dispute.resolved_by_id == coop["admin"].id
    assert [e.kind for e in dispute.events] == ["opened", "credited"]
    assert accounts.balance_cents(coop["buyer"].id) == 560
    assert db.session.query(AuditEntry).filter_by(action="dispute.credited").count() == 1


def test_member_downloads_their_data_then_erases_the_account(app, coop, live_server, browser, tmp_path):
    buyer_id, order = coop["buyer"].id, coop["done_order"]
    page = _page(browser, accept_downloads=True)
    log_in(page, live_server, "marie@test.coop")
    page.goto(f"{live_server}/me/data/")
    with page.expect_download() as info:
        page.click("[data-testid=download-data]")
    download = info.value
    assert download.suggested_filename == f"my-data-{buyer_id}.zip"
    path = tmp_path / "my-data.zip"
    download.save_as(path)
    with zipfile.ZipFile(path) as archive:
        document = json.loads(archive.read("data.json"))
    tables = document["tables"]
    assert document["user_id"] == buyer_id and tables["users"][0]["email"] == "marie@test.coop"
    assert [o["reference"] for o in tables["orders"]] == [order.reference]
    assert sorted(line["product_name"] for line in tables["order_lines"]) == ["Carrots", "Goat cheese"]

    page.click("[data-testid=confirm-erase] summary")  # the erasure is asked twice, without JavaScript
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=confirmation]", "ERASE")
    page.click("[data-testid=erase-account]")
    assert "Your account is erased" in page.inner_text("main")

    log_in(page, live_server, "marie@test.coop")
    assert "Wrong e-mail or password" in page.inner_text("main")
    page.goto(f"{live_server}/me/data/")
    assert "/login" in page.url  # no session: the data page asks to log in

    db.session.expire_all()
    user = db.session.get(User, buyer_id)
    assert user.login_disabled and user.email == f"erased-{buyer_id}@invalid" and user.phone == ""
    kept = db.session.get(Order, order.id)
    assert kept.buyer_id == buyer_id and kept.total_due_cents == order.total_due_cents
