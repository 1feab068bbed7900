"""The courier's pages (mobile-first) and the dispatcher's board: parse, call a service, render."""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import to_utc
from flask_login import current_user, login_required

from marketplace.core.errors import ServiceError
from marketplace.dispatch import services
from marketplace.dispatch.contacts import contacts
from marketplace.dispatch.forms import AvailabilityForm, CodeForm, CourierProfileForm, FailureForm, RulesForm
from marketplace.dispatch.planner import PLANNER_REASONS
from marketplace.distributions.models import DeliveryZone
from marketplace.extensions import db
from marketplace.members.services import require_admin
from marketplace.money import MoneyError, cents_to_input, parse_cents
from marketplace.timeutil import utcnow
from marketplace.web import attach_error, back_url, request_date, run_service

bp = Blueprint("dispatch", __name__)


def _status(error: ServiceError | None, ok: int = 302) -> int:
    return error.status_code if error else ok


def _form_id(name: str) -> int:
    raw = (request.form.get(name) or "").strip()
    if not raw.isdigit() or len(raw) > 9:
        abort(400, _("Invalid request: %(name)s must be a whole number.", name=name))
    return int(raw)


# ---------------------------------------------------------------- courier

@bp.route("/courier")
@login_required
def courier_home():
    day = services.courier_day(current_user)
    return render_template("dispatch/courier.html", day=day, code_form=CodeForm(), failure_form=FailureForm(),
                           pay=services.offered_pay_cents, rule=services.pay_rule_text())


@bp.route("/courier/runs/<int:run_id>")
@login_required
def courier_run(run_id: int):
    run = services.courier_run(current_user, run_id)
    return render_template("dispatch/run.html", run=run, contacts=contacts(current_user, run),
                           pay=services.offered_pay_cents, rule=services.pay_rule_text(), code_form=CodeForm(),
                           failure_form=FailureForm())


@bp.route("/courier/runs/<int:run_id>/accept", methods=["POST"])
@login_required
def accept(run_id: int):
    _r, error = run_service(services.accept_run, current_user, run_id, success=_("The run is yours. Ride safe!"))
    target = url_for("dispatch.courier_run", run_id=run_id) if error is None else url_for("dispatch.courier_home")
    return redirect(target), _status(error)


@bp.route("/courier/runs/<int:run_id>/decline", methods=["POST"])
@login_required
def decline(run_id: int):
    _r, error = run_service(services.decline_run, current_user, run_id, success=_("Declined: it goes to another courier."))
    return redirect(url_for("dispatch.courier_home")), _status(error)


@bp.route("/courier/stops/<int:stop_id>/picked-up", methods=["POST"])
@login_required
def picked_up(stop_id: int):
    stop, error = run_service(services.mark_picked_up, current_user, stop_id, success=_("Picked up."))
    return _back_to_run(stop_id), _status(error)


@bp.route("/courier/stops/<int:stop_id>/delivered", methods=["POST"])
@login_required
def delivered(stop_id: int):
    form = CodeForm()
    _s, error = run_service(services.confirm_delivery, current_user, stop_id, form.code.data or "",
                            success=_("Delivered. Thank you!"))
    return _back_to_run(stop_id), _status(error)


@bp.route("/courier/stops/<int:stop_id>/failed", methods=["POST"])
@login_required
def failed(stop_id: int):
    form = FailureForm()
    _s, error = run_service(services.report_failure, current_user, stop_id, form.reason.data or "",
                            success=_("Reported: the dispatcher takes it from here."))
    return _back_to_run(stop_id), _status(error)


def _back_to_run(stop_id: int):
    from marketplace.dispatch.models import RunStop

    stop = db.session.get(RunStop, stop_id)
    if stop is not None and stop.run.courier_id == current_user.id:
        return redirect(url_for("dispatch.courier_run", run_id=stop.run_id))
    return redirect(url_for("dispatch.courier_home"))


@bp.route("/courier/availability", methods=["GET", "POST"])
@login_required
def availability():
    profile = current_user.courier_profile
    profile_form = CourierProfileForm(obj=profile, prefix="profile")
    if profile is not None and request.method == "GET":
        profile_form.capacity_kg.data = profile.capacity_g / 1000
        profile_form.zone_ids.data = [z.id for z in profile.zones]
        profile_form.vehicle.data = profile.vehicle.value
    profile_form.zone_ids.choices = [(z.id, z.name) for z in db.session.query(DeliveryZone)
                                     .filter_by(active=True).order_by(DeliveryZone.name)]
    slot_form = AvailabilityForm(prefix="slot")
    status = 200
    if request.method == "POST" and request.form.get("what") == "profile":
        if profile_form.validate():
            data = services.CourierProfileInput(
                vehicle=profile_form.vehicle.data, capacity_kg=float(profile_form.capacity_kg.data),
                capacity_parcels=profile_form.capacity_parcels.data, max_stops=profile_form.max_stops.data,
                zone_ids=tuple(profile_form.zone_ids.data or ()), home_latitude=profile_form.home_latitude.data,
                home_longitude=profile_form.home_longitude.data)
            _p, error = run_service(services.save_courier_profile, current_user, data, success=_("Saved."))
            if error is None:
                return redirect(url_for("dispatch.availability"))
            attach_error(profile_form, error)
            status = error.status_code
        else:
            status = 400
    elif request.method == "POST" and request.form.get("what") == "slot":
        if slot_form.validate():
            starts = to_utc(datetime.combine(slot_form.day.data, slot_form.start.data)).replace(tzinfo=None)
            ends = to_utc(datetime.combine(slot_form.day.data, slot_form.end.data)).replace(tzinfo=None)
            _s, error = run_service(services.add_availability, current_user, starts, ends,
                                    success=_("Availability added."))
            if error is None:
                return redirect(url_for("dispatch.availability"))
            attach_error(slot_form, error)
            status = error.status_code
        else:
            status = 400
    slots = services.availability_of(current_user) if current_user.courier_profile else []
    return render_template("dispatch/availability.html", profile_form=profile_form, slot_form=slot_form,
                           slots=slots), status


@bp.route("/courier/availability/<int:slot_id>/delete", methods=["POST"])
@login_required
def delete_availability(slot_id: int):
    _r, error = run_service(services.remove_availability, current_user, slot_id, success=_("Removed."))
    return redirect(url_for("dispatch.availability")), _status(error)


# ---------------------------------------------------------------- dispatcher

@bp.route("/admin/dispatch")
@login_required
def board():
    require_admin(current_user)
    day = request_date("day") or utcnow().date()
    data = services.board(current_user, day)
    return render_template("dispatch/board.html", board=data, pay=services.offered_pay_cents,
                           rule=services.pay_rule_text(), planner_reasons=PLANNER_REASONS)


@bp.route("/admin/dispatch/runs/<int:run_id>/reassign", methods=["POST"])
@login_required
def reassign(run_id: int):
    _r, error = run_service(services.reassign_run, current_user, run_id, _form_id("courier_id"),
                            success=_("Offered to the chosen courier."))
    return redirect(back_url("dispatch.board")), _status(error)


@bp.route("/admin/dispatch/runs/<int:run_id>/split", methods=["POST"])
@login_required
def split(run_id: int):
    order_ids = [int(v) for v in request.form.getlist("order_ids") if v.isdigit() and len(v) < 10]
    _r, error = run_service(services.split_run, current_user, run_id, order_ids, success=_("Run split."))
    return redirect(back_url("dispatch.board")), _status(error)


@bp.route("/admin/dispatch/replan", methods=["POST"])
@login_required
def replan():
    key = (request.form.get("plan_key") or "")[:40]
    if not key.replace(":", "").replace("slot", "").replace("distribution", "").isdigit():
        abort(400, _("Invalid request."))
    _r, error = run_service(services.replan, current_user, key, success=_("Planned again."))
    return redirect(back_url("dispatch.board")), _status(error)


@bp.route("/admin/dispatch/jobs/<int:job_id>/coordinates", methods=["POST"])
@login_required
def job_coordinates(job_id: int):
    try:
        lat = float(request.form.get("latitude", ""))
        lon = float(request.form.get("longitude", ""))
    except ValueError:
        require_admin(current_user)
        flash(_("Latitude and longitude must be numbers."), "error")
        return redirect(url_for("dispatch.board")), 400
    _r, error = run_service(services.set_job_coordinates, current_user, job_id, lat, lon,
                            success=_("Coordinates saved."))
    return redirect(back_url("dispatch.board")), _status(error)


@bp.route("/admin/dispatch/stops/<int:stop_id>/reset-code", methods=["POST"])
@login_required
def reset_code(stop_id: int):
    _r, error = run_service(services.reset_code_attempts, current_user, stop_id, success=_("The courier can try again."))
    return redirect(back_url("dispatch.board")), _status(error)


@bp.route("/admin/dispatch/rules", methods=["GET", "POST"])
@login_required
def rules():
    require_admin(current_user)
    current = services.get_rules()
    form = RulesForm(data={"pay_per_run": cents_to_input(current.pay_per_run_cents),
                           "pay_per_km": cents_to_input(current.pay_per_km_cents),
                           "pay_per_stop": cents_to_input(current.pay_per_stop_cents),
                           "offer_timeout_minutes": current.offer_timeout_s // 60,
                           "max_code_attempts": current.max_code_attempts,
                           "goods_at_pickup_place": current.goods_at_pickup_place})
    status = 200
    if request.method == "POST":
        form = RulesForm()
        if form.validate():
            try:
                amounts = [parse_cents(f.data, allow_zero=True) for f in (form.pay_per_run, form.pay_per_km,
                                                                          form.pay_per_stop)]
            except MoneyError as exc:
                flash(_(str(exc)), "error")
                return render_template("dispatch/rules.html", form=form), 400
            _r, error = run_service(services.update_rules, current_user, pay_per_run_cents=amounts[0],
                                    pay_per_km_cents=amounts[1], pay_per_stop_cents=amounts[2],
                                    offer_timeout_minutes=form.offer_timeout_minutes.data,
                                    max_code_attempts=form.max_code_attempts.data,
                                    goods_at_pickup_place=form.goods_at_pickup_place.data, success=_("Saved."))
            if error is None:
                return redirect(url_for("dispatch.rules"))
            attach_error(form, error)
            status = error.status_code
        else:
            status = 400
    return render_template("dispatch/rules.html", form=form), status


@bp.route("/admin/dispatch/postcodes", methods=["POST"])
@login_required
def import_postcodes():
    upload = request.files.get("csv")
    text = upload.read().decode("utf-8-sig", errors="replace") if upload else ""
    _r, error = run_service(services.import_postcode_centroids, current_user, text, success=_("Postcodes imported."))
    return redirect(url_for("dispatch.board")), _status(error)
