"""Membership events other domains subscribe to (catalog) without members knowing them.

Receivers run inside the caller's transaction: they may add rows and enqueue tasks after commit, never
commit (the contract of marketplace/orders/signals.py).
"""
from blinker import Namespace

_signals = Namespace()

# sender: the Membership, just made active by an admin (member number set, before the welcome e-mail).
membership_approved = _signals.signal("membership-approved")
