"""The admin console: members, distributions, pickup places, zones, orders, settings."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import format_timedelta, to_utc
from flask_babel import gettext as _
from flask_login import current_user, login_required
from wtforms import SelectChoice

from marketplace.admin import services
from marketplace.admin.forms import DistributionForm, PickupPlaceForm, RejectForm, SettingsForm, ZoneForm
from marketplace.admin.services import INVOICING_SETTINGS
from marketplace.catalog.models import ProducerProfile
from marketplace.core.errors import Conflict, ServiceError
from marketplace.core.services import all_settings
from marketplace.distributions import services as distribution_services
from marketplace.distributions.models import DeliveryZone, Distribution, PickupPlace
from marketplace.extensions import db
from marketplace.members import services as member_services
from marketplace.members.models import College, Membership, MembershipStatus
from marketplace.members.services import require_admin
from marketplace.money import cents_to_input
from marketplace.orders import services as order_services
from marketplace.web import REFUSED, act, form_status, perform, request_date, request_int

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.add_app_template_global(format_timedelta, "format_timedelta")


@bp.before_request
@login_required
def only_admins():
    require_admin(current_user)


@bp.route("/")
def index():
    pending = db.session.query(Membership).filter_by(status=MembershipStatus.PENDING).count()
    from marketplace.accounts.services import member_liability_cents

    return render_template("admin/index.html", pending=pending, background=services.background_status(current_user),
                           distributions=distribution_services.upcoming_distributions(limit=10),
                           members_money=member_liability_cents())


@bp.route("/background")
def background():
    from marketplace.core.outbox import dead_letters

    return render_template("admin/background.html", background=services.background_status(current_user),
                           dead_letters=dead_letters())


@bp.route("/background/<int:message_id>/replay", methods=["POST"])
def replay_task(message_id: int):
    return act(services.replay_dead_letter, current_user, message_id,
               success=_("The task will be sent again within a minute."), back=url_for("admin.background"))


@bp.route("/background/<int:message_id>/drop", methods=["POST"])
def drop_task(message_id: int):
    return act(services.drop_dead_letter, current_user, message_id, success=_("Task dropped."),
               back=url_for("admin.background"))


# ---------------------------------------------------------------- members

@bp.route("/members")
def members():
    status = request.args.get("status", "")
    text = request.args.get("q", "").strip()[:100]
    result = services.search_members(current_user, status=status, text=text,
                                     page=request_int("page", 1, minimum=1, maximum=100_000))
    labels = {e.value: _(e.value) for e in (*College, *MembershipStatus)}  # translated once, not once per row
    filters = {name: value for name, value in (("status", status), ("q", text)) if value}
    return render_template("admin/members.html", memberships=result.items, result=result, status=status, q=text,
                           labels=labels, filters=filters, reject_form=RejectForm(), statuses=list(MembershipStatus))


@bp.route("/members/<int:membership_id>/approve", methods=["POST"])
def approve(membership_id: int):
    return act(member_services.approve_membership, current_user, membership_id, success=_("Membership approved."),
               back=url_for("admin.members", status="pending"))


@bp.route("/members/<int:membership_id>/reject", methods=["POST"])
def reject(membership_id: int):
    form = RejectForm()
    reason = form.reason.data if form.validate_on_submit() else ""
    return act(member_services.reject_membership, current_user, membership_id, reason or "",
               success=_("Application rejected."), back=url_for("admin.members", status="pending"))


@bp.route("/members/<int:membership_id>/status", methods=["POST"])
def change_status(membership_id: int):
    return act(_change_status, membership_id, request.form.get("status", ""), request.form.get("reason", ""),
               success=_("Saved."), back=url_for("admin.members"))


def _change_status(membership_id: int, raw: str, reason: str) -> None:
    if raw not in {s.value for s in MembershipStatus}:
        raise ServiceError(_("Unknown status."), "status")
    member_services.change_membership_status(current_user, membership_id, MembershipStatus(raw), reason)


# ---------------------------------------------------------------- distributions

def _parse_slots(text: str, day) -> tuple:
    from datetime import datetime, time

    slots = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        try:
            span, *rest = line.split()
            start_s, end_s = span.split("-")
            start = datetime.combine(day, time.fromisoformat(start_s))
            end = datetime.combine(day, time.fromisoformat(end_s))
            capacity = int(rest[0]) if rest else 20
        except ValueError:
            raise ServiceError(_("Slot line %(n)d: write it like 17:00-19:00 20.", n=number), "slots") from None
        slots.append(distribution_services.SlotInput(to_utc(start), to_utc(end), capacity))
    return tuple(slots)


@bp.route("/distributions")
def distributions():
    rows = db.session.query(Distribution).order_by(Distribution.starts_at.desc()).limit(100).all()
    return render_template("admin/distributions.html", distributions=rows)


@bp.route("/distributions/new", methods=["GET", "POST"])
def new_distribution():
    form = DistributionForm()
    form.pickup_place_id.choices = [SelectChoice(p.id, p.name)
                                    for p in db.session.query(PickupPlace).filter_by(active=True)]
    form.producer_ids.choices = [SelectChoice(p.id, p.name) for p in
                                 db.session.query(ProducerProfile).order_by(ProducerProfile.name)]
    if form.validate_on_submit():
        created = perform(_schedule, form, form=form)
        if created is not REFUSED:
            flash(_("%(n)d distribution(s) scheduled.", n=len(created)), "success")
            return redirect(url_for("admin.distributions"))
    return render_template("admin/distribution_form.html", form=form), form_status(form)


def _schedule(form: DistributionForm) -> list:
    data = distribution_services.DistributionInput(
        pickup_place_id=form.pickup_place_id.data, title=form.title.data or "",
        starts_at=to_utc(form.starts_at.data), ends_at=to_utc(form.ends_at.data),
        opens_at=to_utc(form.opens_at.data), cutoff_at=to_utc(form.cutoff_at.data),
        producer_ids=tuple(form.producer_ids.data), home_delivery=form.home_delivery.data,
        slots=_parse_slots(form.slots.data, form.starts_at.data.date()),
        repeat_weeks=form.repeat_weeks.data)
    return distribution_services.schedule_distribution(current_user, data)


@bp.route("/distributions/<int:distribution_id>")
def distribution(distribution_id: int):
    item = distribution_services.get_distribution(distribution_id)
    orders = services.distribution_orders(current_user, item.id, request_int("page", 1, minimum=1, maximum=100_000))
    return render_template("admin/distribution.html", distribution=item, orders=orders.pages.items,
                           pages=orders.pages, statuses=orders.statuses, due=orders.due_cents,
                           handovers=orders.handovers,
                           totals=order_services.producer_totals(item.id))


@bp.route("/distributions/<int:distribution_id>/close", methods=["POST"])
def close_distribution(distribution_id: int):
    back = url_for("admin.distribution", distribution_id=distribution_id)
    done = perform(_close_distribution, distribution_id, back=back)
    flash(_("Cut-off processed.") if done else _("The cut-off had already been processed."), "success")
    return redirect(back)


def _close_distribution(distribution_id: int) -> bool:
    if distribution_services.get_distribution(distribution_id).is_open():
        raise Conflict(_("Ordering is still open: the cut-off has not passed."))
    return order_services.close_distribution(distribution_id)


@bp.route("/distributions/<int:distribution_id>/cancel", methods=["POST"])
def cancel_distribution(distribution_id: int):
    return act(_cancel_distribution, distribution_id, request.form.get("confirm") == "yes",
               back=url_for("admin.distribution", distribution_id=distribution_id),
               success=_("Distribution cancelled."))


def _cancel_distribution(distribution_id: int, confirmed: bool) -> Distribution:
    if not confirmed:
        raise ServiceError(_("Tick the box to confirm the cancellation."), "confirm")
    return distribution_services.cancel_distribution(current_user, distribution_id)


# ---------------------------------------------------------------- places and zones

@bp.route("/places", methods=["GET", "POST"])
def places():
    form = PickupPlaceForm()
    if form.validate_on_submit() and perform(
            distribution_services.create_pickup_place, current_user, name=form.name.data, address=form.address.data,
            postcode=form.postcode.data or "", town=form.town.data or "", latitude=form.latitude.data,
            longitude=form.longitude.data, notes=form.notes.data or "", form=form,
            success=_("Pickup place added.")) is not REFUSED:
        return redirect(url_for("admin.places"))
    return render_template("admin/places.html", form=form,
                           places=db.session.query(PickupPlace).order_by(PickupPlace.name).all(),
                           zones=db.session.query(DeliveryZone).order_by(DeliveryZone.name).all(),
                           zone_form=ZoneForm()), form_status(form)


@bp.route("/zones", methods=["POST"])
def zones():
    return act(_create_zone, ZoneForm(), success=_("Delivery zone added."), back=url_for("admin.places"))


def _create_zone(form: ZoneForm) -> None:
    if not form.validate_on_submit():
        raise ServiceError("; ".join(str(m) for errors in form.errors.values() for m in errors))
    distribution_services.create_delivery_zone(current_user, name=form.name.data, postcodes=form.postcodes.data,
                                               fee_cents=form.fee.cents or 0)


# ---------------------------------------------------------------- orders

@bp.route("/orders")
def orders():
    status = request.args.get("status", "")
    result = services.search_orders(current_user, day=request_date("day"), producer_id=request_int("producer"),
                                    status=status or None, pickup_place_id=request_int("place"),
                                    page=request_int("page", 1, minimum=1, maximum=100_000))
    filters = {name: request.args[name] for name in ("day", "producer", "place", "status") if request.args.get(name)}
    return render_template("admin/orders.html", orders=result.items, result=result, args=request.args,
                           filters=filters,
                           producers=db.session.query(ProducerProfile).order_by(ProducerProfile.name).all(),
                           places=db.session.query(PickupPlace).order_by(PickupPlace.name).all())


@bp.route("/emails")
def emails():
    result = services.sent_emails(current_user, request_int("page", 1, minimum=1, maximum=100_000))
    return render_template("admin/emails.html", emails=result.items, result=result)


# ---------------------------------------------------------------- settings

@bp.route("/settings", methods=["GET", "POST"])
def settings():
    current = all_settings()
    form = SettingsForm(data={**current, "share_nominal": cents_to_input(int(current["share_nominal_cents"])),
                              "weight_margin_percent": int(current["weight_margin_percent"]),
                              "withholding_cap_percent": int(current["withholding_cap_percent"]),
                              "account_carry_over_cents": int(current["account_carry_over_cents"])})
    if form.validate_on_submit():
        values = {key: (getattr(form, key).data or "") for key in
                  ("coop_name", "coop_legal_form", "coop_address", "coop_tagline", "coop_logo_url",
                   "colour_primary", "colour_accent", "welcome_text", *INVOICING_SETTINGS)}
        values["share_nominal_cents"] = str(form.share_nominal.cents)
        values["weight_margin_percent"] = str(form.weight_margin_percent.data)
        if form.lost_chargeback_rule.data:
            values["lost_chargeback_rule"] = form.lost_chargeback_rule.data
        if form.withholding_cap_percent.data is not None:
            values["withholding_cap_percent"] = str(form.withholding_cap_percent.data)
        if form.account_carry_over_cents.data is not None:
            values["account_carry_over_cents"] = str(form.account_carry_over_cents.data)
        if perform(services.update_settings, current_user, values, form=form,
                   success=_("Settings saved.")) is not REFUSED:
            return redirect(url_for("admin.settings"))
    return render_template("admin/settings.html", form=form), form_status(form)
