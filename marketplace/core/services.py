"""Coop settings and e-mail: small services every domain uses."""
from __future__ import annotations

import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from marketplace.core.models import OutboundEmail, ServiceHeartbeat, Setting
from marketplace.extensions import db
from marketplace.timeutil import utcnow

# What a coop changes to make the shop its own, without forking.
DEFAULT_SETTINGS: dict[str, str] = {
    "coop_name": "La Coop des Champs",
    "coop_legal_form": "SCIC SAS à capital variable",
    "coop_address": "12 rue des Halles, 44000 Nantes",
    "coop_tagline": "Local food, sold by the people who grow it.",
    "coop_logo_url": "",
    "colour_primary": "#2f6b3a",
    "colour_accent": "#e8a33d",
    "welcome_text": "",
    "share_nominal_cents": "2000",
    "shares_minimum": "1",
    "weight_margin_percent": "20",
    "delivery_fee_rule_text": "The delivery fee covers the courier's pay at cost: one flat fee per zone, "
                              "the same for everyone.",
    # The coop's identity on its own invoices and on those it issues under billing mandates.
    "coop_siret": "",
    "coop_vat_number": "",
    "coop_vat_regime": "subject",       # or "franchise" (TVA non applicable, art. 293 B du CGI)
    "coop_registration": "",            # e.g. "RCS Nantes 123 456 789"
    "services_vat_rate_bp": "2000",     # VAT on the coop's fees and on delivery it sells
    "delivery_seller": "coop",          # who sells home delivery: "coop", or "courier" (under their mandate)
    "default_vat_rate_bp": "550",       # preselected VAT rate for a new product
    # Published rules for card payments (payments domain): who bears a lost chargeback
    # ("coop_absorbs" or "reverse_producers"), and the most of a payout withheld for fees due.
    "lost_chargeback_rule": "coop_absorbs",
    "withholding_cap_percent": "50",
    # Member accounts: a weighing difference below this (either way) is carried to the buyer's account
    # instead of a new charge or refund.
    "account_carry_over_cents": "200",
}


# Default texts are shown in the reader's language until the coop writes its own.
TRANSLATED_DEFAULTS = {
    "coop_tagline": _l("Local food, sold by the people who grow it."),
    "delivery_fee_rule_text": _l("The delivery fee covers the courier's pay at cost: one flat fee per zone, "
                                 "the same for everyone."),
}


def _default(key: str) -> str:
    return str(TRANSLATED_DEFAULTS[key]) if key in TRANSLATED_DEFAULTS else DEFAULT_SETTINGS.get(key, "")


def get_setting(key: str) -> str:
    row = db.session.get(Setting, key)
    if row is not None:
        return row.value
    return _default(key)


def get_int_setting(key: str) -> int:
    try:
        return int(get_setting(key))
    except ValueError:
        return int(DEFAULT_SETTINGS[key])


def all_settings() -> dict[str, str]:
    values = {key: _default(key) for key in DEFAULT_SETTINGS}
    # Plain rows, no ORM objects: every rendered page reads them.
    values.update((key, value) for key, value in db.session.execute(select(Setting.key, Setting.value)))
    return values


def set_setting(key: str, value: str) -> None:
    """Change one coop setting (admins only: checked by the caller's service)."""
    if key not in DEFAULT_SETTINGS:
        raise KeyError(key)
    row = db.session.get(Setting, key)
    if row is None:
        db.session.add(Setting(key=key, value=value))
    else:
        row.value = value


def queue_email(recipient: str, subject: str, body: str) -> OutboundEmail:
    """Record an e-mail in the same transaction as the change it reports; a task sends it."""
    email = OutboundEmail(recipient=recipient, subject=subject[:300], body=body)
    db.session.add(email)
    return email


def send_pending_emails(limit: int = 100) -> int:
    """Deliver queued e-mails over SMTP when a server is configured; otherwise mark them logged."""
    server = current_app.config.get("MAIL_SERVER")
    sent = 0
    pending = (db.session.query(OutboundEmail).filter(OutboundEmail.sent_at.is_(None))
               .order_by(OutboundEmail.id).limit(limit).with_for_update(skip_locked=True).all())
    for email in pending:
        if server:
            message = EmailMessage()
            message["From"] = current_app.config["MAIL_DEFAULT_SENDER"]
            message["To"] = email.recipient
            message["Subject"] = email.subject
            message.set_content(email.body)
            try:
                with smtplib.SMTP(server, current_app.config["MAIL_PORT"], timeout=10) as smtp:
                    smtp.send_message(message)
            except (OSError, smtplib.SMTPException) as exc:
                email.error = str(exc)[:500]
                continue
        else:
            current_app.logger.info("E-mail to %s: %s", email.recipient, email.subject)
        email.sent_at = utcnow()
        sent += 1
    db.session.flush()
    return sent


# ---------------------------------------------------------------- worker and beat liveness

@dataclass(frozen=True)
class ServiceStatus:
    name: str
    role: str
    seen_at: datetime
    alive: bool


def note_heartbeat(name: str, role: str, now: datetime | None = None) -> None:
    """A worker or beat says it is alive (one row per process name, updated in place)."""
    row = db.session.get(ServiceHeartbeat, name)
    if row is None:
        db.session.add(ServiceHeartbeat(name=name[:200], role=role, seen_at=now or utcnow()))
    else:
        row.seen_at = now or utcnow()
    db.session.flush()


def service_statuses(now: datetime | None = None) -> dict[str, list[ServiceStatus]]:
    """Workers and beats seen in the last day, by role; alive if seen within HEARTBEAT_STALE_S."""
    now = now or utcnow()
    stale = timedelta(seconds=current_app.config["HEARTBEAT_STALE_S"])
    rows = (db.session.query(ServiceHeartbeat).filter(ServiceHeartbeat.seen_at > now - timedelta(days=1))
            .order_by(ServiceHeartbeat.seen_at.desc()).all())
    statuses: dict[str, list[ServiceStatus]] = {"worker": [], "beat": []}
    for row in rows:
        statuses.setdefault(row.role, []).append(
            ServiceStatus(row.name, row.role, row.seen_at, alive=row.seen_at > now - stale))
    return statuses


def prune_heartbeats(now: datetime | None = None) -> int:
    """Forget processes not seen for a week (containers replaced by new ones)."""
    cutoff = (now or utcnow()) - timedelta(days=7)
    return db.session.query(ServiceHeartbeat).filter(ServiceHeartbeat.seen_at < cutoff).delete()
