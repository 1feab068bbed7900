"""Distribution events higher domains react to without distributions knowing them (contracts, ...).

Receivers run inside the caller's transaction: they may add or change rows but must not commit."""
from blinker import Namespace

_signals = Namespace()

# sender: the Distribution (cancelled_at just set, flushed). Contracts recompute their subscribers' schedules.
distribution_cancelled = _signals.signal("distribution-cancelled")
