"""Tasks enqueued before a SAVEPOINT are published when the outer transaction commits, not lost with it."""
from __future__ import annotations

import pytest

from marketplace.core.models import OutboxMessage
from marketplace.extensions import db
from marketplace.tasking import enqueue_after_commit


@pytest.fixture
def app_config():
    # Publish for real (to an in-memory broker) instead of the unit tests' eager mode.
    return {"CELERY": {"task_always_eager": False, "broker_url": "memory://", "result_backend": "cache+memory://"}}


@pytest.mark.parametrize("savepoint_fails", [False, True])
def test_a_savepoint_inside_the_transaction_does_not_drop_the_tasks_to_publish(app, savepoint_fails):
    enqueue_after_commit("core.send_pending_emails", [], dedup_key="before-savepoint")
    try:
        with db.session.begin_nested():  # e.g. invoicing's receivers run in a savepoint
            db.session.flush()
            if savepoint_fails:
                raise RuntimeError("the receiver failed")
    except RuntimeError:
        pass
    db.session.commit()
    message = db.session.query(OutboxMessage).filter_by(dedup_key="before-savepoint").one()
    assert message.published_at is not None and message.attempts == 1
