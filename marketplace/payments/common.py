"""What every payments module shares: the clock, reading Stripe objects, the ledger and admin alerts."""
from __future__ import annotations

import json
from datetime import UTC, datetime

import stripe
from flask import current_app
from flask_babel import gettext as _

from marketplace import timeutil
from marketplace.core.errors import NotFound
from marketplace.core.mail import Composer, render_email, render_stored, send_email, template_name
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.members.services import require_admin
from marketplace.payments.models import LedgerEntry, LedgerKind, PaymentAlert


def now() -> datetime:
    """The time payments reason with (naive UTC), read at each call so tests can move it."""
    return timeutil.utcnow()


def from_timestamp(value: int | None) -> datetime | None:
    """A Stripe Unix timestamp as our naive UTC datetime."""
    if value is None:
        return None
    return datetime.fromtimestamp(int(value), UTC).replace(tzinfo=None)


def to_timestamp(value: datetime) -> int:
    return int(value.replace(tzinfo=UTC).timestamp())


def attr(obj, name: str, default=None):
    """Read a field of a Stripe object (or a plain dict from a webhook payload)."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    try:
        return getattr(obj, name)
    except AttributeError:
        return default


def id_of(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return attr(value, "id")


def refused_by_stripe(exc: stripe.StripeError) -> bool:
    """A definitive answer (4xx, not a conflict or rate limit): Stripe saved it under the idempotency key,
    so the same key would replay it for 24 hours; a new attempt needs a new key."""
    status = getattr(exc, "http_status", None) or 0
    return isinstance(exc, stripe.InvalidRequestError) and 400 <= status < 500 and status not in (409, 429)


def commit_step() -> None:
    """Payments' own transaction protocol, the one exception to "services flush, the boundary commits".

    Lock, decide, commit, then call Stripe: a service locks the row it acts on (SELECT ... FOR UPDATE), decides
    and stores what it will send (the row whose id makes the idempotency key, the amount), and commits here
    before the call (`call_stripe`): a retried task then finds the decision and sends the same request under
    the same key, and the lock is released while Stripe's webhooks come back to us on other connections. The
    outcome of a call, or a decision to do nothing, is committed here too, step by step. Every commit a payments
    service makes goes through this function; nothing else in a service commits.
    """
    db.session.commit()


def call_stripe(call):
    """Commit first (the row whose id makes the idempotency key, and what it decided), then call Stripe.

    Returns (result, None), or (None, the refusal) when Stripe refused the request definitively;
    anything else (network, rate limit, 5xx) is raised for the task to retry under the same key.
    """
    commit_step()
    try:
        return call(), None
    except stripe.InvalidRequestError as exc:
        if not refused_by_stripe(exc):
            raise
        return None, exc


def write_ledger(kind: LedgerKind, amount: int, *, order_id: int | None = None, part_id: int | None = None,
                 user_id: int | None = None, stripe_id: str | None = None, reference: str | None = None,
                 note: str = "") -> LedgerEntry | None:
    """Write a ledger row once (keyed by the Stripe id or our reference)."""
    if amount <= 0:
        return None
    query = db.session.query(LedgerEntry)
    existing = (query.filter_by(stripe_id=stripe_id).first() if stripe_id
                else query.filter_by(reference=reference).first())
    if existing is not None:
        return existing
    entry = LedgerEntry(kind=kind, amount_cents=amount, order_id=order_id, part_id=part_id, user_id=user_id,
                        stripe_id=stripe_id, reference=reference, note=note)
    db.session.add(entry)
    db.session.flush()
    return entry


def admins() -> list[User]:
    return db.session.query(User).filter_by(is_admin=True).all()


def raise_alert(compose: Composer, *, key: str | None = None, order_id: int | None = None,
                **values) -> PaymentAlert:
    """Record an alert for the admins (once per key while open) and e-mail each of them about it.

    `compose` is one of payments.emails' composers and `values` its (JSON) values: the alert stores them
    and is worded in each reader's language; subject and body keep it in the coop's language too."""
    alert = db.session.query(PaymentAlert).filter_by(key=key).first() if key else None
    if alert is not None and alert.resolved_at is None:
        return alert
    if alert is None:
        alert = PaymentAlert(key=key)
        db.session.add(alert)
    subject, body = render_email(current_app.config["BABEL_DEFAULT_LOCALE"], compose, **values)
    alert.subject, alert.body, alert.order_id = subject[:300], body, order_id
    alert.template, alert.values_json = template_name(compose), json.dumps(values)
    alert.created_at, alert.resolved_at, alert.resolved_by_id = now(), None, None
    for admin in admins():
        send_email(admin, compose, **values)
    db.session.flush()
    return alert


def alert_text(alert: PaymentAlert) -> tuple[str, str]:
    """(subject, body) of an alert in the reader's language (as stored, for alerts older than their composer)."""
    worded = render_stored(alert.template, alert.values_json) if alert.template else None
    return worded or (alert.subject, alert.body)


def settle_alert(key: str) -> None:
    """The situation an alert described is over (e.g. a payout went through): close it."""
    alert = db.session.query(PaymentAlert).filter_by(key=key, resolved_at=None).first()
    if alert is not None:
        alert.resolved_at = now()


def open_alerts(admin: User) -> list[PaymentAlert]:
    require_admin(admin)
    return (db.session.query(PaymentAlert).filter(PaymentAlert.resolved_at.is_(None))
            .order_by(PaymentAlert.created_at.desc()).all())


def resolve_alert(admin: User, alert_id: int) -> PaymentAlert:
    """An admin has dealt with an alert (its next step is done)."""
    require_admin(admin)
    alert = db.session.get(PaymentAlert, alert_id)
    if alert is None:
        raise NotFound(_("No such alert."))
    if alert.resolved_at is None:
        alert.resolved_at, alert.resolved_by_id = now(), admin.id
    db.session.flush()
    return alert
