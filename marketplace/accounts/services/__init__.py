"""Member accounts: the ledger, what members and admins do with it, and what checkout asks of it.

Callers import from here (`from marketplace.accounts import services as accounts`). Nothing here
commits: the request or task around a call commits once. This package imports no other domain's
services but members' and audit's: orders, disputes and payments call it, never the reverse.

- ledger: post a movement (the one rule), balances, the overdraft rule
- member: a member's statement, asking for the balance back
- admin: adjustments, top-ups received, paybacks, the treasurer's view
"""
from marketplace.accounts.services.admin import (
                                                 OFFLINE_MEANS,
                                                 Treasury,
                                                 adjust,
                                                 member_liability_cents,
                                                 record_payback,
                                                 record_top_up,
                                                 treasury,
)
from marketplace.accounts.services.labels import movement_text
from marketplace.accounts.services.ledger import (
                                                 ORDER_SETTLEMENT_KINDS,
                                                 account_row,
                                                 balance_cents,
                                                 balances_cents,
                                                 carry_over_limit_cents,
                                                 floor_cents,
                                                 movements_of,
                                                 order_share_cents,
                                                 order_shares_cents,
                                                 post_movement,
)
from marketplace.accounts.services.member import Statement, request_payback, statement

__all__ = [
    "ORDER_SETTLEMENT_KINDS", "OFFLINE_MEANS", "Statement", "Treasury", "account_row", "adjust", "balance_cents",
    "balances_cents", "carry_over_limit_cents", "floor_cents", "member_liability_cents", "movement_text",
    "movements_of", "order_share_cents", "order_shares_cents", "post_movement", "record_payback", "record_top_up",
    "request_payback", "statement", "treasury",
]
