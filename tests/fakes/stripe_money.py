"""The fake Stripe's money: balances, balance transactions, transfers, reversals, refunds, disputes,
connected accounts' payouts and Connect fees (a mixin of FakeStripeServer).

The platform and every connected account hold a balance per currency, made of balance
transactions. Card funds stay ``pending`` until ``available_on`` (``server.funds_delay`` after
capture, on the server's clock); a transfer without ``source_transaction`` must be covered by the
platform's *available* balance; a reversal by the connected account's balance. Stripe's fees
(card processing, disputes, Connect's per-payout and per-active-account fees) are balance
transactions of the platform too.
"""
from __future__ import annotations

import copy
from typing import Optional

from tests.fakes.stripe_common import (ACTIVE_ACCOUNT_FEE, DAY, DISPUTE_FEE, DISPUTE_RESPONSE_DAYS, JSON,
                                       StripeError, check_known, empty_list, get_enum, get_int, insufficient,
                                       invalid, merge_metadata, missing, new_id, opt_str, payout_fee, req_str,
                                       stripe_fee)

REFUND_REASONS = ["duplicate", "fraudulent", "requested_by_customer"]
OPEN_DISPUTE = {"warning_needs_response", "warning_under_review", "needs_response", "under_review"}


class MoneyMixin:
    """Balances and money movements; mixed into FakeStripeServer (which provides the plumbing)."""

    # ---- balance transactions and balances ------------------------------------------------------

    def _bt(self, owner: Optional[str], type_: str, amount: int, currency: str, source: Optional[str], *,
            fee: int = 0, available_on: Optional[int] = None, category: Optional[str] = None,
            description: Optional[str] = None, fee_description: str = "Stripe processing fees") -> JSON:
        """One movement of a balance (the platform's when owner is None, else a connected account's)."""
        available_on = self.now() if available_on is None else available_on
        fee_details = [{"amount": fee, "application": None, "currency": currency, "description": fee_description,
                        "type": "stripe_fee"}] if fee else []
        txn = self._new("txn", "balance_transaction", amount=amount, fee=fee, net=amount - fee, currency=currency,
                        type=type_, reporting_category=category or type_, source=source,
                        status="available" if available_on <= self.now() else "pending",
                        available_on=available_on, balance_type="payments", description=description,
                        exchange_rate=None, fee_details=fee_details)
        self._owner[txn["id"]] = owner
        return txn

    def _charge_balance_transaction(self, charge: JSON, amount: int) -> JSON:
        return self._bt(None, "charge", amount, charge["currency"], charge["id"], fee=stripe_fee(amount),
                        available_on=self.now() + self.funds_delay, description=charge.get("description"))

    def _transactions_of(self, owner: Optional[str]) -> list[JSON]:
        return [t for t in self._objects_of("balance_transaction") if self._owner.get(t["id"]) == owner]

    def balance(self, account: Optional[str] = None, currency: str = "eur") -> tuple[int, int]:
        """(available, pending) of the platform (or a connected account) in a currency."""
        with self._lock:
            rows = [t for t in self._transactions_of(account) if t["currency"] == currency]
            return (sum(t["net"] for t in rows if t["status"] == "available"),
                    sum(t["net"] for t in rows if t["status"] == "pending"))

    def _release_due_funds(self) -> None:
        """Pending funds whose available_on has come become available (balance.available)."""
        touched: set[Optional[str]] = set()
        for txn in self._objects_of("balance_transaction"):
            if txn["status"] == "pending" and txn["available_on"] <= self.now():
                txn["status"] = "available"
                touched.add(self._owner.get(txn["id"]))
        for owner in sorted(touched, key=lambda o: o or ""):
            self._emit("balance.available", self._balance_object(owner), account=owner)

    def _balance_object(self, owner: Optional[str]) -> JSON:
        default = self.objects[owner]["default_currency"] if owner else "eur"
        currencies = sorted({t["currency"] for t in self._transactions_of(owner)} | {default})
        rows = self._transactions_of(owner)

        def amounts(status: str) -> list[JSON]:
            out = []
            for cur in currencies:
                total = sum(t["net"] for t in rows if t["currency"] == cur and t["status"] == status)
                out.append({"amount": total, "currency": cur, "source_types": {"card": total}})
            return out

        return {"object": "balance", "available": amounts("available"), "pending": amounts("pending"),
                "livemode": False}

    def _h_get_balance(self, p: JSON) -> JSON:
        check_known(p, set())
        return self._balance_object(self._request_account)

    def _h_list_balance_transactions(self, p: JSON) -> JSON:
        check_known(p, {"created", "currency", "ending_before", "limit", "payout", "source", "starting_after",
                        "type"})
        rows = [t for t in self._transactions_of(self._request_account)
                if p.get("type") in (None, t["type"]) and p.get("source") in (None, t["source"])
                and p.get("currency") in (None, t["currency"])]
        return self._list(rows, p, "/v1/balance_transactions")

    def _h_get_balance_transaction(self, p: JSON, txn_id: str) -> JSON:
        txn = self._get(txn_id, "balance_transaction", "balance transaction")
        if self._owner.get(txn_id) != self._request_account:
            raise missing("balance transaction", txn_id)
        return txn

    # ---- transfers and reversals ------------------------------------------------------------------

    def _h_create_transfer(self, p: JSON) -> JSON:
        check_known(p, {"amount", "currency", "destination", "source_transaction", "transfer_group",
                        "metadata", "description", "source_type"})
        amount = get_int(p, "amount", required=True, minimum=1)
        assert amount is not None
        currency = req_str(p, "currency").lower()
        dest_id = req_str(p, "destination")
        metadata = merge_metadata({}, p.get("metadata"))
        dest = self.objects.get(dest_id)
        if dest is None or dest.get("object") != "account":
            raise StripeError(f"No such destination: '{dest_id}'", param="destination", code="resource_missing")
        if dest["capabilities"].get("transfers") != "active":
            raise StripeError(
                "Your destination account needs to have at least one of the following capabilities "
                "enabled: transfers, crypto_transfers, legacy_payments", param="destination",
                code="insufficient_capabilities_for_transfer")
        source_id = opt_str(p, "source_transaction")
        available_on = self._transfer_availability(source_id, amount, currency)
        transfer = self._new(
            "tr", "transfer", amount=amount, amount_reversed=0, currency=currency, destination=dest_id,
            destination_payment=new_id("py"), description=opt_str(p, "description"), metadata=metadata,
            reversed=False, source_transaction=source_id, source_type="card",
            transfer_group=opt_str(p, "transfer_group"), balance_transaction=None,
            reversals=empty_list(""))
        transfer["reversals"]["url"] = f"/v1/transfers/{transfer['id']}/reversals"
        transfer["balance_transaction"] = self._bt(None, "transfer", -amount, currency, transfer["id"],
                                                   available_on=available_on)["id"]
        self._bt(dest_id, "payment", amount, currency, transfer["destination_payment"], available_on=available_on,
                 category="transfer")
        self._emit("transfer.created", transfer)
        return transfer

    def _transfer_availability(self, source_id: Optional[str], amount: int, currency: str) -> int:
        """When the transferred funds are available; refuses what the platform cannot cover."""
        if source_id is None:
            available = self.balance(None, currency)[0]
            if amount > available:
                raise insufficient(
                    "You have insufficient available funds in your Stripe account. Try adding funds directly "
                    "to your available balance by creating Charges using the 4000000000000077 test card. "
                    "See: https://stripe.com/docs/testing#available-balance")
            return self.now()
        charge = self.objects.get(source_id)
        if charge is None or charge.get("object") != "charge":
            raise missing("charge", source_id, "source_transaction")
        if charge["currency"] != currency:
            raise StripeError(f"The currency of source_transaction's balance transaction ({charge['currency']}) "
                              f"must be the same as the transfer currency ({currency}).", param="currency")
        if not charge["captured"]:
            raise StripeError(f"Charge {source_id} has not been captured yet.", param="source_transaction")
        already = sum(t["amount"] - t["amount_reversed"] for t in self._objects_of("transfer")
                      if t["source_transaction"] == source_id)
        remaining = charge["amount"] - charge["amount_refunded"] - already
        if amount > remaining:
            raise insufficient(f"Insufficient funds in source transaction {source_id}: requested {amount} but "
                               f"only {max(remaining, 0)} {currency} remain to be transferred.")
        return self.objects[charge["balance_transaction"]]["available_on"]

    def _h_get_transfer(self, p: JSON, tr_id: str) -> JSON:
        return self._get(tr_id, "transfer", "transfer")

    def _h_list_transfers(self, p: JSON) -> JSON:
        check_known(p, {"destination", "transfer_group", "limit", "created", "starting_after",
                        "ending_before"})
        rows = [t for t in self._objects_of("transfer")
                if p.get("destination") in (None, t["destination"])
                and p.get("transfer_group") in (None, t["transfer_group"])]
        return self._list(rows, p, "/v1/transfers")

    def _h_create_reversal(self, p: JSON, tr_id: str) -> JSON:
        check_known(p, {"amount", "description", "metadata", "refund_application_fee"})
        amount = get_int(p, "amount", minimum=1)
        metadata = merge_metadata({}, p.get("metadata"))
        transfer = self._get(tr_id, "transfer", "transfer")
        remaining = transfer["amount"] - transfer["amount_reversed"]
        if remaining == 0:
            raise StripeError(f"Transfer {tr_id} has already been fully reversed.", param="amount")
        amount = remaining if amount is None else amount
        if amount > remaining:
            raise StripeError(f"Amount ({amount}) is greater than unreversed amount on transfer "
                              f"({remaining}).", param="amount", code="amount_too_large")
        held = sum(self.balance(transfer["destination"], transfer["currency"]))
        if amount > held:
            # "It is possible to reverse a transfer_group transfer only if the destination account has
            # enough balance to cover the reversal."
            raise insufficient(f"Insufficient funds in the destination account ({transfer['destination']}) to "
                               f"reverse {amount}: its balance is {held}.")
        reversal = self._new(
            "trr", "transfer_reversal", amount=amount, currency=transfer["currency"], transfer=tr_id,
            destination_payment_refund=new_id("pyr"), metadata=metadata, source_refund=None,
            balance_transaction=None)
        reversal["balance_transaction"] = self._bt(None, "transfer_refund", amount, transfer["currency"],
                                                   reversal["id"], category="transfer_reversal")["id"]
        self._bt(transfer["destination"], "payment_refund", -amount, transfer["currency"],
                 reversal["destination_payment_refund"], category="transfer_reversal")
        previous = {"amount_reversed": transfer["amount_reversed"], "reversed": transfer["reversed"]}
        transfer["amount_reversed"] += amount
        transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
        transfer["reversals"]["data"].insert(0, reversal)
        transfer["reversals"]["total_count"] += 1
        self._emit("transfer.reversed", transfer, previous)
        return reversal

    def _h_list_reversals(self, p: JSON, tr_id: str) -> JSON:
        transfer = self._get(tr_id, "transfer", "transfer")
        return self._list(list(transfer["reversals"]["data"]), p, f"/v1/transfers/{tr_id}/reversals")

    # ---- refunds ----------------------------------------------------------------------------------

    def _refund_target(self, p: JSON) -> JSON:
        ch_id, pi_id = opt_str(p, "charge"), opt_str(p, "payment_intent")
        if ch_id and pi_id:
            raise invalid("You cannot specify both charge and payment_intent.", "payment_intent")
        if pi_id:
            intent = self._get(pi_id, "payment_intent", "payment_intent", param="payment_intent")
            if intent["status"] != "succeeded" or not intent["latest_charge"]:
                raise StripeError(f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.",
                                  param="payment_intent", code="payment_intent_unexpected_state")
            ch_id = intent["latest_charge"]
        if not ch_id:
            raise invalid("Missing required param: charge.", "charge", "parameter_missing")
        charge = self._get(ch_id, "charge", "charge", param="charge")
        if not charge["captured"]:
            raise StripeError(f"Charge {ch_id} has not been captured; cancel its PaymentIntent to "
                              "release the authorization.", param="charge")
        if any(d["status"] != "won" for d in self._disputes_of(ch_id)):  # open, or lost: charged back
            raise StripeError(f"Charge {ch_id} has been charged back; cannot issue a refund.", param="charge",
                              code="charge_disputed")
        return charge

    def _h_create_refund(self, p: JSON) -> JSON:
        check_known(p, {"charge", "payment_intent", "amount", "reason", "metadata",
                        "refund_application_fee", "reverse_transfer", "instructions_email"})
        amount = get_int(p, "amount", minimum=1)
        reason = get_enum(p, "reason", REFUND_REASONS)
        metadata = merge_metadata({}, p.get("metadata"))
        charge = self._refund_target(p)
        # After a partial capture, the released remainder already counts in amount_refunded.
        refundable = charge["amount"] - charge["amount_refunded"]
        if refundable <= 0:
            raise StripeError(f"Charge {charge['id']} has already been refunded.", param="charge",
                              code="charge_already_refunded")
        amount = refundable if amount is None else amount
        if amount > refundable:
            raise StripeError(f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                              f"({refundable})", param="amount", code="amount_too_large")
        refund = self._new(
            "re", "refund", amount=amount, charge=charge["id"], currency=charge["currency"],
            payment_intent=charge["payment_intent"], reason=reason,
            status="pending" if self.refunds_pending else "succeeded", metadata=metadata,
            balance_transaction=None, failure_reason=None, failure_balance_transaction=None,
            destination_details={"type": "card", "card": {"type": "refund"}})
        refund["balance_transaction"] = self._bt(None, "refund", -amount, charge["currency"], refund["id"])["id"]
        previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        self._emit("charge.refunded", charge, previous)
        self._emit("refund.created", refund)
        return refund

    def settle_refund(self, refund_id: str, succeeded: bool = True) -> JSON:
        """What the card network eventually says about a pending refund (test helper)."""
        with self._lock:
            refund = self._get(refund_id, "refund", "refund")
            if refund["status"] != "pending":
                raise ValueError(f"refund {refund_id} is {refund['status']}, not pending")
            previous = {"status": "pending"}
            if succeeded:
                refund["status"] = "succeeded"
            else:
                self._fail_refund(refund)
            self._emit("charge.refund.updated", refund, previous)
            self._emit("refund.updated", refund, previous)
            if not succeeded:
                self._emit("refund.failed", refund)
            result = copy.deepcopy(refund)
        self._flush()
        return result

    def _fail_refund(self, refund: JSON) -> None:
        charge = self.objects[refund["charge"]]
        refund.update(status="failed", failure_reason="expired_or_canceled_card")
        refund["failure_balance_transaction"] = self._bt(None, "refund_failure", refund["amount"],
                                                         refund["currency"], refund["id"])["id"]
        charge["amount_refunded"] -= refund["amount"]
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]

    def _h_get_refund(self, p: JSON, re_id: str) -> JSON:
        return self._get(re_id, "refund", "refund")

    def _h_list_refunds(self, p: JSON) -> JSON:
        return self._list_of_charge("refund", p, "/v1/refunds")

    def _list_of_charge(self, object_type: str, p: JSON, url: str) -> JSON:
        """A list of refunds or disputes, optionally of one charge or PaymentIntent."""
        check_known(p, {"charge", "payment_intent", "created", "limit", "starting_after", "ending_before"})
        rows = [r for r in self._objects_of(object_type) if p.get("charge") in (None, r["charge"])
                and p.get("payment_intent") in (None, r["payment_intent"])]
        return self._list(rows, p, url)

    # ---- disputes ---------------------------------------------------------------------------------

    def _disputes_of(self, charge_id: str) -> list[JSON]:
        return [d for d in self._objects_of("dispute") if d["charge"] == charge_id]

    def open_dispute(self, charge_id: str, amount: Optional[int] = None, reason: str = "fraudulent") -> JSON:
        """The buyer's bank disputes a charge: its amount and Stripe's fee leave the platform (test helper)."""
        with self._lock:
            charge = self._get(charge_id, "charge", "charge")
            if not charge["captured"] or self._disputes_of(charge_id):
                raise ValueError(f"charge {charge_id} cannot be disputed")
            disputable = charge["amount"] - charge["amount_refunded"]
            amount = disputable if amount is None else amount
            dispute = self._new(
                "du", "dispute", amount=amount, balance_transactions=[], charge=charge_id,
                currency=charge["currency"], enhanced_eligibility_types=[], evidence=_empty_evidence(),
                evidence_details={"due_by": self.now() + DISPUTE_RESPONSE_DAYS * DAY, "enhanced_eligibility": {},
                                  "has_evidence": False, "past_due": False, "submission_count": 0,
                                  "submission_method": "not_submitted"},
                is_charge_refundable=False, metadata={}, network_reason_code="10.4",
                payment_intent=charge["payment_intent"], reason=reason, status="needs_response",
                payment_method_details={"type": "card", "card": {"brand": "visa", "case_type": "chargeback", "network": "visa",
                                                                 "network_reason_code": "10.4"}})
            dispute["balance_transactions"].append(self._bt(
                None, "adjustment", -amount, charge["currency"], dispute["id"], fee=DISPUTE_FEE, category="dispute",
                description=f"Chargeback withdrawal for {charge_id}", fee_description="Dispute fee"))
            charge["disputed"] = True
            self._emit("charge.dispute.created", dispute)
            self._emit("charge.dispute.funds_withdrawn", dispute)
            result = copy.deepcopy(dispute)
        self._flush()
        return result

    def close_dispute(self, dispute_id: str, won: bool) -> JSON:
        """The bank decides: won returns the disputed amount (not the fee); lost keeps it (test helper)."""
        with self._lock:
            dispute = self._get(dispute_id, "dispute", "dispute")
            if dispute["status"] not in OPEN_DISPUTE:
                raise ValueError(f"dispute {dispute_id} is already {dispute['status']}")
            self._close(dispute, "won" if won else "lost")
            result = copy.deepcopy(dispute)
        self._flush()
        return result

    def _close(self, dispute: JSON, status: str) -> None:
        previous = {"status": dispute["status"]}
        dispute["status"] = status
        if status == "won":
            dispute["balance_transactions"].append(self._bt(
                None, "adjustment", dispute["amount"], dispute["currency"], dispute["id"],
                category="dispute_reversal", description=f"Chargeback reversal for {dispute['charge']}"))
        self._emit("charge.dispute.closed", dispute, previous)
        if status == "won":
            self._emit("charge.dispute.funds_reinstated", dispute)

    def _h_get_dispute(self, p: JSON, du_id: str) -> JSON:
        return self._get(du_id, "dispute", "dispute")

    def _h_list_disputes(self, p: JSON) -> JSON:
        return self._list_of_charge("dispute", p, "/v1/disputes")

    def _h_update_dispute(self, p: JSON, du_id: str) -> JSON:
        check_known(p, {"evidence", "metadata", "submit"})
        dispute = self._get(du_id, "dispute", "dispute")
        if dispute["status"] not in ("needs_response", "warning_needs_response"):
            raise StripeError(f"This dispute is {dispute['status']}: evidence can no longer be changed.")
        evidence = p.get("evidence") or {}
        if not isinstance(evidence, dict) or any(k not in dispute["evidence"] for k in evidence):
            raise invalid("Invalid evidence.", "evidence")
        previous = {"status": dispute["status"]}
        dispute["evidence"].update(evidence)
        dispute["metadata"] = merge_metadata(dispute["metadata"], p.get("metadata"))
        dispute["evidence_details"]["has_evidence"] = any(v for v in dispute["evidence"].values())
        if p.get("submit") == "true":
            dispute["status"] = "under_review"
            dispute["evidence_details"]["submission_count"] += 1
            dispute["evidence_details"]["submission_method"] = "manual"
        self._emit("charge.dispute.updated", dispute, previous)
        return dispute

    def _h_close_dispute(self, p: JSON, du_id: str) -> JSON:
        """Accepting a dispute: "acknowledging it as lost"."""
        check_known(p, set())
        dispute = self._get(du_id, "dispute", "dispute")
        if dispute["status"] not in ("needs_response", "warning_needs_response"):
            raise StripeError(f"This dispute is {dispute['status']} and cannot be closed.")
        self._close(dispute, "lost")
        return dispute

    # ---- connected accounts' payouts, Connect fees, top-ups -------------------------------------

    def pay_out(self, account_id: str) -> Optional[JSON]:
        """A connected account's automatic payout of its available balance to its bank (test helper).

        Stripe bills the platform its Connect payout fee for it, and counts the account active this month.
        """
        with self._lock:
            account = self._get(account_id, "account", "account")
            currency = account["default_currency"]
            available = self.balance(account_id, currency)[0]
            if available <= 0:
                return None
            payout = self._new(
                "po", "payout", amount=available, arrival_date=self.now() + 2 * DAY, automatic=True,
                currency=currency, method="standard", reconciliation_status="completed", source_type="card",
                status="paid", type="bank_account", destination=new_id("ba"), metadata={}, description="STRIPE PAYOUT",
                balance_transaction=None, failure_code=None, failure_message=None, statement_descriptor=None)
            self._owner[payout["id"]] = account_id
            payout["balance_transaction"] = self._bt(account_id, "payout", -available, currency, payout["id"])["id"]
            self._bt(None, "stripe_fee", -payout_fee(available), currency, None, category="fee",
                     description=f"Connect payout fee ({account_id}, {payout['id']})")
            self._active_accounts.add(account_id)
            self._emit("payout.created", payout, account=account_id)
            self._emit("payout.paid", payout, account=account_id)
            result = copy.deepcopy(payout)
        self._flush()
        return result

    def bill_active_accounts(self, currency: str = "eur") -> list[JSON]:
        """Connect's monthly fee for each account that received a payout since the last bill (test helper)."""
        with self._lock:
            bills = [self._bt(None, "stripe_fee", -ACTIVE_ACCOUNT_FEE, currency, None, category="fee",
                              description=f"Connect active account billing ({account_id})")
                     for account_id in sorted(self._active_accounts)]
            self._active_accounts.clear()
            return copy.deepcopy(bills)

    def top_up(self, amount: int, currency: str = "eur", available_in: int = 0) -> JSON:
        """The coop adds its own money to the platform balance (test helper)."""
        with self._lock:
            topup = self._new("tu", "topup", amount=amount, currency=currency, status="succeeded", metadata={})
            txn = self._bt(None, "topup", amount, currency, topup["id"], available_on=self.now() + available_in)
            return copy.deepcopy(txn)


def _empty_evidence() -> JSON:
    names = ["access_activity_log", "billing_address", "cancellation_policy", "cancellation_policy_disclosure",
             "cancellation_rebuttal", "customer_communication", "customer_email_address", "customer_name",
             "customer_purchase_ip", "customer_signature", "duplicate_charge_documentation",
             "duplicate_charge_explanation", "duplicate_charge_id", "product_description", "receipt",
             "refund_policy", "refund_policy_disclosure", "refund_refusal_explanation", "service_date",
             "service_documentation", "shipping_address", "shipping_carrier", "shipping_date",
             "shipping_documentation", "shipping_tracking_number", "uncategorized_file", "uncategorized_text"]
    evidence: JSON = {name: None for name in names}
    evidence["enhanced_evidence"] = {}
    return evidence
