"""What the accounts domain tells others (blinker); receivers live in the listening domain.

movement_posted(movement, actor=, before_cents=, note=): one movement appended to a member's account
(the audit log records it, on the same transaction).
"""
from blinker import Namespace

_signals = Namespace()

movement_posted = _signals.signal("account-movement-posted")
