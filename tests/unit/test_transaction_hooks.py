"""The session listeners run in the order marketplace/transaction_hooks.py states."""
from __future__ import annotations

import pytest

from marketplace import tasking
from marketplace.catalog import cache
from marketplace.core.models import OutboxMessage
from marketplace.extensions import db
from marketplace.tasking import enqueue_after_commit
from tests.factories import make_producer, make_product


@pytest.fixture
def app_config():
    # Publish for real (to an in-memory broker) instead of the unit tests' eager mode.
    return {"CELERY": {"task_always_eager": False, "broker_url": "memory://", "result_backend": "cache+memory://"}}


def test_tasks_are_published_once_the_catalogue_cache_has_moved_on(app, monkeypatch):
    product = make_product(make_producer("farm@test.coop"), "Carrots")
    db.session.commit()
    before = cache.version()
    seen_by_publisher = []
    publish = tasking.publish_outbox

    def publish_and_note_the_version(app_, ids=None):
        seen_by_publisher.append(cache.version())
        return publish(app_, ids)

    monkeypatch.setattr(tasking, "publish_outbox", publish_and_note_the_version)
    product.name = "Purple carrots"
    enqueue_after_commit("core.send_pending_emails", [], dedup_key="after-a-catalogue-change")
    db.session.commit()
    # A worker taking the task finds the new catalogue version already there, never the stale pages.
    assert before is not None and seen_by_publisher == [before + 1]
    assert db.session.query(OutboxMessage).filter_by(dedup_key="after-a-catalogue-change").one().published_at
