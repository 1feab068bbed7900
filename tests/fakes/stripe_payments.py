"""The fake Stripe's accounts, onboarding, Checkout Sessions, PaymentIntents and Charges (a mixin).

Time is the server's clock (``server.now()``), moved by tests with ``server.advance(seconds)``:
open sessions past ``expires_at`` expire, and uncaptured authorisations past ``capture_before``
are cancelled by Stripe with ``cancellation_reason="automatic"``.
"""
from __future__ import annotations

import copy
import secrets
from typing import Any, Optional

from tests.fakes.stripe_common import (AUTHORISATION_LIFETIME, DEFAULT_CURRENCY, JSON, ONBOARDING_REQUIREMENTS,
                                       SESSION_MAX_LIFETIME, SESSION_MIN_LIFETIME, ZERO_DECIMAL, StripeError,
                                       check_known, empty_list, get_enum, get_int, invalid, merge_metadata, new_id,
                                       opt_str, req_str)

SESSION_PARAMS = {"mode", "line_items", "success_url", "cancel_url", "client_reference_id", "customer_email",
                  "customer", "metadata", "payment_intent_data", "currency", "expires_at", "locale",
                  "payment_method_types", "ui_mode", "submit_type"}
INTENT_DATA_PARAMS = ("capture_method", "transfer_group", "metadata", "description", "on_behalf_of",
                      "transfer_data", "application_fee_amount", "statement_descriptor", "receipt_email",
                      "setup_future_usage")


class PaymentsMixin:
    """Accounts, Checkout and PaymentIntents; mixed into FakeStripeServer (which provides the plumbing)."""

    # ---- accounts -----------------------------------------------------------------------------

    def _h_create_account(self, p: JSON) -> JSON:
        check_known(p, {"type", "country", "email", "capabilities", "metadata", "business_type",
                        "business_profile", "controller", "default_currency", "settings", "tos_acceptance"})
        acct_type = get_enum(p, "type", ["express", "standard", "custom"], default="express")
        country = (opt_str(p, "country") or "US").upper()
        caps = p.get("capabilities") or {}
        if not isinstance(caps, dict):
            raise invalid("Invalid object", "capabilities")
        capabilities = {name: "inactive" for name, spec in caps.items()
                        if isinstance(spec, dict) and spec.get("requested") == "true"}
        if acct_type == "express" and not capabilities:
            raise invalid("Express accounts must request at least the `transfers` or `card_payments` capability.",
                          "capabilities")
        return self._new(
            "acct", "account", type=acct_type, country=country, email=opt_str(p, "email"),
            business_type=opt_str(p, "business_type"), business_profile=p.get("business_profile") or {},
            capabilities=capabilities, charges_enabled=False, payouts_enabled=False,
            details_submitted=False, default_currency=DEFAULT_CURRENCY.get(country, "usd"),
            external_accounts=empty_list("/v1/accounts/external_accounts"),
            metadata=merge_metadata({}, p.get("metadata")), tos_acceptance={"date": None},
            requirements={"alternatives": [], "current_deadline": None,
                          "currently_due": list(ONBOARDING_REQUIREMENTS), "disabled_reason":
                          "requirements.past_due", "errors": [], "eventually_due":
                          list(ONBOARDING_REQUIREMENTS), "past_due": list(ONBOARDING_REQUIREMENTS),
                          "pending_verification": []})

    def _h_get_account(self, p: JSON, acct_id: str) -> JSON:
        return self._get(acct_id, "account", "account")

    def _h_update_account(self, p: JSON, acct_id: str) -> JSON:
        check_known(p, {"email", "metadata", "business_profile", "business_type", "settings",
                        "capabilities", "default_currency"})
        account = self._get(acct_id, "account", "account")
        previous: JSON = {}
        if "metadata" in p:
            previous["metadata"] = account["metadata"]
            account["metadata"] = merge_metadata(account["metadata"], p["metadata"])
        if opt_str(p, "email"):
            previous["email"], account["email"] = account["email"], p["email"]
        if isinstance(p.get("business_profile"), dict):
            previous["business_profile"] = copy.deepcopy(account["business_profile"])
            account["business_profile"].update(p["business_profile"])
        for name, spec in (p.get("capabilities") or {}).items():
            if isinstance(spec, dict) and spec.get("requested") == "true":
                account["capabilities"].setdefault(name, "active" if account["charges_enabled"]
                                                   else "inactive")
        if previous:
            self._emit("account.updated", account, previous, account=acct_id)
        return account

    def _h_create_account_link(self, p: JSON) -> JSON:
        check_known(p, {"account", "refresh_url", "return_url", "type", "collect", "collection_options"})
        acct_id = req_str(p, "account")
        self._get(acct_id, "account", "account", param="account")
        req_str(p, "type")
        get_enum(p, "type", ["account_onboarding", "account_update"])
        token = secrets.token_urlsafe(16)
        created = self.now()
        self._links[token] = {"account": acct_id, "refresh_url": opt_str(p, "refresh_url"),
                              "return_url": opt_str(p, "return_url"), "expires_at": created + 300,
                              "used": False}
        # Account links have no id in Stripe; they are not stored in `objects`.
        return {"object": "account_link", "created": created, "expires_at": created + 300,
                "url": f"{self.url}/_fake/onboarding/{token}"}

    def _h_create_login_link(self, p: JSON, acct_id: str) -> JSON:
        """The Express Dashboard, for an Express account that finished onboarding only."""
        check_known(p, set())
        account = self._get(acct_id, "account", "account", param="account")
        if account["type"] != "express":
            raise StripeError("Cannot create a login link for an account that is not an Express account.",
                              param="account")
        if not account["details_submitted"]:
            raise StripeError("Cannot create a login link for an account that has not completed onboarding.",
                              param="account")
        return {"object": "login_link", "created": self.now(),
                "url": f"{self.url}/_fake/express/{acct_id}/{secrets.token_urlsafe(8)}"}

    def _complete_onboarding(self, acct_id: str) -> JSON:
        account = self._get(acct_id, "account", "account")
        previous = {"charges_enabled": account["charges_enabled"],
                    "payouts_enabled": account["payouts_enabled"],
                    "details_submitted": account["details_submitted"],
                    "capabilities": dict(account["capabilities"]),
                    "requirements": copy.deepcopy(account["requirements"])}
        account.update(charges_enabled=True, payouts_enabled=True, details_submitted=True,
                       tos_acceptance={"date": self.now()})
        account["capabilities"] = {name: "active" for name in account["capabilities"]} or \
            {"transfers": "active"}
        account["requirements"].update(currently_due=[], eventually_due=[], past_due=[],
                                       disabled_reason=None)
        self._emit("account.updated", account, previous, account=acct_id)
        return account

    # ---- checkout -----------------------------------------------------------------------------

    def _line_items_in(self, items_in: Any) -> tuple[list[JSON], str, int]:
        if not isinstance(items_in, list) or not items_in:
            raise invalid("Missing required param: line_items.", "line_items", "parameter_missing")
        items, currency, total = [], None, 0
        for i, item in enumerate(items_in):
            base = f"line_items[{i}]"
            if not isinstance(item, dict):
                raise invalid("Invalid object", base)
            if "price" in item:
                raise StripeError(f"No such price: '{item['price']}'", status=404,
                                  param=f"{base}[price]", code="resource_missing")
            pd = item.get("price_data")
            if not isinstance(pd, dict):
                raise invalid("You must specify either `price` or `price_data` for each line item.",
                              f"{base}[price_data]", "parameter_missing")
            cur = req_str(pd, "currency", f"{base}[price_data][currency]").lower()
            unit = get_int(pd, "unit_amount", required=True, minimum=0, param=f"{base}[price_data][unit_amount]")
            product = pd.get("product_data")
            name = req_str(product if isinstance(product, dict) else {}, "name",
                           f"{base}[price_data][product_data][name]")
            qty = get_int(item, "quantity", required=True, minimum=1, param=f"{base}[quantity]")
            assert unit is not None and qty is not None
            if currency is not None and cur != currency:
                raise invalid("All line items must have the same currency.", f"{base}[price_data][currency]")
            currency = cur
            total += unit * qty
            items.append({"id": new_id("li"), "object": "item", "amount_discount": 0, "amount_subtotal": unit * qty,
                          "amount_tax": 0, "amount_total": unit * qty, "currency": cur, "description": name,
                          "quantity": qty, "price": {"object": "price", "unit_amount": unit,
                                                     "currency": cur, "product_data": {"name": name}}})
        assert currency is not None
        if currency not in ZERO_DECIMAL and total < 50:
            raise invalid(f"The Checkout Session's total amount due must add up to at least 0.50 {currency}",
                          "line_items", "amount_too_small")
        return items, currency, total

    def _session_expiry(self, p: JSON, created: int) -> int:
        expires_at = get_int(p, "expires_at")
        if expires_at is None:
            return created + SESSION_MAX_LIFETIME
        if expires_at < created + SESSION_MIN_LIFETIME:
            raise invalid("The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.",
                          "expires_at")
        if expires_at > created + SESSION_MAX_LIFETIME:
            raise invalid("The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
                          "expires_at")
        return expires_at

    def _h_create_session(self, p: JSON) -> JSON:
        check_known(p, SESSION_PARAMS)
        mode = get_enum(p, "mode", ["payment", "setup", "subscription"], param="mode")
        if mode is None:
            raise invalid("Missing required param: mode.", "mode", "parameter_missing")
        if mode != "payment":
            raise invalid("The fake Stripe server only supports mode=payment.", "mode")
        success_url = req_str(p, "success_url")
        items, currency, total = self._line_items_in(p.get("line_items"))
        pid = p.get("payment_intent_data") or {}
        if not isinstance(pid, dict):
            raise invalid("Invalid object", "payment_intent_data")
        check_known({f"payment_intent_data[{k}]": v for k, v in pid.items()},
                    {f"payment_intent_data[{k}]" for k in INTENT_DATA_PARAMS})
        capture = get_enum(pid, "capture_method", ["automatic", "automatic_async", "manual"],
                           default="automatic_async", param="payment_intent_data[capture_method]")
        created = self.now()
        session = self._new(
            "cs_test", "checkout.session", mode="payment", status="open", payment_status="unpaid",
            amount_subtotal=total, amount_total=total, currency=currency, success_url=success_url,
            cancel_url=opt_str(p, "cancel_url"), client_reference_id=opt_str(p, "client_reference_id"),
            customer=opt_str(p, "customer"), customer_email=opt_str(p, "customer_email"),
            customer_details=None, metadata=merge_metadata({}, p.get("metadata")), payment_intent=None,
            payment_method_types=["card"], expires_at=self._session_expiry(p, created),
            locale=opt_str(p, "locale"), url=None,
            automatic_tax={"enabled": False, "liability": None, "provider": None, "status": None},
            custom_fields=[], custom_text={"after_submit": None, "shipping_address": None, "submit": None,
                                           "terms_of_service_acceptance": None}, shipping_options=[])
        session["url"] = f"{self.url}/_fake/checkout/{session['id']}"
        self._line_items[session["id"]] = items
        # Not part of Stripe's session object; kept aside for creating the PaymentIntent on Pay.
        self._intent_data[session["id"]] = {
            "capture_method": capture, "transfer_group": opt_str(pid, "transfer_group"),
            "description": opt_str(pid, "description"),
            "metadata": merge_metadata({}, pid.get("metadata"), "payment_intent_data[metadata]")}
        return session

    def _h_get_session(self, p: JSON, cs_id: str) -> JSON:
        return self._get(cs_id, "checkout.session", "checkout.session")

    def _h_expire_session(self, p: JSON, cs_id: str) -> JSON:
        session = self._get(cs_id, "checkout.session", "checkout.session")
        if session["status"] != "open":
            raise StripeError('Only Checkout Sessions with a status in ["open"] can be expired.')
        return self._expire_session(session)

    def _expire_session(self, session: JSON) -> JSON:
        session.update(status="expired", url=None)
        self._emit("checkout.session.expired", session)
        return session

    def _expire_due_sessions(self) -> None:
        """Stripe expires an open session at its expires_at, with checkout.session.expired."""
        for session in self._objects_of("checkout.session"):
            if session["status"] == "open" and session["expires_at"] <= self.now():
                self._expire_session(session)

    def _pay(self, cs_id: str, email: Optional[str]) -> str:
        """Authorize (and maybe capture) a card payment for an open session; returns the redirect."""
        session = self._get(cs_id, "checkout.session", "checkout.session")
        if session["status"] != "open":
            raise StripeError(f"This Checkout Session is {session['status']}; it can no longer be paid.")
        pid = self._intent_data[cs_id]
        manual = pid["capture_method"] == "manual"
        intent = self._new_intent(session, pid, manual)
        charge = self._new_charge(session, pid, intent, email, manual)
        intent["latest_charge"] = charge["id"]
        if not manual:
            charge["balance_transaction"] = self._charge_balance_transaction(charge, charge["amount"])["id"]
        session.update(status="complete", payment_intent=intent["id"], url=None,
                       # Checkout reports "unpaid" while funds are only authorized (manual capture).
                       payment_status="unpaid" if manual else "paid",
                       customer_details={"email": email or session["customer_email"]
                                         or "buyer@example.com", "name": None, "address": None})
        self._emit("charge.succeeded", charge)
        if manual:
            self._emit("payment_intent.amount_capturable_updated", intent)
        else:
            self._emit("payment_intent.succeeded", intent)
        self._emit("checkout.session.completed", session)
        return session["success_url"].replace("{CHECKOUT_SESSION_ID}", cs_id)

    def _new_intent(self, session: JSON, pid: JSON, manual: bool) -> JSON:
        amount = session["amount_total"]
        intent = self._new(
            "pi", "payment_intent", amount=amount, currency=session["currency"],
            capture_method=pid["capture_method"], confirmation_method="automatic",
            amount_capturable=amount if manual else 0, amount_received=0 if manual else amount,
            status="requires_capture" if manual else "succeeded", canceled_at=None,
            cancellation_reason=None, client_secret=None, customer=session["customer"],
            description=pid["description"], latest_charge=None, metadata=dict(pid["metadata"]),
            payment_method=new_id("pm"), payment_method_types=["card"], transfer_group=pid["transfer_group"],
            on_behalf_of=None, transfer_data=None, application_fee_amount=None)
        intent["client_secret"] = f"{intent['id']}_secret_{secrets.token_hex(8)}"
        return intent

    def _new_charge(self, session: JSON, pid: JSON, intent: JSON, email: Optional[str], manual: bool) -> JSON:
        amount = session["amount_total"]
        card: JSON = {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034, "country": "FR",
                      "funding": "credit"}
        if manual:
            # "A future timestamp at which the charge will be automatically refunded if uncaptured."
            card["capture_before"] = self.now() + AUTHORISATION_LIFETIME
        return self._new(
            "ch", "charge", amount=amount, amount_captured=0 if manual else amount, amount_refunded=0,
            balance_transaction=None, captured=not manual, currency=session["currency"], paid=True,
            status="succeeded", refunded=False, disputed=False, payment_intent=intent["id"],
            payment_method=intent["payment_method"], metadata=dict(pid["metadata"]),
            transfer_group=pid["transfer_group"], description=pid["description"], customer=session["customer"],
            billing_details={"address": None, "email": email or session["customer_email"], "name": None,
                             "phone": None, "tax_id": None},
            payment_method_details={"type": "card", "card": card},
            outcome={"network_status": "approved_by_network", "type": "authorized",
                     "seller_message": "Payment complete.", "risk_level": "normal", "reason": None},
            receipt_url=None)

    # ---- payment intents, charges ---------------------------------------------------------------

    def _h_get_payment_intent(self, p: JSON, pi_id: str) -> JSON:
        return self._get(pi_id, "payment_intent", "payment_intent")

    def _h_capture_payment_intent(self, p: JSON, pi_id: str) -> JSON:
        check_known(p, {"amount_to_capture", "metadata", "application_fee_amount", "statement_descriptor",
                        "statement_descriptor_suffix", "final_capture", "transfer_data"})
        amount = get_int(p, "amount_to_capture", minimum=1)
        intent = self._get(pi_id, "payment_intent", "payment_intent")
        if intent["status"] != "requires_capture":
            raise StripeError(
                f"This PaymentIntent could not be captured because it has a status of {intent['status']}. "
                "Only a PaymentIntent with one of the following statuses may be captured: requires_capture.",
                code="payment_intent_unexpected_state", extra={"payment_intent": copy.deepcopy(intent)})
        amount = intent["amount_capturable"] if amount is None else amount
        if amount > intent["amount_capturable"]:
            raise StripeError(f"The amount_to_capture ({amount}) must be less than or equal to the "
                              f"PaymentIntent's amount_capturable ({intent['amount_capturable']}).",
                              param="amount_to_capture", code="amount_too_large")
        charge = self.objects[intent["latest_charge"]]
        intent["metadata"] = merge_metadata(intent["metadata"], p.get("metadata"))
        intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
        charge.update(captured=True, amount_captured=amount,
                      balance_transaction=self._charge_balance_transaction(charge, amount)["id"])
        if amount < charge["amount"]:
            self._release_uncaptured(charge, charge["amount"] - amount)
        self._emit("charge.captured", charge)
        self._emit("payment_intent.succeeded", intent)
        return intent

    def _release_uncaptured(self, charge: JSON, remainder: int) -> None:
        """Partial capture: "any additional amount will be automatically refunded" (amount_refunded)."""
        self._released[charge["id"]] = remainder
        self._new("re", "refund", amount=remainder, charge=charge["id"], currency=charge["currency"],
                  payment_intent=charge["payment_intent"], reason=None, status="succeeded", metadata={},
                  balance_transaction=None, failure_reason=None,
                  destination_details={"type": "card", "card": {"type": "reversal"}})
        charge["amount_refunded"] += remainder

    def _h_cancel_payment_intent(self, p: JSON, pi_id: str) -> JSON:
        check_known(p, {"cancellation_reason"})
        reason = get_enum(p, "cancellation_reason", ["duplicate", "fraudulent", "requested_by_customer",
                                                     "abandoned"])
        intent = self._get(pi_id, "payment_intent", "payment_intent")
        cancelable = ["requires_payment_method", "requires_capture", "requires_confirmation",
                      "requires_action", "processing"]
        if intent["status"] not in cancelable:
            raise StripeError(
                f"You cannot cancel this PaymentIntent because it has a status of {intent['status']}. "
                f"Only a PaymentIntent with one of the following statuses may be canceled: "
                f"{', '.join(cancelable)}.", code="payment_intent_unexpected_state",
                extra={"payment_intent": copy.deepcopy(intent)})
        return self._cancel_intent(intent, reason)

    def _cancel_intent(self, intent: JSON, reason: Optional[str], at: Optional[int] = None) -> JSON:
        intent.update(status="canceled", canceled_at=at or self.now(), cancellation_reason=reason,
                      amount_capturable=0)
        if intent["latest_charge"]:
            # Stripe shows a released authorization as a fully "refunded", uncaptured charge.
            charge = self.objects[intent["latest_charge"]]
            charge.update(refunded=True, amount_refunded=charge["amount"])
            if reason == "automatic":
                self._emit("charge.expired", charge)
        self._emit("payment_intent.canceled", intent)
        return intent

    def _lapse_due_authorisations(self) -> None:
        """An uncaptured card authorisation past capture_before is cancelled by Stripe itself."""
        for intent in self._objects_of("payment_intent"):
            if intent["status"] != "requires_capture" or not intent["latest_charge"]:
                continue
            deadline = self.objects[intent["latest_charge"]]["payment_method_details"]["card"]["capture_before"]
            if deadline <= self.now():
                self._cancel_intent(intent, "automatic", at=deadline)

    def _h_get_charge(self, p: JSON, ch_id: str) -> JSON:
        return self._get(ch_id, "charge", "charge")
