"""Every session listener that rides on a transaction, installed once, in one explicit order.

SQLAlchemy runs the listeners of one event in the order they were installed; this module is that order
(it used to be whatever order the modules happened to be imported in). Each listener works inside the
transaction it watches and never commits:

1. privacy: before a flush, keep a member's former e-mail, name and address (FormerIdentifier rows);
2. audit: the append-only guard on bulk statements; after each flush, collect what changed; before the
   commit, write the audit rows in the same transaction (so a rolled-back change leaves no trace);
3. catalogue cache: after a flush, note that products changed; after the commit, bump the cache version;
   then each product page's own version (catalog/product_stamps.py: the products a commit changed, their
   stock taken by checkouts included); then the members' page cache: note the members (and settings)
   changed, bump their versions after the commit;
4. outbox last: after the commit, publish the tasks the transaction enqueued, so a worker finds every row
   above committed and the catalogue's new version already visible.

When the whole transaction is rolled back, each step forgets its notes. A savepoint's rollback
(`begin_nested()` ... rollback) undoes only the changes made inside it, and the steps follow that: audit drops
the rows collected inside the savepoint and keeps those collected before it (core.commit_notes keeps them per
savepoint; a released savepoint's rows join the transaction's); the caches keep every note (a needless bump
is one cache miss, a missing one a stale page) and so does the outbox (a task enqueued inside the savepoint
lost its row with it: publishing claims existing rows only, so nothing is sent for it).
`install` is called by the app factory; it is idempotent (tests build many apps in one process).
"""
from __future__ import annotations

from flask import Flask

from marketplace import tasking
from marketplace.audit import handlers as audit_log
from marketplace.audit.models import install_append_only_guard
from marketplace.catalog import cache as catalogue_cache
from marketplace.catalog import member_pages, product_stamps
from marketplace.privacy import models as former_identifiers


def install(app: Flask | None = None) -> None:
    """Install the listeners in the order above (the same for every app: SQLAlchemy's Session class)."""
    former_identifiers.install()
    install_append_only_guard()
    audit_log.install()
    catalogue_cache.install()
    product_stamps.install()
    member_pages.install()
    tasking.install_session_hooks()
