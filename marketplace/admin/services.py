"""Admin-only use cases that span domains: coop settings, order search."""
from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from flask_babel import gettext as _

from marketplace.catalog.services import VAT_RATES_BP
from marketplace.core.errors import ServiceError
from marketplace.core.legal import VatRegime, clean_siret, clean_vat_number
from marketplace.core.services import set_setting
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
    if "coop_logo_url" in values and values["coop_logo_url"] and not re.match(r"^(https://|/)", values["coop_logo_url"]):
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
    return query.order_by(Order.created_at.desc()).limit(limit).all()
