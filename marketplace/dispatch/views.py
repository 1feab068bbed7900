"""The courier's pages (mobile-first) and the dispatcher's board: parse, call a service, render."""
from __future__ import annotations

import json
from datetime import datetime

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_babel import get_locale, to_utc
from flask_babel import gettext as _
from flask_login import current_user, login_required
from wtforms import SelectChoice

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
from marketplace.web import REFUSED, act, form_status, perform, request_date, request_int, request_ints, whole_number

bp = Blueprint("dispatch", __name__)


# ---------------------------------------------------------------- courier

@bp.route("/courier")
@login_required
def courier_home():
    day = services.courier_day(current_user)
    return render_template("dispatch/courier.html", day=day, code_form=CodeForm(), failure_form=FailureForm(),
                           pay=services.offered_pay_cents, rule=services.pay_rule_text(),
                           next_stop=services.next_stop(day))


@bp.route("/courier/runs/<int:run_id>")
@login_required
def courier_run(run_id: int):
    from marketplace.orders.documents import handover_texts

    run = services.courier_run(current_user, run_id)
    # What to collect at each door (account included), for the courier of the run only, read for all at once.
    doors = [stop for stop in run.stops if stop.kind.value != "pickup" and run.courier_id == current_user.id]
    texts = handover_texts(list({stop.order.id: stop.order for stop in doors}.values()))
    handovers = {stop.id: texts[stop.order.id] for stop in doors}
    return render_template("dispatch/run.html", run=run, contacts=contacts(current_user, run),
                           stops=services.stops_in_turn(run),
                           pay=services.offered_pay_cents, rule=services.pay_rule_text(), code_form=CodeForm(),
                           failure_form=FailureForm(), handovers=handovers)


# ---------------------------------------------------------------- the courier's pages as an installable app

@bp.route("/courier/manifest.webmanifest")
def courier_manifest():
    """The courier's pages installable on a phone's home screen (start on "My runs")."""
    from marketplace.core.services import all_settings

    settings = all_settings()
    manifest = {
        "name": _("%(coop)s — courier", coop=settings["coop_name"]), "short_name": _("My runs"),
        "start_url": url_for("dispatch.courier_home"), "scope": url_for("dispatch.courier_home"),
        "display": "standalone", "orientation": "portrait", "lang": str(get_locale()),
        "background_color": "#fbfaf6", "theme_color": settings["colour_primary"],
        "icons": [{"src": url_for("static", filename=f"icons/courier-{size}.png"), "sizes": f"{size}x{size}",
                   "type": "image/png", "purpose": "any maskable"} for size in (192, 512)],
    }
    return Response(json.dumps(manifest, ensure_ascii=False), mimetype="application/manifest+json")


@bp.route("/courier/sw.js")
def courier_service_worker():
    """A tiny service worker: pages from the network, the offline page when there is none."""
    response = send_from_directory(current_app.static_folder, "courier-sw.js", mimetype="text/javascript",
                                   max_age=0)
    response.headers["Service-Worker-Allowed"] = url_for("dispatch.courier_home")
    return response


@bp.route("/courier/offline")
def courier_offline():
    """Shown by the service worker when the phone has no network (kept in its cache: nothing private here)."""
    return render_template("dispatch/offline.html")


@bp.route("/courier/runs/<int:run_id>/accept", methods=["POST"])
@login_required
def accept(run_id: int):
    perform(services.accept_run, current_user, run_id, success=_("The run is yours. Ride safe!"),
            back=url_for("dispatch.courier_home"))
    return redirect(url_for("dispatch.courier_run", run_id=run_id))


@bp.route("/courier/runs/<int:run_id>/decline", methods=["POST"])
@login_required
def decline(run_id: int):
    return act(services.decline_run, current_user, run_id, success=_("Declined: it goes to another courier."),
               back=url_for("dispatch.courier_home"))


@bp.route("/courier/stops/<int:stop_id>/picked-up", methods=["POST"])
@login_required
def picked_up(stop_id: int):
    return act(services.mark_picked_up, current_user, stop_id, success=_("Picked up."), back=_run_page(stop_id))


@bp.route("/courier/stops/<int:stop_id>/delivered", methods=["POST"])
@login_required
def delivered(stop_id: int):
    return act(services.confirm_delivery, current_user, stop_id, CodeForm().code.data or "",
               success=_("Delivered. Thank you!"), back=_run_page(stop_id))


@bp.route("/courier/stops/<int:stop_id>/failed", methods=["POST"])
@login_required
def failed(stop_id: int):
    return act(services.report_failure, current_user, stop_id, FailureForm().reason.data or "",
               success=_("Reported: the dispatcher takes it from here."), back=_run_page(stop_id))


def _run_page(stop_id: int) -> str:
    """The courier's page of the run holding this stop, where its buttons are; else their day."""
    from marketplace.dispatch.models import RunStop

    stop = db.session.get(RunStop, stop_id)
    if stop is not None and stop.run.courier_id == current_user.id:
        return url_for("dispatch.courier_run", run_id=stop.run_id)
    return url_for("dispatch.courier_home")


@bp.route("/courier/availability", methods=["GET", "POST"])
@login_required
def availability():
    profile = current_user.courier_profile
    profile_form = CourierProfileForm(obj=profile, prefix="profile")
    if profile is not None and request.method == "GET":
        profile_form.capacity_kg.data = profile.capacity_g / 1000
        profile_form.zone_ids.data = [z.id for z in profile.zones]
        profile_form.vehicle.data = profile.vehicle.value
    profile_form.zone_ids.choices = [SelectChoice(z.id, z.name) for z in db.session.query(DeliveryZone)
                                     .filter_by(active=True).order_by(DeliveryZone.name)]
    slot_form = AvailabilityForm(prefix="slot")
    posted = {"profile": profile_form, "slot": slot_form}.get(request.form.get("what", ""))  # None on a GET
    if posted is not None and posted.validate():
        if posted is profile_form:
            done = perform(services.save_courier_profile, current_user, _profile_input(profile_form),
                           success=_("Saved."), form=profile_form)
        else:
            starts, ends = (to_utc(datetime.combine(slot_form.day.data, time)).replace(tzinfo=None)
                            for time in (slot_form.start.data, slot_form.end.data))
            done = perform(services.add_availability, current_user, starts, ends, success=_("Availability added."),
                           form=slot_form)
        if done is not REFUSED:
            return redirect(url_for("dispatch.availability"))
    slots = services.availability_of(current_user) if current_user.courier_profile else []
    return render_template("dispatch/availability.html", profile_form=profile_form, slot_form=slot_form,
                           slots=slots), form_status(posted)


def _profile_input(form: CourierProfileForm) -> services.CourierProfileInput:
    return services.CourierProfileInput(
        vehicle=form.vehicle.data, capacity_kg=float(form.capacity_kg.data),
        capacity_parcels=form.capacity_parcels.data, max_stops=form.max_stops.data,
        zone_ids=tuple(form.zone_ids.data or ()), home_latitude=form.home_latitude.data,
        home_longitude=form.home_longitude.data)


@bp.route("/courier/availability/<int:slot_id>/delete", methods=["POST"])
@login_required
def delete_availability(slot_id: int):
    return act(services.remove_availability, current_user, slot_id, success=_("Removed."),
               back=url_for("dispatch.availability"))


# ---------------------------------------------------------------- dispatcher
# Each board action checks the admin before reading its input: a member who is not one learns nothing more.

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
    require_admin(current_user)
    return act(lambda: services.reassign_run(current_user, run_id, request_int("courier_id", form=True,
                                                                             required=True)),
               success=_("Offered to the chosen courier."), back=url_for("dispatch.board"))


@bp.route("/admin/dispatch/runs/<int:run_id>/split", methods=["POST"])
@login_required
def split(run_id: int):
    require_admin(current_user)
    return act(lambda: services.split_run(current_user, run_id, request_ints("order_ids", form=True)),
               success=_("Run split."), back=url_for("dispatch.board"))


@bp.route("/admin/dispatch/replan", methods=["POST"])
@login_required
def replan():
    require_admin(current_user)
    return act(lambda: services.replan(current_user, _plan_key()), success=_("Planned again."),
               back=url_for("dispatch.board"))


def _plan_key() -> str:
    """The board's `plan_key` field: "slot:<id>" or "distribution:<id>"."""
    kind, _colon, ident = (request.form.get("plan_key") or "").partition(":")
    if kind not in ("slot", "distribution"):
        raise ServiceError(_("Invalid request."), "plan_key")
    return f"{kind}:{whole_number(ident, 'plan_key')}"


@bp.route("/admin/dispatch/jobs/<int:job_id>/coordinates", methods=["POST"])
@login_required
def job_coordinates(job_id: int):
    require_admin(current_user)
    return act(lambda: services.set_job_coordinates(current_user, job_id, _coordinate("latitude"),
                                                    _coordinate("longitude")),
               success=_("Coordinates saved."), back=url_for("dispatch.board"))


def _coordinate(name: str) -> float | None:
    raw = (request.form.get(name) or "").strip()
    try:
        return float(raw) if raw else None
    except ValueError:
        raise ServiceError(_("Latitude and longitude must be numbers."), name) from None


@bp.route("/admin/dispatch/stops/<int:stop_id>/reset-code", methods=["POST"])
@login_required
def reset_code(stop_id: int):
    return act(services.reset_code_attempts, current_user, stop_id, success=_("The courier can try again."),
               back=url_for("dispatch.board"))


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
    if request.method == "POST":
        form = RulesForm()
        if form.validate():
            try:
                amounts = [parse_cents(f.data, allow_zero=True) for f in (form.pay_per_run, form.pay_per_km,
                                                                          form.pay_per_stop)]
            except MoneyError as exc:
                flash(_(str(exc)), "error")
                return render_template("dispatch/rules.html", form=form), 400
            if perform(services.update_rules, current_user, pay_per_run_cents=amounts[0],
                       pay_per_km_cents=amounts[1], pay_per_stop_cents=amounts[2],
                       offer_timeout_minutes=form.offer_timeout_minutes.data,
                       max_code_attempts=form.max_code_attempts.data,
                       goods_at_pickup_place=form.goods_at_pickup_place.data, success=_("Saved."),
                       form=form) is not REFUSED:
                return redirect(url_for("dispatch.rules"))
    return render_template("dispatch/rules.html", form=form), form_status(form)


@bp.route("/admin/dispatch/postcodes", methods=["POST"])
@login_required
def import_postcodes():
    upload = request.files.get("csv")
    text = upload.read().decode("utf-8-sig", errors="replace") if upload else ""
    return act(services.import_postcode_centroids, current_user, text, success=_("Postcodes imported."),
               back=url_for("dispatch.board"))
