"""E-mails to couriers (rendered in the recipient's language and time zone: core.mail)."""
from __future__ import annotations

from datetime import datetime

from flask_babel import format_datetime, format_time
from flask_babel import gettext as _

from marketplace.core.mail import email_template
from marketplace.money import format_money


@email_template(run_id=12, stops=6, km=18.4, starts_at=datetime(2026, 11, 27, 16, 0),
                ends_at=datetime(2026, 11, 27, 18, 30), pay_cents=4350, per_run_cents=1500, per_km_cents=60,
                per_stop_cents=250, expires_at=datetime(2026, 11, 27, 12, 0))
def run_offered(run_id: int, stops: int, km: float, starts_at: datetime, ends_at: datetime, pay_cents: int,
                per_run_cents: int, per_km_cents: int, per_stop_cents: int, expires_at: datetime) -> tuple[str, str]:
    """Times are naive UTC, shown in the coop's time zone without seconds."""
    rule = _("%(run)s per run + %(km)s per km + %(stop)s per stop", run=format_money(per_run_cents),
             km=format_money(per_km_cents), stop=format_money(per_stop_cents))
    return (_("A run is offered to you"),
            _("Run %(id)s: %(stops)d stops, %(km).1f km, %(start)s–%(end)s. Pay: %(pay)s (%(rule)s). "
              "Accept or decline it on your courier page before %(expires)s.",
              id=run_id, stops=stops, km=km, start=format_datetime(starts_at, "short"),
              end=format_time(ends_at, "short"), pay=format_money(pay_cents), rule=rule,
              expires=format_datetime(expires_at, "short")))


@email_template(run_id=12)
def run_withdrawn(run_id: int) -> tuple[str, str]:
    return (_("Run %(id)s was given to another courier", id=run_id),
            _("The dispatcher has changed run %(id)s: it is no longer yours.", id=run_id))
