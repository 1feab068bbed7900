"""Payment events other domains subscribe to (invoicing, billing) without payments knowing them.

Receivers run inside the caller's transaction: they may add rows and enqueue tasks after commit
(marketplace.tasking.enqueue_after_commit) but must not commit or call external services.
"""
from blinker import Namespace

_signals = Namespace()

# sender: the OrderPart; kwargs: amount_cents (int). The buyer's card is charged and the part's amount
# is final (weighed and packed, less any refund decided before settlement): what the producer is paid
# for it. Sent once per part, when its payout is planned.
part_captured = _signals.signal("part-captured")
