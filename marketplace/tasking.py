"""Celery wiring (Flask's celery_init_app pattern) and enqueue-after-commit."""
from __future__ import annotations

import json

from celery import Celery, Task
from flask import Flask, current_app
from sqlalchemy import event

from marketplace.extensions import db


def celery_init_app(app: Flask) -> Celery:
    """Create the Celery app whose tasks all run inside a Flask app context."""

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(app.config["CELERY"])
    celery_app.conf.beat_schedule = beat_schedule()
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app


def beat_schedule() -> dict:
    # Periodic work: every rule lives in a service; these only trigger it.
    from marketplace.billing.tasks import BEAT_SCHEDULE as billing_beat
    from marketplace.payments.tasks import BEAT_SCHEDULE as payments_beat

    return {
        **billing_beat,
        **payments_beat,
        "close-distributions-at-cutoff": {"task": "orders.close_due_distributions", "schedule": 30.0},
        "drain-task-outbox": {"task": "core.drain_outbox", "schedule": 15.0},
        "send-pending-emails": {"task": "core.send_pending_emails", "schedule": 20.0},
        "dispatch-plan-due-slots": {"task": "dispatch.plan_due_slots", "schedule": 60.0},
        "dispatch-expire-due-offers": {"task": "dispatch.expire_due_offers", "schedule": 30.0},
    }


def enqueue_after_commit(task_name: str, args: list, dedup_key: str | None = None) -> None:
    """Record a task in the outbox within the current transaction; publish it once committed.

    If the broker is down at commit time the row stays unpublished and the beat task
    `core.drain_outbox` publishes it later, so no work is lost and no task sees a rolled-back row.
    """
    from marketplace.core.models import OutboxMessage

    if dedup_key is not None:
        existing = db.session.query(OutboxMessage.id).filter_by(dedup_key=dedup_key).first()
        if existing:
            return
    message = OutboxMessage(task_name=task_name, args_json=json.dumps(args), dedup_key=dedup_key)
    db.session.add(message)
    pending = db.session.info.setdefault("outbox_to_publish", [])
    pending.append(message)


def _after_commit(session) -> None:
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
    publish_outbox(app, ids)


def _after_rollback(session) -> None:
    session.info.pop("outbox_to_publish", None)


def install_session_hooks() -> None:
    from sqlalchemy.orm import Session

    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", lambda s, t: _after_rollback(s))


def publish_outbox(app: Flask, ids: list[int] | None = None) -> int:
    """Send unpublished outbox rows to the broker; rows stay unpublished if it is unreachable."""
    from marketplace.core.models import OutboxMessage
    from marketplace.timeutil import utcnow

    celery_app = app.extensions["celery"]
    published = 0
    # A separate session: we are inside after_commit of the caller's session.
    with db.engine.connect() as conn:
        query = db.select(OutboxMessage.__table__).where(OutboxMessage.__table__.c.published_at.is_(None))
        if ids is not None:
            query = query.where(OutboxMessage.__table__.c.id.in_(ids))
        rows = conn.execute(query.order_by(OutboxMessage.__table__.c.id).limit(500)).mappings().all()
        for row in rows:
            try:
                celery_app.send_task(row["task_name"], args=json.loads(row["args_json"]),
                                     retry=False)
            except Exception as exc:  # broker down: leave it for the beat drain
                conn.execute(OutboxMessage.__table__.update().where(OutboxMessage.__table__.c.id == row["id"])
                             .values(attempts=row["attempts"] + 1, last_error=str(exc)[:500]))
                conn.commit()
                break
            conn.execute(OutboxMessage.__table__.update().where(OutboxMessage.__table__.c.id == row["id"])
                         .values(published_at=utcnow(), attempts=row["attempts"] + 1))
            conn.commit()
            published += 1
    return published
