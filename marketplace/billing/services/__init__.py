"""Fee at cost: record the coop's costs, vote the rule, close a period, bill and collect the fees.

Every rule of the domain lives in this package, one module per seam; views and tasks only call
its functions, imported from here (`from marketplace.billing import services`). Nothing here
commits: the request (or the task) commits once, so a refused action leaves nothing behind.

- periods: calendar months in the coop's time zone, which ones are open, due, closable
- costs: the cost ledger, receipts, Stripe's processing fees
- rules: adoption settings, fee rule proposals, the members' vote, the rule in force
- activity: members' sales, purchases and delivery pay over a period (aggregate SQL)
- closing: closing a period, i.e. allocating its cost into statements and charges
- statements: a member's statements
- collection: dues, payments recorded by admins, fees withheld from transfers
- transparency: the public figures of the closed periods
"""
from marketplace.billing.services.activity import (
                                                   buyer_purchases_by_member,
                                                   courier_pay_by_member,
                                                   delivery_fees_total,
                                                   line_amount_sql,
                                                   producer_sales_by_member,
)
from marketplace.billing.services.closing import PeriodActivity, PeriodAlreadyClosed, close_month, close_period
from marketplace.billing.services.collection import (
                                                   fees_due_cents,
                                                   paid_by_member,
                                                   record_fee_withheld,
                                                   record_payment,
                                                   record_withholding,
                                                   release_fee_withheld,
                                                   release_withholding,
)
from marketplace.billing.services.common import COLLEGE_ORDER
from marketplace.billing.services.costs import (
                                                   RECEIPT_TYPES,
                                                   CostInput,
                                                   costs_by_category,
                                                   delete_cost,
                                                   receipt_file,
                                                   record_cost,
                                                   store_receipt,
                                                   sync_processing_fees,
)
from marketplace.billing.services.periods import (
                                                   closable_months,
                                                   coop_timezone,
                                                   coop_today,
                                                   due_period_ids,
                                                   get_or_create_period,
                                                   get_period,
                                                   month_start,
                                                   next_month,
                                                   open_periods,
                                                   period_label,
                                                   previous_month,
                                                   utc_bounds,
)
from marketplace.billing.services.rules import (
                                                   MAX_FLAT_CENTS,
                                                   MAX_WEIGHT,
                                                   RuleInput,
                                                   adopt_by_decision,
                                                   cast_vote,
                                                   get_billing_settings,
                                                   get_rule,
                                                   propose_rule,
                                                   rule_in_force,
                                                   tally_vote,
                                                   to_fee_rule,
                                                   update_billing_settings,
                                                   withdraw_rule,
)
from marketplace.billing.services.statements import StatementView, get_statement, my_statements, period_statements
from marketplace.billing.services.transparency import (
                                                   CollegeFigures,
                                                   PeriodReport,
                                                   YearView,
                                                   transparency_report,
                                                   twelve_months,
)

__all__ = [
    "COLLEGE_ORDER", "MAX_FLAT_CENTS", "MAX_WEIGHT", "RECEIPT_TYPES",
    "CollegeFigures", "CostInput", "PeriodActivity", "PeriodAlreadyClosed", "PeriodReport", "RuleInput",
    "StatementView",
    "adopt_by_decision", "buyer_purchases_by_member", "cast_vote", "closable_months", "close_month",
    "close_period", "coop_timezone", "coop_today", "costs_by_category", "courier_pay_by_member", "delete_cost",
    "delivery_fees_total", "due_period_ids", "fees_due_cents", "get_billing_settings", "get_or_create_period",
    "get_period", "get_rule", "get_statement", "line_amount_sql", "month_start", "my_statements", "next_month",
    "open_periods", "paid_by_member", "period_label", "period_statements", "previous_month", "producer_sales_by_member",
    "propose_rule", "receipt_file", "record_cost", "record_fee_withheld", "record_payment", "record_withholding",
    "release_fee_withheld", "release_withholding", "rule_in_force", "store_receipt", "sync_processing_fees",
    "tally_vote", "to_fee_rule", "transparency_report", "twelve_months", "YearView",
    "update_billing_settings", "utc_bounds", "withdraw_rule",
]
