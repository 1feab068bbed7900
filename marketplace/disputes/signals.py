"""Dispute events other domains subscribe to (invoicing) without disputes knowing them.

Same contract as marketplace/orders/signals.py: receivers run inside the caller's transaction,
may add rows and enqueue tasks after commit, and must neither commit nor call external services.
"""
from blinker import Namespace

_signals = Namespace()

# sender: the Dispute, resolved (status credited, refunded or rejected; amount_cents set). A card
# refund also goes through payments.signals.refund_decided (the Credit), sent before this one.
dispute_resolved = _signals.signal("dispute-resolved")
