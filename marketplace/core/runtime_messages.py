"""Words stored as data (status, unit, college... values) and translated when shown: `_(value)`.

Listing them here keeps them in the message catalogue when it is re-extracted."""
from flask_babel import lazy_gettext as _l

RUNTIME_WORDS = (
    _l("kg"), _l("piece"), _l("litre"), _l("bunch"), _l("box"), _l("active"),
    _l("archived"), _l("upcoming"), _l("open"), _l("closed"), _l("cancelled"), _l("producer"),
    _l("courier"), _l("buyer"), _l("supporter"), _l("pending"), _l("rejected"), _l("suspended"),
    _l("left"), _l("placed"), _l("accepted"), _l("ready"), _l("handed_to_courier"), _l("collected"),
    _l("delivered"), _l("due"), _l("awaiting"), _l("authorised"), _l("paid"), _l("refunded"),
    _l("voting"), _l("adopted"), _l("withdrawn"), _l("planned"), _l("unassigned"), _l("failed"),
    _l("offered"), _l("in_progress"), _l("done"), _l("pickup"), _l("dropoff"), _l("bike"),
    _l("cargo_bike"), _l("van"), _l("blocked"), _l("hosting"), _l("software"), _l("accounting"),
    _l("insurance"), _l("payment_processing"), _l("maintenance"), _l("other"), _l("missing"), _l("damaged"),
    _l("late"),
)

# The dispatch planner's reasons for leaving a delivery unassigned (stored in English).
PLANNER_REASONS = (
    _l("heavier than any available vehicle"),
    _l("more parcels than any available vehicle can carry"),
    _l("no single vehicle can carry both its weight and its parcels"),
    _l("needs more stops than any courier's max_stops"),
    _l("drop-off window is outside every courier's shift"),
    _l("no courier available"),
    _l("no courier could fit it in their window/capacity"),
    _l("no courier could fit all its pickups within their max_stops"),
    _l("could not be kept in a feasible run"),
    _l("no available courier covers its delivery zone"),
)
