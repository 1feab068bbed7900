"""What a transaction noted for after its commit: the cache versions to bump (catalogue, members' pages).

A listener notes items in the session (`add`) while the transaction runs; once the outermost transaction
commits they are handed, once, to `on_commit`. When the whole transaction rolls back they are forgotten. A
savepoint's rollback forgets nothing: the outer transaction may still commit what was noted before the
savepoint, and an item noted inside it costs one needless bump (a cache miss), where a forgotten one would
leave a stale page.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable

from sqlalchemy import event
from sqlalchemy.orm import Session


class CommitNotes:
    """One kind of note, kept under `session.info[name]`."""

    def __init__(self, name: str, on_commit: Callable[[set], None]):
        self.name = name
        self.on_commit = on_commit

    def add(self, session: Session, items: Iterable[Hashable]) -> None:
        session.info.setdefault(self.name, set()).update(items)

    def _after_commit(self, session: Session) -> None:
        if session.in_nested_transaction():
            return
        noted = session.info.pop(self.name, None)
        if noted:
            self.on_commit(noted)

    def _after_rollback(self, session: Session, previous=None) -> None:
        if previous is None or previous.parent is None:  # the whole transaction, not a savepoint
            session.info.pop(self.name, None)

    def install(self) -> None:
        """Listen on every session (idempotent: tests build many apps in one process)."""
        if not event.contains(Session, "after_commit", self._after_commit):
            event.listen(Session, "after_commit", self._after_commit)
            event.listen(Session, "after_soft_rollback", self._after_rollback)
