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

# Members' fees withheld from their transfers (billing owns what a member owes; payments asks and tells it).
# sender: the member's user id (int). Each receiver returns the cents that member owes; with no receiver
# (no billing), nothing is withheld. Receivers only read.
fees_due = _signals.signal("fees-due")
# sender: the member's user id; kwargs: cents (int), reference (the payout's reference). Kept from a transfer.
fee_withheld = _signals.signal("fee-withheld")
# sender: the member's user id; kwargs: cents, reference. Given back (its line was refunded): due again.
fee_released = _signals.signal("fee-released")
