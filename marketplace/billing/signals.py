"""Billing events other domains subscribe to (invoicing) without billing knowing them.

Same contract as marketplace/orders/signals.py: receivers run inside the caller's transaction,
may add rows and enqueue tasks after commit, and must neither commit nor call external services.
"""
from blinker import Namespace

_signals = Namespace()

# sender: the BillingPeriod, just closed. Its Statements (one per active member) are written.
statements_issued = _signals.signal("statements-issued")
