"""Order events other domains subscribe to (payments, dispatch, billing) without orders knowing them.

Receivers run inside the caller's transaction: they may add rows and enqueue tasks after commit
(marketplace.tasking.enqueue_after_commit) but must not commit or call external services directly.
"""
from blinker import Namespace

_signals = Namespace()

# sender: the Order. After checkout, before commit.
order_placed = _signals.signal("order-placed")
# sender: the OrderPart; kwargs: reason (str). Stock has been returned.
part_cancelled = _signals.signal("part-cancelled")
# sender: the OrderLine (status rejected, credited_cents set).
line_rejected = _signals.signal("line-rejected")
# sender: the Order; kwargs: old_quantity_cents (estimated goods total before the change).
order_changed = _signals.signal("order-changed")
# sender: the Order. Every live part is ready (weights known: the final amount is known).
order_ready = _signals.signal("order-ready")
# sender: the Order. Handed to a courier.
order_out_for_delivery = _signals.signal("order-out-for-delivery")
# sender: the Order. Collected at the pickup or delivered at home: every live part is done (for a
# pay-at-pickup order the buyer has now paid each live part's final amount: invoicing issues then).
order_completed = _signals.signal("order-completed")
# sender: the Order; kwargs: reason. A delivery failed and goes back to the dispatcher.
delivery_failed = _signals.signal("delivery-failed")
# sender: the Distribution; kwargs: now. Its cut-off is about to run (before the harvest totals): the
# subscription orders still missing are made now (contracts).
distribution_closing = _signals.signal("distribution-closing")
# A question (payments.signals.fees_due's pattern): sender the distribution id, kwargs producer_id (None: every
# producer); each receiver returns [(member id, member's name, who collects instead or "" when absent)] for the
# packing list and the pickup sheet.
packing_notes = _signals.signal("packing-notes")
# The same question for several distributions at once (the producer's order desk): sender a tuple of distribution
# ids, kwargs producer_id; each receiver returns {distribution id: [(member id, name, who collects or "")]}.
packing_notes_by_distribution = _signals.signal("packing-notes-by-distribution")
