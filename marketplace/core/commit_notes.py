"""What a transaction noted for its commit, kept per savepoint: the audit rows to write, the cache versions to bump.

A listener notes items in the session (`add`) while the transaction runs, into the innermost transaction level
open (the outer transaction, or the savepoint `begin_nested` opened inside it). A savepoint released hands its
notes to the level around it; a savepoint rolled back either forgets its notes (`savepoint_rollback_keeps=False`:
what was noted inside it was undone with it) or also hands them on (`True`: for notes where a needless one is
cheap and a missing one is wrong). The notes of the level around it are never touched: the outer transaction may
still commit what was noted before the savepoint. When the whole transaction rolls back (or the session closes
without committing) every note of it is forgotten.

`TransactionNotes` keeps the notes; the outermost transaction's are taken with `take` (e.g. just before the
commit, to write them inside it). `CommitNotes` hands them, once, to `on_commit` after the commit: the cache
versions to bump (catalogue, members' pages). Those keep a rolled-back savepoint's notes: an item noted inside
it costs one needless bump (a cache miss), where a forgotten one would leave a stale page.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Iterable, Iterator
from typing import Generic, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

N = TypeVar("N")
# A level of the transaction: None for the outer transaction (also before it has begun: a note taken while a
# statement is about to start it), else the SAVEPOINT's SessionTransaction.
Level = SessionTransaction | None


def changed_objects(session: Session, names: Collection[str] | None = None) -> Iterator[object]:
    """The objects a flush is writing (in `after_flush`): added, deleted, or changed in a column or collection (an
    object merely touched is left out); only those of the classes named, if `names` is given."""
    for obj in (*session.new, *session.deleted):
        if names is None or type(obj).__name__ in names:
            yield obj
    for obj in session.dirty:
        if (names is None or type(obj).__name__ in names) and session.is_modified(obj):
            yield obj


def _level_around(savepoint: SessionTransaction) -> Level:
    parent = savepoint.parent
    while parent is not None and not parent.nested:
        parent = parent.parent  # a flush's subtransaction is no level of its own; the outer transaction's is None
    return parent


class TransactionNotes(Generic[N]):
    """One kind of note, kept per transaction level under `session.info[name]`."""

    def __init__(self, name: str, empty: Callable[[], N], merge: Callable[[N, N], None],
                 savepoint_rollback_keeps: bool):
        """`empty()` makes a level's notes; `merge(into, notes)` adds a savepoint's notes to the level around it."""
        self.name = name
        self.empty = empty
        self.merge = merge
        self.savepoint_rollback_keeps = savepoint_rollback_keeps

    def _levels(self, session: Session) -> dict[Level, N]:
        return session.info.setdefault(self.name, {})

    def current(self, session: Session) -> N:
        """The notes of the innermost level open: add to them (in place)."""
        levels = self._levels(session)
        level = session.get_nested_transaction()
        if level not in levels:
            levels[level] = self.empty()
        return levels[level]

    def every_level(self, session: Session) -> Iterator[N]:
        """The notes of every level still open, outermost first."""
        yield from session.info.get(self.name, {}).values()

    def take(self, session: Session) -> N | None:
        """The outer transaction's notes, removed; None inside a savepoint (its notes are not the transaction's)."""
        if session.in_nested_transaction():
            return None
        levels = session.info.get(self.name)
        return levels.pop(None, None) if levels else None

    def _hand_on(self, session: Session, savepoint: SessionTransaction) -> None:
        levels = session.info.get(self.name)
        notes = levels.pop(savepoint, None) if levels else None
        if notes is None:
            return
        assert levels is not None
        around = _level_around(savepoint)
        if around in levels:
            self.merge(levels[around], notes)
        else:
            levels[around] = notes

    def _released(self, session: Session) -> None:
        savepoint = session.get_nested_transaction()
        if savepoint is not None:
            self._hand_on(session, savepoint)

    def _ended(self, session: Session, transaction: SessionTransaction) -> None:
        if transaction.nested:
            if self.savepoint_rollback_keeps:
                self._hand_on(session, transaction)  # a released savepoint's notes were handed on already
            else:
                levels = session.info.get(self.name)
                if levels:
                    levels.pop(transaction, None)
        elif transaction.parent is None:  # the outer transaction: anything not taken by now is forgotten
            session.info.pop(self.name, None)

    def _after_commit(self, session: Session) -> None:
        self._released(session)

    def install(self) -> None:
        """Listen on every session (idempotent: tests build many apps in one process)."""
        if not event.contains(Session, "after_commit", self._after_commit):
            event.listen(Session, "after_commit", self._after_commit)
            event.listen(Session, "after_transaction_end", self._ended)


def _update(into: set, notes: set) -> None:
    into.update(notes)


class CommitNotes(TransactionNotes[set]):
    """Items handed, once, to `on_commit` after the outer transaction commits; a savepoint's rollback keeps them."""

    def __init__(self, name: str, on_commit: Callable[[set], None]):
        super().__init__(name, set, _update, savepoint_rollback_keeps=True)
        self.on_commit = on_commit

    def add(self, session: Session, items: Iterable[Hashable]) -> None:
        self.current(session).update(items)

    def _after_commit(self, session: Session) -> None:
        super()._after_commit(session)  # a savepoint released: its notes go to the level around it
        noted = self.take(session)  # None after a savepoint
        if noted:
            self.on_commit(noted)
