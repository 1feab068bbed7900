"""What a movement says to whoever reads it, in their language, worded at display time.

A movement stores what someone typed (an admin's reason, a dispute's note) and, for those the shop posts
itself, nothing but its kind, key and order: the words come from here, never from the writer's language.
"""
from __future__ import annotations

from flask_babel import gettext as _

from marketplace.accounts.models import AccountMovement


def movement_text(movement: AccountMovement) -> str:
    """The typed reason if any, else the sentence for a movement the shop posted itself."""
    if movement.reason:
        return movement.reason
    ref = movement.order.reference if movement.order is not None else ""
    key = movement.key or ""
    if key.startswith("card-top-up:"):
        return _("Card top-up")
    if key.startswith("handover:"):
        return _("Received at the handover of order %(ref)s", ref=ref)
    if key.startswith("carry-handover:"):
        return _("Order %(ref)s: short at the handover, carried over", ref=ref)
    if key.startswith("carry-over:"):
        return _("Order %(ref)s: weighing difference carried over", ref=ref)
    if key.startswith("contract-instalment:"):
        return _("Contract instalment")
    if key.startswith("order-excess:"):
        return _("Order %(ref)s: less than paid from the account", ref=ref)
    return _("Order %(ref)s", ref=ref) if ref else ""
