"""AMAP/CSA contracts and standing orders: the rules, one module per seam. Nothing here commits.

- defining: a contract's terms, its text's versions (admin or producer)
- subscribing: a member accepts the text (version and date kept); standing orders start and stop
- schedule: the season as the amount rule sees it (contracts.rules), instalments, payments recorded
- choices: absences, hand-overs and other baskets before a cut-off
- ordering: each subscriber's order for a distribution, exactly once
"""
from marketplace.contracts.services.choices import (
                                                    absences_by_distribution,
                                                    absences_for,
                                                    declare_absence,
                                                    set_baskets,
                                                    withdraw_absence,
)
from marketplace.contracts.services.defining import (
                                                    ContractInput,
                                                    create_contract,
                                                    get_contract,
                                                    managed_contracts,
                                                    open_contracts,
                                                    require_contract_manager,
                                                    revise_text,
                                                    season_distributions,
                                                    set_contract_status,
)
from marketplace.contracts.services.ordering import (
                                                    cancel_subscription_orders,
                                                    create_due_orders,
                                                    create_order_for,
                                                    create_subscription_orders,
                                                    due_distribution_ids,
                                                    subscriber_ids,
)
from marketplace.contracts.services.schedule import (
                                                    Balance,
                                                    absences_left,
                                                    amount_cents,
                                                    balance,
                                                    choices_of,
                                                    delivery_plan,
                                                    pay_instalment_from_account,
                                                    record_instalment,
                                                    refresh_schedule,
                                                    refresh_series_schedules,
)
from marketplace.contracts.services.subscribing import (
                                                    own_subscription,
                                                    start_standing_order,
                                                    stop_standing_order,
                                                    stop_subscription,
                                                    subscribe,
                                                    subscriptions_of,
)

__all__ = [
    "Balance", "ContractInput", "absences_by_distribution", "absences_for", "absences_left", "amount_cents", "balance",
    "cancel_subscription_orders", "choices_of", "create_contract", "create_due_orders", "create_order_for",
    "create_subscription_orders", "declare_absence", "delivery_plan", "due_distribution_ids", "get_contract",
    "managed_contracts", "open_contracts", "own_subscription", "pay_instalment_from_account", "record_instalment",
    "refresh_schedule", "refresh_series_schedules", "require_contract_manager", "revise_text",
    "season_distributions", "set_baskets", "set_contract_status", "start_standing_order", "stop_standing_order",
    "stop_subscription", "subscribe", "subscriber_ids", "subscriptions_of", "withdraw_absence",
]
