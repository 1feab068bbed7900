"""Every route x every role -> the expected status, from the app's URL map.

A route missing from EXPECTED fails the test: whoever adds a route states who may use it.
Codes: 'ok' = 2xx or a redirect that is not to the login page; 'login' = redirect to the login
page; 'refused' = a 303 back to a page with the reason flashed as an error: an action button whose
service (or input) said no, answered by the POST boundary (web.perform), where it used to be a
400/409 page; 403/404/400/405/401/409 = that status (authorization refusals stay 403/404 pages).
GET is used when the route has it, else POST with no data.
"""
from __future__ import annotations

import pytest
from flask import message_flashed

from marketplace.extensions import db
from marketplace.contracts import services as contract_services
from marketplace.contracts.models import PaymentMeans
from tests.admin_fixtures import build_coop
from tests.contracts_fixtures import make_contract, make_season
from tests.factories import login

ROLES = ("anonymous", "pending", "buyer", "producer", "courier", "admin")

def R(anonymous, pending, buyer, producer, courier, admin) -> dict:
    return dict(zip(ROLES, (anonymous, pending, buyer, producer, courier, admin)))


# Columns: anonymous, pending, buyer, producer, courier, admin. Roles run in this order and routes
# in endpoint order, so an earlier POST may change what a later request finds (e.g. the producer
# archives Carrots before asking for its page: 404). 'refused' (or 400/409) for an allowed role means
# the request reached the service or its input check (no form data sent) rather than being refused
# for the role. Admin-only actions check the role before the input (dispatch.reassign, dispatch.replan).
EXPECTED: dict[str, dict] = {
    "accounts.adjust": R('login', 403, 403, 403, 403, 400),
    "accounts.ask_payback": R('login', 'refused', 'refused', 'refused', 'refused', 'refused'),
    "accounts.member": R('login', 403, 403, 403, 403, 'ok'),
    "accounts.mine": R('login', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "accounts.payback": R('login', 403, 403, 403, 403, 400),
    "accounts.top_up": R('login', 403, 403, 403, 403, 400),
    "accounts.treasury": R('login', 403, 403, 403, 403, 'ok'),
    "admin.approve": R('login', 403, 403, 403, 403, 'ok'),
    "admin.background": R('login', 403, 403, 403, 403, 'ok'),
    "admin.change_status": R('login', 403, 403, 403, 403, 'refused'),
    "admin.cancel_distribution": R('login', 403, 403, 403, 403, 'refused'),
    "admin.close_distribution": R('login', 403, 403, 403, 403, 'refused'),
    "admin.distribution": R('login', 403, 403, 403, 403, 'ok'),
    "admin.distributions": R('login', 403, 403, 403, 403, 'ok'),
    "admin.drop_task": R('login', 403, 403, 403, 403, 404),
    "admin.emails": R('login', 403, 403, 403, 403, 'ok'),
    "admin.index": R('login', 403, 403, 403, 403, 'ok'),
    "admin.members": R('login', 403, 403, 403, 403, 'ok'),
    "admin.new_distribution": R('login', 403, 403, 403, 403, 'ok'),
    "admin.orders": R('login', 403, 403, 403, 403, 'ok'),
    "admin.places": R('login', 403, 403, 403, 403, 'ok'),
    "admin.reject": R('login', 403, 403, 403, 403, 'refused'),
    "admin.replay_task": R('login', 403, 403, 403, 403, 404),
    "admin.settings": R('login', 403, 403, 403, 403, 'ok'),
    "admin.zones": R('login', 403, 403, 403, 403, 'refused'),
    "api.create_product": R(401, 401, 401, 401, 401, 401),
    "api.new_token": R('login', 403, 403, 'refused', 403, 403),
    "api.offers": R(401, 401, 401, 401, 401, 401),
    "api.openapi": R('ok', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "api.order_parts": R(401, 401, 401, 401, 401, 401),
    "api.product": R(401, 401, 401, 401, 401, 401),
    "api.products": R(401, 401, 401, 401, 401, 401),
    "api.set_offers": R(401, 401, 401, 401, 401, 401),
    "api.revoke": R('login', 404, 404, 404, 404, 404),
    "api.set_stock": R(401, 401, 401, 401, 401, 401),
    "api.tokens": R('login', 403, 403, 'ok', 403, 403),
    "api.update_product": R(401, 401, 401, 401, 401, 401),
    "audit.export": R('login', 403, 403, 403, 403, 'ok'),
    "audit.index": R('login', 403, 403, 403, 403, 'ok'),
    "audit.readers": R('login', 403, 403, 403, 403, 'ok'),
    "audit.revoke": R('login', 403, 403, 403, 403, 404),
    "billing.admin_index": R('login', 403, 403, 403, 403, 'ok'),
    "billing.admin_period": R('login', 403, 403, 403, 403, 404),
    "billing.admin_rules": R('login', 403, 403, 403, 403, 'ok'),
    "billing.close": R('login', 403, 403, 403, 403, 'refused'),
    "billing.decide": R('login', 403, 403, 403, 403, 403),
    "billing.delete_cost": R('login', 403, 403, 403, 403, 404),
    "billing.mark_paid": R('login', 403, 403, 403, 403, 'refused'),
    "billing.my_fees": R('login', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "billing.receipt": R('login', 403, 403, 403, 403, 404),
    "billing.statement": R('login', 404, 404, 404, 404, 404),
    "billing.statement_pdf_view": R('login', 404, 404, 404, 404, 404),
    "billing.tally": R('login', 403, 403, 403, 403, 404),
    "billing.transparency": R('ok', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "billing.vote": R('login', 'refused', 'refused', 'refused', 'refused', 'refused'),
    "billing.withdraw": R('login', 403, 403, 403, 403, 404),
    "catalog.archive_product": R('login', 403, 403, 'ok', 403, 403),
    "catalog.browse": R('ok', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "catalog.edit_product": R('login', 403, 403, 'ok', 403, 403),
    "catalog.edit_profile": R('login', 403, 403, 'ok', 403, 403),
    "catalog.my_products": R('login', 403, 403, 'ok', 403, 403),
    "catalog.new_product": R('login', 403, 403, 'ok', 403, 403),
    "catalog.producer": R('ok', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "catalog.product": R('ok', 'ok', 'ok', 404, 404, 404),
    "contracts.absence": R('login', 404, 404, 404, 404, 404),
    "contracts.baskets": R('login', 404, 'refused', 404, 404, 404),
    "contracts.contract": R('login', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "contracts.contract_document": R('login', 404, 'ok', 404, 404, 404),
    "contracts.contract_status": R('login', 403, 403, 'refused', 403, 'refused'),
    "contracts.index": R('login', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "contracts.manage": R('login', 403, 403, 'ok', 403, 'ok'),
    "contracts.manage_contract": R('login', 403, 403, 'ok', 403, 'ok'),
    "contracts.new_contract": R('login', 403, 403, 'ok', 403, 'ok'),
    "contracts.pay_from_account": R('login', 404, 'refused', 404, 404, 404),
    "contracts.present": R('login', 404, 404, 404, 404, 404),
    "contracts.record_instalment": R('login', 403, 403, 403, 403, 'refused'),
    "contracts.revise_text": R('login', 403, 403, 'refused', 403, 'refused'),
    "contracts.standing_from_cart": R('login', 403, 'refused', 'refused', 'refused', 403),
    "contracts.stop": R('login', 404, 'refused', 404, 404, 404),
    "contracts.stop_subscription": R('login', 403, 403, 'refused', 403, 'refused'),
    "contracts.subscribe": R('login', 403, 'refused', 'refused', 'refused', 403),
    "contracts.subscription": R('login', 404, 'ok', 404, 404, 404),
    "core.healthz": R('ok', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "core.home": R('ok', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "core.privacy": R('ok', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "core.set_language": R('ok', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "core.theme_css": R('ok', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "core.uploaded_file": R(404, 404, 404, 404, 404, 404),
    "dispatch.accept": R('login', 403, 403, 403, 404, 403),
    "dispatch.availability": R('login', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "dispatch.board": R('login', 403, 403, 403, 403, 'ok'),
    "dispatch.courier_home": R('login', 403, 403, 403, 'ok', 403),
    # The courier pages as an app: its manifest, worker and offline page hold nothing private.
    "dispatch.courier_manifest": R('ok', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "dispatch.courier_service_worker": R('ok', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "dispatch.courier_offline": R('ok', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "dispatch.courier_run": R('login', 403, 403, 403, 404, 403),
    "dispatch.decline": R('login', 403, 403, 403, 404, 403),
    "dispatch.delete_availability": R('login', 403, 403, 403, 404, 403),
    "dispatch.delivered": R('login', 403, 403, 403, 404, 403),
    "dispatch.failed": R('login', 'refused', 'refused', 'refused', 'refused', 'refused'),
    "dispatch.import_postcodes": R('login', 403, 403, 403, 403, 'refused'),
    "dispatch.job_coordinates": R('login', 403, 403, 403, 403, 404),
    "dispatch.picked_up": R('login', 403, 403, 403, 404, 403),
    "dispatch.reassign": R('login', 403, 403, 403, 403, 'refused'),
    "dispatch.replan": R('login', 403, 403, 403, 403, 'refused'),
    "dispatch.reset_code": R('login', 403, 403, 403, 403, 404),
    "dispatch.rules": R('login', 403, 403, 403, 403, 'ok'),
    "dispatch.split": R('login', 403, 403, 403, 403, 404),
    "disputes.admin_list": R('login', 403, 403, 403, 403, 'ok'),
    "disputes.answer": R('login', 404, 400, 400, 404, 400),
    "disputes.index": R('login', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "disputes.report": R('login', 403, 409, 404, 404, 403),
    "disputes.resolve": R('login', 403, 403, 403, 403, 400),
    "disputes.show": R('login', 404, 'ok', 'ok', 404, 'ok'),
    "distributions.index": R('ok', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "invoicing.admin_index": R('login', 403, 403, 403, 403, 'ok'),
    "invoicing.business": R('login', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "invoicing.courier_identity": R('login', 403, 403, 403, 'ok', 403),
    "invoicing.download": R('login', 404, 404, 404, 404, 404),
    "invoicing.download_xml": R('login', 404, 404, 404, 404, 404),
    "invoicing.issue_pending": R('login', 403, 403, 403, 403, 'ok'),
    "invoicing.journal_csv": R('login', 403, 403, 403, 403, 'ok'),
    "invoicing.mandate_page": R('login', 403, 403, 'ok', 'ok', 403),
    "invoicing.my_invoices": R('login', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "invoicing.register_csv": R('login', 403, 403, 'ok', 'ok', 403),
    "invoicing.revoke_mandate": R('login', 403, 403, 'ok', 'ok', 403),
    "members.account": R('login', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "members.apply": R('login', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "members.change_password": R('login', 400, 400, 400, 400, 400),
    "members.confirm_email": R('ok', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "members.dashboard": R('login', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "members.forgot_password": R('ok', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "members.login": R('ok', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "members.logout": R('ok', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "members.reset_password": R('ok', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "members.signup": R('ok', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "members.signup_sent": R('ok', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "offers.copy_offers": R('login', 403, 403, 'refused', 403, 403),
    "offers.distributions": R('login', 403, 403, 'ok', 403, 403),
    "offers.edit_variant": R('login', 403, 403, 'ok', 403, 403),
    "offers.harvest": R('login', 403, 403, 'ok', 403, 403),
    "offers.offers": R('login', 403, 403, 'ok', 403, 403),
    "offers.variant_active": R('login', 403, 403, 'refused', 403, 403),
    "offers.variants": R('login', 403, 403, 'ok', 403, 403),
    "orders.accept_part": R('login', 403, 403, 'refused', 403, 403),
    "orders.add_to_cart": R('login', 'refused', 'refused', 'refused', 'refused', 'refused'),
    "orders.cancel": R('login', 404, 'refused', 404, 404, 404),
    "orders.cart": R('login', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "orders.change_line": R('login', 'refused', 'refused', 'refused', 'refused', 'refused'),
    "orders.checkout": R('login', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "orders.choose_distribution": R('login', 'refused', 'refused', 'refused', 'refused', 'refused'),
    "orders.mark_collected": R('login', 403, 403, 403, 403, 'refused'),
    "orders.mark_ready": R('login', 403, 403, 'refused', 403, 403),
    "orders.my_orders": R('login', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "orders.order_page": R('login', 404, 'ok', 404, 404, 'ok'),
    "orders.packing_list": R('login', 403, 403, 'ok', 403, 403),
    "orders.pickup_sheet": R('login', 403, 403, 403, 403, 'ok'),
    "orders.producer_orders": R('login', 403, 403, 'ok', 403, 403),
    "orders.record_weight": R('login', 'refused', 'refused', 'refused', 'refused', 'refused'),
    "orders.reject_line": R('login', 403, 403, 'refused', 403, 403),
    "orders.update_cart": R('login', 'refused', 'refused', 'refused', 'refused', 'refused'),
    "payments.absorb_reversal": R('login', 403, 403, 403, 403, 404),
    "payments.account": R('login', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "payments.admin": R('login', 403, 403, 403, 403, 'ok'),
    "payments.attention": R('login', 403, 403, 403, 403, 'ok'),
    "payments.chargeback_list": R('login', 403, 403, 403, 403, 'ok'),
    "payments.ledger": R('login', 403, 403, 403, 403, 'ok'),
    "payments.checkout_cancelled": R('login', 404, 'ok', 404, 404, 404),
    "payments.checkout_return": R('login', 404, 'ok', 404, 404, 404),
    "payments.connect": R('login', 403, 403, 'refused', 'refused', 403),
    "payments.connect_webhook": R(400, 400, 400, 400, 400, 400),
    "payments.dispute_refund": R('login', 403, 403, 403, 403, 'ok'),
    "payments.onboarding_refresh": R('login', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "payments.onboarding_return": R('login', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "payments.receipt": R('login', 404, 'ok', 'ok', 404, 'ok'),
    "payments.refunded_outside": R('login', 403, 403, 403, 403, 404),
    "payments.resolve_alert": R('login', 403, 403, 403, 403, 404),
    "payments.retry_payout": R('login', 403, 403, 403, 403, 404),
    "payments.start_top_up": R('login', 'refused', 'refused', 'refused', 'refused', 'refused'),
    "payments.start_checkout": R('login', 404, 'refused', 404, 404, 404),
    "payments.stripe_dashboard": R('login', 403, 403, 'refused', 'refused', 403),
    "payments.webhook": R(400, 400, 400, 400, 400, 400),
    "privacy.erase": R('login', 400, 400, 400, 400, 400),
    "privacy.export": R('login', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "privacy.index": R('login', 'ok', 'ok', 'ok', 'ok', 'ok'),
    "reports.costs": R('login', 403, 403, 403, 403, 'ok'),
    "reports.costs_csv": R('login', 403, 403, 403, 403, 'ok'),
    "reports.couriers": R('login', 403, 403, 403, 403, 'ok'),
    "reports.couriers_csv": R('login', 403, 403, 403, 403, 'ok'),
    "reports.fee_rule": R('login', 403, 403, 403, 403, 'ok'),
    "reports.hide_product": R('login', 403, 403, 403, 403, 'refused'),
    "reports.index": R('login', 403, 403, 403, 403, 'ok'),
    "reports.members": R('login', 403, 403, 403, 403, 'ok'),
    "reports.members_csv": R('login', 403, 403, 403, 403, 'ok'),
    "reports.order": R('login', 403, 403, 403, 403, 'ok'),
    "reports.pickup_points": R('login', 403, 403, 403, 403, 'ok'),
    "reports.pickup_points_csv": R('login', 403, 403, 403, 403, 'ok'),
    "reports.products": R('login', 403, 403, 403, 403, 'ok'),
    "reports.sales": R('login', 403, 403, 403, 403, 'ok'),
    "reports.sales_csv": R('login', 403, 403, 403, 403, 'ok'),
    "reports.shares": R('login', 403, 403, 403, 403, 'refused'),
    "reports.unhide_product": R('login', 403, 403, 403, 403, 'refused'),
}


def _objects(coop) -> dict:
    """Ids of fixture objects for URL parameters, keyed by parameter name."""
    from marketplace.disputes.models import DisputeReason
    from marketplace.disputes.services import open_dispute

    done = coop["done_order"]
    ferme_part = next(p for p in done.parts if p.producer_id == coop["ferme"].producer_profile.id)
    line = ferme_part.lines[0]
    dispute = open_dispute(coop["buyer"], line.id, DisputeReason.DAMAGED, "bruised")
    season = make_season([coop["ferme"]], weeks=2)
    contract = make_contract(coop["ferme"], season, [(coop["leeks"].variants[0].id, 1)])
    subscription = contract_services.subscribe(coop["buyer"], contract.id, accepted_version=1,
                                               means=PaymentMeans.CHEQUE)
    db.session.commit()
    return {"order_id": done.id, "part_id": ferme_part.id, "line_id": line.id, "product_id": coop["carrots"].id,
            "producer_id": coop["ferme"].producer_profile.id, "distribution_id": coop["distribution"].id,
            "membership_id": coop["pending"].membership.id, "dispute_id": dispute.id, "user_id": coop["buyer"].id,
            "code": "en", "filename": "missing.jpg", "fmt": "csv", "token_id": 1, "run_id": 1, "stop_id": 1,
            "slot_id": 1, "job_id": 1, "period_id": 1, "invoice_id": 1, "rule_id": 1, "statement_id": 1, "cost_id": 1,
            "key": "slot:1", "plan_key": "slot:1", "id": 1, "token": "not-a-valid-token", "message_id": 1,
            "alert_id": 1, "payout_id": 1, "credit_id": 1, "contract_id": contract.id,
            "subscription_id": subscription.id,
            "variant_id": coop["carrots"].variants[0].id}


def _outcome(response, flashed_errors: list[str]) -> object:
    if response.status_code == 303 and flashed_errors:
        return "refused"
    if response.status_code in (301, 302, 303, 307, 308):
        return "login" if "/login" in response.headers.get("Location", "") else "ok"
    if 200 <= response.status_code < 300:
        return "ok"
    return response.status_code


def _build_url(app, rule, ids) -> str:
    values = {}
    for arg in rule.arguments:
        if arg not in ids:
            raise AssertionError(f"no fixture id for URL parameter {arg!r} of {rule.endpoint}")
        values[arg] = ids[arg]
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **values)


def _routes(app):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.endpoint):
        if rule.endpoint == "static":
            continue
        method = "GET" if "GET" in rule.methods else sorted(rule.methods - {"HEAD", "OPTIONS"})[0]
        yield rule, method


def observe(app, client, inspect=None):
    """Request every route as every role; `inspect(role, rule, method, response)` sees each response."""
    coop = build_coop()
    ids = _objects(coop)
    users = {"pending": coop["pending"], "buyer": coop["buyer"], "producer": coop["ferme"],
             "courier": coop["courier"], "admin": coop["admin"]}
    seen: dict[str, dict] = {}
    errors: list[str] = []  # the error messages flashed by the current request

    def record_error(sender, message, category, **extra):
        if category == "error":
            errors.append(message)

    with message_flashed.connected_to(record_error, app):
        for role in ROLES:
            client.post("/logout")
            if role != "anonymous":
                assert login(client, users[role]).status_code == 302
            for rule, method in _routes(app):
                url = _build_url(app, rule, ids)
                errors.clear()
                try:
                    response = client.open(url, method=method)
                except Exception as exc:  # e.g. Stripe not configured in unit tests: reached the service
                    outcome = f"raised {type(exc).__name__}"
                else:
                    outcome = _outcome(response, errors)
                    if inspect is not None:
                        inspect(role, rule, method, response)
                db.session.rollback()
                seen.setdefault(rule.endpoint, {})[role] = outcome
                if rule.endpoint == "members.logout" and role != "anonymous":
                    login(client, users[role])
    return seen


@pytest.fixture
def app_config():
    return {"RATELIMIT_ENABLED": False}


def test_every_route_has_a_rule_and_every_role_gets_the_expected_status(app, client):
    seen = observe(app, client)
    missing = sorted(set(seen) - set(EXPECTED))
    assert not missing, f"routes without an authorization rule: {missing}"
    stale = sorted(set(EXPECTED) - set(seen))
    assert not stale, f"rules for routes that no longer exist: {stale}"
    wrong = {endpoint: {role: (EXPECTED[endpoint][role], got) for role, got in statuses.items()
                        if EXPECTED[endpoint][role] != got}
             for endpoint, statuses in seen.items()}
    wrong = {k: v for k, v in wrong.items() if v}
    assert not wrong, "expected vs got: " + "\n".join(f"{k}: {v}" for k, v in sorted(wrong.items()))
