"""Payment events other domains subscribe to (invoicing, billing) without payments knowing them.

Same contract as marketplace/orders/signals.py: receivers run inside the caller's transaction,
may add rows and enqueue tasks after commit (marketplace.tasking.enqueue_after_commit), and must
neither commit nor call Stripe or any other external service.
"""
from blinker import Namespace

_signals = Namespace()

# sender: the Order. The card payment is captured and every live part's amount is final (what the
# buyer pays for it). Sent by each settlement run, so possibly more than once: receivers are idempotent.
order_settled = _signals.signal("order-settled")
# sender: the Credit (kind dispute, line_id set). An admin decided to refund part of a paid line.
refund_decided = _signals.signal("refund-decided")

# sender: the OrderPart; kwargs: amount_cents (int). The buyer's card is charged and the part's amount
# is final (weighed and packed, less any refund decided before settlement): what the producer is paid
# for it. Sent once per part, when its payout is planned.
part_captured = _signals.signal("part-captured")
