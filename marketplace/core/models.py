"""Cross-domain records: coop settings, outgoing e-mails, the task outbox."""
from __future__ import annotations

from marketplace.extensions import db
from marketplace.timeutil import utcnow


class Setting(db.Model):
    """A coop setting editable by admins (name, colours, texts, shares' nominal value...)."""

    __tablename__ = "settings"
    key = db.Column(db.String(64), primary_key=True)
    value = db.Column(db.Text, nullable=False, default="")


class OutboundEmail(db.Model):
    """Every e-mail the shop sends is recorded first, then delivered by a task."""

    __tablename__ = "outbound_emails"
    id = db.Column(db.Integer, primary_key=True)
    recipient = db.Column(db.String(254), nullable=False, index=True)
    subject = db.Column(db.String(300), nullable=False)
    body = db.Column(db.Text, nullable=False)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    sent_at = db.Column(db.DateTime)
    error = db.Column(db.Text)


class OutboxMessage(db.Model):
    """Tasks to enqueue, written in the same transaction as the change that needs them.

    A beat task drains rows not yet published, so a broker outage never loses work. A drain
    claims its rows (claim_token, lease until claimed_until) so that two drains never publish
    the same row; a row that keeps failing waits next_attempt_at, then is set aside (dead_at)
    for an admin to replay or drop.
    """

    __tablename__ = "task_outbox"
    id = db.Column(db.Integer, primary_key=True)
    task_name = db.Column(db.String(200), nullable=False)
    args_json = db.Column(db.Text, nullable=False, default="[]")
    dedup_key = db.Column(db.String(200), unique=True)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    published_at = db.Column(db.DateTime, index=True)
    attempts = db.Column(db.Integer, nullable=False, default=0)
    last_error = db.Column(db.Text)
    next_attempt_at = db.Column(db.DateTime)
    claim_token = db.Column(db.String(32))
    claimed_until = db.Column(db.DateTime)
    dead_at = db.Column(db.DateTime, index=True)


class ServiceHeartbeat(db.Model):
    """When a Celery worker or beat last proved it was alive (the admin dashboard shows it)."""

    __tablename__ = "service_heartbeats"
    name = db.Column(db.String(200), primary_key=True)
    role = db.Column(db.String(16), nullable=False)
    seen_at = db.Column(db.DateTime, nullable=False)
