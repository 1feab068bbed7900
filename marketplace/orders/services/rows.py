"""New rows written with one Core INSERT per table, then kept in the session as if just loaded.

Checkout makes one order with a few parts, lines and an event. The unit of work's flush costs more CPU
than the rows it writes (dependency sorting, per-object bookkeeping, history, syncing foreign keys), so
checkout builds the objects as usual, then `insert_new` writes each table's rows in one statement
(executemany with RETURNING gives the ids in the rows' order) and `keep` makes the objects persistent
and clean: every column holds what was written (defaults included, as a flush would set them), so the
rest of the request (signals, the e-mail, the summary check) reads them without a statement, and a
later change (an event appended) is flushed by the unit of work as usual.

The session's flush listeners never see these rows as new: none of them watches orders, parts, lines
or events when they are created (audit: an order is watched for its payment status only).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, bindparam, event, insert, inspect, select
from sqlalchemy.orm import Mapper, Session, SessionTransaction, make_transient, make_transient_to_detached

from marketplace.extensions import db

_COLUMNS: dict[type, list[tuple[str, Column]]] = {}
_INSERTS: dict[type, Any] = {}
_GUARDED: dict[tuple[type, str], Any] = {}


def _columns(model: type) -> list[tuple[str, Column]]:
    """(attribute, column) of the model's table but its primary key, read once per class."""
    found = _COLUMNS.get(model)
    if found is None:
        found = []
        mapper: Mapper[Any] = inspect(model)
        for prop in mapper.column_attrs:
            column = prop.columns[0]
            if column.primary_key:
                continue
            default = column.default
            if default is not None and not (default.is_scalar or default.is_callable):
                raise TypeError(f"{model.__name__}.{prop.key}: unsupported default {default!r}")
            if default is None and column.server_default is not None:
                raise TypeError(f"{model.__name__}.{prop.key}: only a server default, set it explicitly")
            found.append((prop.key, column))
        _COLUMNS[model] = found
    return found


def _row(obj: Any) -> dict[str, Any]:
    """Every column's value: the one set, else (or when set to None, as the unit of work does) the column's Python
    default (set on the object too)."""
    values = obj.__dict__
    row = {}
    for key, column in _columns(type(obj)):
        if key in values and (values[key] is not None or column.default is None):
            value = values[key]
        else:
            default = column.default
            value = None if default is None else default.arg if default.is_scalar else default.arg(None)
            setattr(obj, key, value)
        row[column.key] = value
    return row


def insert_new(objects: Sequence[Any]) -> None:
    """INSERT these new objects (all of one class, not in the session) in one statement; each gets its id."""
    if not objects:
        return
    model = type(objects[0])
    rows = [_row(obj) for obj in objects]
    statement = _INSERTS.get(model)
    if statement is None:  # built once: its cache key is then computed once too
        table = model.__table__
        statement = _INSERTS[model] = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    connection = db.session.connection()
    if len(rows) == 1:
        ids = [connection.execute(statement, rows[0]).scalar_one()]
    else:
        ids = list(connection.execute(statement, rows).scalars())
    for obj, new_id in zip(objects, ids, strict=True):
        obj.id = new_id


def insert_new_unless_taken(obj: Any, unique: str) -> bool:
    """INSERT this new object unless a row already has its value of the `unique` column, in one statement
    (INSERT ... SELECT ... WHERE NOT EXISTS): True and its id set, or False and nothing written."""
    model = type(obj)
    row = _row(obj)
    statement = _GUARDED.get((model, unique))
    if statement is None:
        table = model.__table__
        params = {key: bindparam(key, type_=table.c[key].type) for key in row}
        taken = select(table.c.id).where(table.c[unique] == params[unique]).exists()
        statement = _GUARDED[(model, unique)] = (
            insert(table).from_select(list(row), select(*params.values()).where(~taken)).returning(table.c.id))
    new_id = db.session.connection().execute(statement, row).scalar_one_or_none()
    if new_id is None:
        return False
    obj.id = new_id
    return True


def keep(root: Any, written: Sequence[Any]) -> None:
    """Make `written` (inserted by `insert_new`, ids set) persistent and unchanged, then add `root`, whose
    relationships reach them: the session holds them as loaded, with nothing left to flush.

    If the transaction (or the savepoint) they were written in is rolled back, they leave the session again
    as transient objects, as objects the unit of work inserted do."""
    session = db.session()
    for obj in written:
        make_transient_to_detached(obj)
    session.add(root)
    transaction = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_KEPT, []).append((transaction, list(written)))
    _install()


_KEPT = "orders_rows_kept"


def _within(transaction: SessionTransaction | None, ended: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ended:
            return True
        transaction = transaction.parent
    return False


def _forget_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    kept = session.info.get(_KEPT)
    if not kept:
        return
    still = []
    for transaction, objects in kept:
        if _within(transaction, previous_transaction):
            for obj in objects:
                make_transient(obj)
        else:
            still.append((transaction, objects))
    if previous_transaction.parent is None or not still:
        session.info.pop(_KEPT, None)
    else:
        session.info[_KEPT] = still


def _forget_committed(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(_KEPT, None)


_installed = False


def _install() -> None:
    """The two listeners above, on every session, from the first rows kept on (once per process)."""
    global _installed
    if _installed:
        return
    if not event.contains(Session, "after_soft_rollback", _forget_rolled_back):
        event.listen(Session, "after_soft_rollback", _forget_rolled_back)
        event.listen(Session, "after_commit", _forget_committed)
    _installed = True
