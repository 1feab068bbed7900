"""What the audit log records without other domains calling it.

1. Order signals (orders/signals.py): money-moving order events.
2. A watch on the rows that admins and money change in other domains (membership decisions,
   settings, pickup places and zones, payouts, refunds, the payments ledger, billing periods
   and costs...). After each flush, every watched row that was created or whose watched
   fields changed gets an entry with the fields before and after, written on the same
   connection, so it commits or rolls back with the change itself. The entries wait per
   savepoint (core.commit_notes): a savepoint rolled back takes its own entries with it and
   leaves those noted before it; a savepoint released hands its entries to the transaction.
   The "before" of a watched field is always its old value: SQLAlchemy forgets loaded values at
   each commit and at a savepoint's rollback, so the watched fields (those only) are set to load
   their old value before a change (`active_history`): the SELECT of the row that the flush made
   anyway to update an expired row comes at the change instead.
"""
from __future__ import annotations

from collections.abc import Iterator

from flask import g, has_request_context
from sqlalchemy import event, inspect
from sqlalchemy.orm import QueryableAttribute, Session

from marketplace.accounts import signals as account_signals
from marketplace.audit.models import AuditEntry
from marketplace.audit.services import dumps, record
from marketplace.core.commit_notes import TransactionNotes
from marketplace.extensions import db
from marketplace.orders import signals
from marketplace.timeutil import utcnow


def _current_actor_id() -> int | None:
    # Read what Flask-Login already loaded: querying the user here would run inside a flush.
    if not has_request_context():
        return None
    user = getattr(g, "_login_user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return getattr(user, "id", None)


# ---------------------------------------------------------------- member accounts

@account_signals.movement_posted.connect
def _account_movement(movement, actor=None, before_cents: int = 0, note: str = "", **_kw):
    record(actor, f"account.{movement.kind.value}", movement, {"balance_cents": before_cents},
           {"balance_cents": before_cents + movement.amount_cents, "amount_cents": movement.amount_cents,
            "user_id": movement.user_id, "order_id": movement.order_id, "means": movement.means}, note=note)


# ---------------------------------------------------------------- order signals

@signals.order_placed.connect
def _order_placed(order, **_kw):
    record(order.buyer_id, "order.placed", order, {},
           {"reference": order.reference, "payment_method": order.payment_method,
            "estimated_cents": order.goods_estimated_cents, "delivery_fee_cents": order.delivery_fee_cents})


@signals.part_cancelled.connect
def _part_cancelled(part, reason: str = "", **_kw):
    record(_current_actor_id(), "order_part.cancelled", part, {}, {"order_id": part.order_id,
                                                                   "producer_id": part.producer_id,
                                                                   "estimated_cents": part.estimated_cents},
           note=reason or "")


@signals.line_rejected.connect
def _line_rejected(line, **_kw):
    record(_current_actor_id(), "order_line.rejected", line, {"status": "active"},
           {"status": "rejected", "credited_cents": line.credited_cents}, note=line.rejection_reason or "")


@signals.order_completed.connect
def _order_completed(order, **_kw):
    record(_current_actor_id(), "order.completed", order, {},
           {"reference": order.reference, "total_due_cents": order.total_due_cents,
            "payment_method": order.payment_method, "payment_status": order.payment_status})


# ---------------------------------------------------------------- row watch

# class name -> (action prefix, watched fields, record creation too)
WATCHED: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "Membership": ("membership", ("status", "member_number",
                                  "decision_reason"), False),
    "User": ("user", ("is_admin", "login_disabled", "erased_at"), False),
    "Setting": ("setting", ("value",), True),
    "PickupPlace": ("pickup_place", ("name", "address", "postcode", "town", "active"), True),
    "DeliveryZone": ("delivery_zone", ("name", "postcodes", "fee_cents", "active"), True),
    "Distribution": ("distribution", ("starts_at", "cutoff_at", "cancelled_at", "closed_at"), True),
    "Order": ("order", ("payment_status",), False),
    "Payout": ("payout", ("status", "gross_cents", "withheld_cents", "reversed_cents"), True),
    "Credit": ("credit", ("kind", "amount_cents", "status", "reason", "order_id", "line_id"), True),
    "LedgerEntry": ("ledger", ("kind", "amount_cents", "order_id", "user_id", "stripe_id", "reference"), True),
    "CourierPayable": ("courier_payable", ("amount_cents", "courier_id", "run_id", "transfer_requested_at"), True),
    "DispatchRules": ("dispatch_rules", ("pay_per_run_cents", "pay_per_km_cents", "pay_per_stop_cents"), True),
    "BillingPeriod": ("billing_period", ("status", "total_cost_cents", "billed_cents", "closed_at"), False),
    "CostEntry": ("cost", ("category", "amount_cents", "vat_cents", "supplier", "incurred_on", "period_id"), True),
    "FeeRuleVersion": ("fee_rule", ("status",), True),
    "BillingSettings": ("billing_settings", ("quorum_percent", "majority_percent"), False),
    "DuesEntry": ("dues", ("amount_cents", "kind"), True),
}


def _watched_attributes() -> Iterator[QueryableAttribute]:
    """The mapped columns named in WATCHED, on every mapped class of a watched name."""
    for mapper in db.Model.registry.mappers:
        spec = WATCHED.get(mapper.class_.__name__)
        if spec is not None:
            yield from (getattr(mapper.class_, name) for name in spec[1] if name in mapper.column_attrs)


def _old_value_loaded(_target, _value, _old_value, _initiator) -> None:
    """Nothing to do: listening with `active_history=True` is what makes SQLAlchemy load the old value."""


def _load_old_values_of_watched_fields() -> None:
    """Without this, a watched field changed on an expired object (after a commit, or a savepoint's rollback)
    has no old value in its history, and its entry's "before" would say None."""
    for attribute in _watched_attributes():
        if not event.contains(attribute, "set", _old_value_loaded):
            event.listen(attribute, "set", _old_value_loaded, active_history=True)


def _field_values(state, fields) -> tuple[dict, dict, bool]:
    before, after, changed = {}, {}, False
    for name in fields:
        if name not in state.mapper.column_attrs:
            continue
        hist = state.attrs[name].history
        if hist.has_changes():
            changed = True
            before[name] = hist.deleted[0] if hist.deleted else None
            after[name] = hist.added[0] if hist.added else None
    return before, after, changed


def _entry_for(obj, is_new: bool) -> dict | None:
    spec = WATCHED.get(type(obj).__name__)
    if spec is None:
        return None
    prefix, fields, on_create = spec
    state = inspect(obj)
    actor = _current_actor_id()
    if is_new:
        if not on_create:
            return None
        after = {name: getattr(obj, name) for name in fields if name in state.mapper.column_attrs}
        before: dict[str, object] = {}
    else:
        before, after, changed = _field_values(state, fields)
        if not changed:
            return None
        if type(obj).__name__ == "Membership" and "status" in after and obj.decided_by_id:
            actor = obj.decided_by_id
    ident = getattr(obj, "id", None)
    if ident is None:
        ident = getattr(obj, "key", None) or getattr(obj, "user_id", None) or ""
    return {"prefix": prefix, "created": is_new, "actor_id": actor,
            "subject_type": getattr(obj, "__tablename__", prefix), "subject_id": str(ident)[:64],
            "before": before, "after": after}


def _merge(pending: dict, row: dict) -> None:
    """Several flushes of one transaction (e.g. a status, then a number) make one entry."""
    key = (row["subject_type"], row["subject_id"])
    if key not in pending:
        pending[key] = row
        return
    seen = pending[key]
    for name, value in row["before"].items():
        seen["before"].setdefault(name, value)
    seen["after"].update(row["after"])
    seen["actor_id"] = seen["actor_id"] or row["actor_id"]


def _merge_all(pending: dict, savepoint_rows: dict) -> None:
    """A released savepoint's entries join the level around it, as a later flush of that level would."""
    for row in savepoint_rows.values():
        _merge(pending, row)


# (subject type, subject id) -> the entry its changes make, per transaction level
_PENDING: TransactionNotes[dict] = TransactionNotes("audit_pending", dict, _merge_all, savepoint_rollback_keeps=False)


def pending_rows(session: Session) -> Iterator[dict]:
    """The entries this transaction will write at its commit if nothing undoes them (each savepoint's included)."""
    for pending in _PENDING.every_level(session):
        yield from pending.values()


def _action(row: dict) -> str:
    if row["created"]:
        return f"{row['prefix']}.created"
    status = row["after"].get("status")
    if status is not None:
        return f"{row['prefix']}.{getattr(status, 'value', status)}"
    return f"{row['prefix']}.updated"


def _after_flush(session: Session, flush_context) -> None:
    if session.info.get("audit_watch_off"):
        return
    pending = _PENDING.current(session)
    for obj in session.new:
        row = _entry_for(obj, True)
        if row:
            _merge(pending, row)
    for obj in session.dirty:
        if session.is_modified(obj, include_collections=False):
            row = _entry_for(obj, False)
            if row:
                _merge(pending, row)


def _before_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: its entries wait for the outer transaction's commit
    if not any(_PENDING.every_level(session)) and not session.new and not session.dirty:
        return
    session.flush()
    pending = _PENDING.take(session)
    if not pending:
        return
    now = utcnow()
    rows = []
    for row in pending.values():
        if not row["created"] and not any(row["before"].get(k) != v for k, v in row["after"].items()):
            continue  # changed and changed back within the transaction
        rows.append({"created_at": now, "actor_id": row["actor_id"], "action": _action(row)[:80],
                     "subject_type": row["subject_type"][:60], "subject_id": row["subject_id"],
                     "before_json": dumps(row["before"]), "after_json": dumps(row["after"]), "note": ""})
    if rows:
        session.connection().execute(AuditEntry.__table__.insert(), rows)


def install() -> None:
    """Write the audit rows of a transaction inside it, before it commits (marketplace.transaction_hooks)."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "before_commit", _before_commit)
    _PENDING.install()
    _load_old_values_of_watched_fields()
