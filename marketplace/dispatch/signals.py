"""Dispatch events other domains subscribe to (invoicing) without dispatch knowing them.

Same contract as marketplace/orders/signals.py: receivers run inside the caller's transaction,
may add rows and enqueue tasks after commit, and must neither commit nor call external services.
"""
from blinker import Namespace

_signals = Namespace()

# sender: the CourierPayable, just recorded: what the coop owes a courier for a finished run.
courier_payable_recorded = _signals.signal("courier-payable-recorded")
