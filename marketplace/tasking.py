"""Celery wiring (Flask's celery_init_app pattern) and enqueue-after-commit through the outbox."""
from __future__ import annotations

import json
import logging
import time

from celery import Celery, Task
from flask import Flask, current_app, g, has_request_context
from sqlalchemy import event

from marketplace.extensions import db

log = logging.getLogger(__name__)
# After a failed publish this process leaves publishing to the beat's drain for a while, so that
# a broker outage costs one short timeout, not one per commit.
BROKER_PAUSE_S = 5.0
_broker_paused_until = 0.0


def celery_init_app(app: Flask) -> Celery:
    """Create the Celery app whose tasks all run inside a Flask app context."""

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(app.config["CELERY"])
    celery_app.flask_app = app
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    from marketplace.core.liveness import install_worker_steps

    install_worker_steps(celery_app)
    app.after_request(_publish_after_response)
    app.teardown_request(_publish_leftovers)
    return celery_app


class UnknownTask(ValueError):
    """A programming error: nobody would ever run this task."""


def enqueue_after_commit(task_name: str, args: list, dedup_key: str | None = None) -> None:
    """Record a task in the outbox within the current transaction; publish it once committed
    (in a web request: once the response has gone out).

    If the broker is down at commit time the row stays unpublished and the beat task
    `core.drain_outbox` publishes it later, so no work is lost and no task sees a rolled-back row.
    An unknown task name is refused here, not discarded later by the worker.
    """
    from marketplace.core.models import OutboxMessage

    if task_name not in current_app.extensions["celery"].tasks:
        raise UnknownTask(f"no Celery task is registered as {task_name!r}")
    payload = json.dumps(args)  # refuses what the worker could not decode, here rather than there
    if dedup_key is not None:
        existing = db.session.query(OutboxMessage.id).filter_by(dedup_key=dedup_key).first()
        if existing:
            return
    message = OutboxMessage(task_name=task_name, args_json=payload, dedup_key=dedup_key)
    db.session.add(message)
    pending = db.session.info.setdefault("outbox_to_publish", [])
    pending.append(message)


def _after_commit(session) -> None:
    if session.in_nested_transaction():
        return  # a SAVEPOINT was released: the outer transaction (and its outbox rows) is not committed yet
    messages = session.info.pop("outbox_to_publish", [])
    if not messages:
        return
    ids = [m.id for m in messages]
    try:
        app = current_app._get_current_object()
    except RuntimeError:
        return
    if app.extensions["celery"].conf.task_always_eager:
        return  # unit tests drive tasks explicitly; the outbox rows are there to inspect
    if has_request_context():
        # Publish once the response has gone out: the member's answer never waits on the broker.
        g.setdefault("outbox_after_response", []).extend(ids)
    else:
        publish_now(app, ids)


def _publish_after_response(response):
    ids = g.pop("outbox_after_response", None)
    if ids:
        app = current_app._get_current_object()
        response.call_on_close(lambda: publish_now(app, ids))
    return response


def _publish_leftovers(_exc) -> None:
    # Committed after the response hook ran, or in a request context that sends no response at all.
    ids = g.pop("outbox_after_response", None)
    if ids:
        publish_now(current_app._get_current_object(), ids)


def publish_now(app: Flask, ids: list[int]) -> None:
    """Publish these rows at once if the broker answers quickly; otherwise the beat's drain will."""
    global _broker_paused_until
    if time.monotonic() < _broker_paused_until:
        return
    try:
        with app.app_context():
            result = publish_outbox(app, ids)
    except Exception:  # the rows are committed: whatever happened here, the drain publishes them
        log.exception("Publishing outbox rows %s after commit failed; the drain will retry", ids)
        return
    if result.broker_error:
        _broker_paused_until = time.monotonic() + BROKER_PAUSE_S
        log.warning("Broker unreachable (%s): %d outbox row(s) left for the drain", result.broker_error, len(ids))


def _after_rollback(session, transaction) -> None:
    # A rolled-back SAVEPOINT leaves the outer transaction, and the tasks it enqueued, alive.
    if transaction.nested:
        return
    session.info.pop("outbox_to_publish", None)


def install_session_hooks() -> None:
    from sqlalchemy.orm import Session

    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", _after_rollback)


def publish_outbox(app: Flask, ids: list[int] | None = None):
    """Send unpublished outbox rows to the broker; rows stay unpublished if it is unreachable."""
    from marketplace.core import outbox

    return outbox.drain(app, ids)
