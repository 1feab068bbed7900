"""Admin-only use cases that span domains: coop settings, order search."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from flask_babel import gettext as _
from sqlalchemy.orm import selectinload

from marketplace.audit.services import record
from marketplace.catalog.services import VAT_RATES_BP
from marketplace.core import outbox
from marketplace.core.contrast import weakest_contrast
from marketplace.core.errors import NotFound, ServiceError
from marketplace.core.legal import VatRegime, clean_siret, clean_vat_number
from marketplace.core.models import OutboxMessage
from marketplace.core.services import ServiceStatus, service_statuses, set_setting
from marketplace.distributions.models import Distribution
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.members.services import require_admin
from marketplace.orders.models import Order, OrderPart

_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


def update_settings(admin: User, values: dict[str, str]) -> None:
    """Make the shop the coop's own: name, colours, texts, shares' nominal value."""
    require_admin(admin)
    for key in ("colour_primary", "colour_accent"):
        if key in values and not _COLOUR.match(values[key]):
            raise ServiceError(_("Colours are written #RRGGBB."), key)
        problem = weakest_contrast(key, values[key]) if key in values else None
        if problem is not None:
            raise ServiceError(_("This colour is hard to read with %(where)s (contrast %(ratio)s:1, at least 4.5:1 "
                                 "is needed): choose a darker or lighter one.", where=problem.where,
                                 ratio=f"{problem.ratio:.1f}"), key)
    logo_url = values.get("coop_logo_url")
    if logo_url and not re.match(r"^(https://|/)", logo_url):
        raise ServiceError(_("The logo address must start with https:// or /."), "coop_logo_url")
    _check_invoicing_settings(values)
    for key, value in values.items():
        set_setting(key, value)


INVOICING_SETTINGS = ("coop_siret", "coop_registration", "coop_vat_regime", "coop_vat_number",
                      "services_vat_rate_bp", "default_vat_rate_bp", "delivery_seller")


def _check_invoicing_settings(values: dict[str, str]) -> None:
    """The coop's legal identifiers are valid (python-stdnum), its VAT choices are known ones."""
    if "coop_siret" in values:
        values["coop_siret"] = clean_siret(values["coop_siret"], "coop_siret")
    if "coop_vat_number" in values:
        values["coop_vat_number"] = clean_vat_number(values["coop_vat_number"], values.get("coop_siret", "")[:9],
                                                     "coop_vat_number")
    if values.get("coop_vat_regime", "subject") not in {r.value for r in VatRegime}:
        raise ServiceError(_("Choose whether the coop charges VAT."), "coop_vat_regime")
    for key in ("services_vat_rate_bp", "default_vat_rate_bp"):
        if key in values and values[key] not in {str(bp) for bp in VAT_RATES_BP}:
            raise ServiceError(_("Choose one of the VAT rates."), key)
    if values.get("delivery_seller", "coop") not in ("coop", "courier"):
        raise ServiceError(_("Choose who sells home delivery."), "delivery_seller")


def search_orders(admin: User, *, day: date | None = None, producer_id: int | None = None,
                  status: str | None = None, pickup_place_id: int | None = None, limit: int = 200) -> list[Order]:
    """Orders matching the admin's filters, newest first."""
    require_admin(admin)
    query = db.session.query(Order).join(Distribution)
    if day:
        start = datetime.combine(day, time.min)
        query = query.filter(Distribution.starts_at >= start, Distribution.starts_at < start + timedelta(days=1))
    if producer_id:
        query = query.filter(Order.parts.any(OrderPart.producer_id == producer_id))
    if pickup_place_id:
        query = query.filter(Distribution.pickup_place_id == pickup_place_id)
    if status:
        query = query.filter(Order.parts.any(OrderPart.status == status))
    # Everything the list shows, in a fixed number of statements whatever the number of orders; what each
    # order is due is summed by the database (orders.total_due_cents_by_order), its lines are not loaded.
    query = query.options(selectinload(Order.buyer), selectinload(Order.parts),
                          selectinload(Order.distribution).selectinload(Distribution.pickup_place))
    return query.order_by(Order.created_at.desc()).limit(limit).all()


# ---------------------------------------------------------------- background work (Celery, outbox)

@dataclass(frozen=True)
class BackgroundStatus:
    workers: list[ServiceStatus]
    beats: list[ServiceStatus]
    outbox: outbox.OutboxHealth
    oldest_pending: timedelta | None

    @property
    def healthy(self) -> bool:
        """A worker and a beat alive, no dead letter, nothing waiting for more than two minutes."""
        return (any(w.alive for w in self.workers) and any(b.alive for b in self.beats) and not self.outbox.dead
                and (self.oldest_pending or timedelta(0)) < timedelta(minutes=2))


def background_status(admin: User, now: datetime | None = None) -> BackgroundStatus:
    """Are the worker and beat alive, and is the outbox being published? (the admin dashboard)"""
    require_admin(admin)
    statuses = service_statuses(now)
    health = outbox.health()
    age = health.oldest_age_s(now)
    return BackgroundStatus(workers=statuses["worker"], beats=statuses["beat"], outbox=health,
                            oldest_pending=None if age is None else timedelta(seconds=age))


def _dead_letter(message_id: int) -> OutboxMessage:
    message = outbox.get_dead_letter(message_id)
    if message is None:
        raise NotFound(_("No such set-aside task."))
    return message


def _snapshot(message: OutboxMessage) -> dict:
    return {"task": message.task_name, "args": message.args_json, "attempts": message.attempts,
            "last_error": message.last_error or ""}


def replay_dead_letter(admin: User, message_id: int) -> OutboxMessage:
    """Send a set-aside task again (e.g. after a fix was deployed): the next drain publishes it."""
    require_admin(admin)
    message = _dead_letter(message_id)
    record(admin, "outbox.replay", message, before=_snapshot(message))
    outbox.revive(message)
    db.session.flush()
    return message


def drop_dead_letter(admin: User, message_id: int) -> None:
    """Give up on a set-aside task for good; the audit log keeps what it was."""
    require_admin(admin)
    message = _dead_letter(message_id)
    record(admin, "outbox.drop", message, before=_snapshot(message))
    db.session.delete(message)
    db.session.flush()
