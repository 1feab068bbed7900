"""The producer's offers per distribution, their products' variants, and what to harvest."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from marketplace.catalog.models import Unit
from marketplace.catalog.services import MAX_STOCK, own_product
from marketplace.core.errors import ServiceError
from marketplace.money import MoneyError, cents_to_input, parse_cents
from marketplace.offers import services
from marketplace.offers.forms import OffersForm, VariantForm
from marketplace.web import REFUSED, act, form_status, perform, request_int, whole_number

bp = Blueprint("offers", __name__)


@bp.app_template_global()
def money_input(cents: int | None) -> str:
    return "" if cents is None else cents_to_input(cents)


@bp.route("/producer/distributions")
@login_required
def distributions():
    return render_template("offers/distributions.html", distributions=services.producer_distributions(current_user))


def _offer_inputs(sheet: services.OfferSheet) -> list[services.OfferInput]:
    """The rows ticked on the offers page; a blank quantity is unlimited, a blank price the usual one."""
    items = []
    for row in sheet.rows:
        vid = row.variant.id
        if not request.form.get(f"bring-{vid}"):
            continue
        raw_quantity = (request.form.get(f"quantity-{vid}") or "").strip()
        quantity = whole_number(raw_quantity, f"quantity-{vid}", 0, MAX_STOCK) if raw_quantity else None
        raw_price = (request.form.get(f"price-{vid}") or "").strip()
        try:
            price = parse_cents(raw_price) if raw_price else None
        except MoneyError:
            raise ServiceError(_("%(name)s: enter a price in euros, e.g. 3.50 (blank: the usual price).",
                                 name=row.name), f"price-{vid}") from None
        items.append(services.OfferInput(vid, quantity, price))
    return items


@bp.route("/producer/distributions/<int:distribution_id>/offers", methods=["GET", "POST"])
@login_required
def offers(distribution_id: int):
    sheet = services.producer_offer_sheet(current_user, distribution_id)
    form = OffersForm()
    if form.validate_on_submit():
        def save():
            return services.set_offers(current_user, distribution_id, _offer_inputs(sheet))

        if perform(save, success=_("Your offers for this distribution are saved."),
                   back=url_for("offers.offers", distribution_id=distribution_id)) is not REFUSED:
            return redirect(url_for("offers.offers", distribution_id=distribution_id))
    return render_template("offers/offers.html", sheet=sheet, form=form), form_status(form)


@bp.route("/producer/distributions/<int:distribution_id>/offers/copy", methods=["POST"])
@login_required
def copy_offers(distribution_id: int):
    back = url_for("offers.offers", distribution_id=distribution_id)
    return act(services.copy_previous_offers, current_user, distribution_id, back=back,
               success=_("Last time's offers are copied: check the quantities."))


@bp.route("/producer/distributions/<int:distribution_id>/harvest")
@login_required
def harvest(distribution_id: int):
    _profile, distribution = services.producer_distribution(current_user, distribution_id)
    return render_template("offers/harvest.html", distribution=distribution,
                           lines=services.producer_harvest(current_user, distribution_id))


def _variant_input(form: VariantForm) -> services.VariantInput:
    return services.VariantInput(
        label=form.label.data or "", unit=Unit(form.unit.data), price_cents=form.price.cents or 0,
        vat_rate_bp=int(form.vat_rate_bp.data), is_weight_priced=bool(form.is_weight_priced.data),
        estimated_weight_g=form.estimated_weight_g.number)


@bp.route("/producer/products/<int:product_id>/variants", methods=["GET", "POST"])
@login_required
def variants(product_id: int):
    product = own_product(current_user, product_id)
    form = VariantForm()
    if form.validate_on_submit() and perform(
            services.add_variant, current_user, product_id, _variant_input(form), success=_("Variant added."),
            form=form) is not REFUSED:
        return redirect(url_for("offers.variants", product_id=product_id))
    return render_template("offers/variants.html", product=product, form=form, variant=None), form_status(form)


@bp.route("/producer/variants/<int:variant_id>/edit", methods=["GET", "POST"])
@login_required
def edit_variant(variant_id: int):
    variant = services.own_variant(current_user, variant_id)
    form = VariantForm(obj=variant)
    if request.method == "GET":
        form.price.data = cents_to_input(variant.price_cents)
        form.unit.data = variant.unit.value
        form.vat_rate_bp.data = str(variant.vat_rate_bp)
        form.estimated_weight_g.data = "" if variant.estimated_weight_g is None else str(variant.estimated_weight_g)
    if form.validate_on_submit() and perform(
            services.update_variant, current_user, variant_id, _variant_input(form), success=_("Variant saved."),
            form=form) is not REFUSED:
        return redirect(url_for("offers.variants", product_id=variant.product_id))
    return render_template("offers/variants.html", product=variant.product, form=form, variant=variant), \
        form_status(form)


@bp.route("/producer/variants/<int:variant_id>/active", methods=["POST"])
@login_required
def variant_active(variant_id: int):
    active = request_int("active", form=True, maximum=1) == 1
    variant = services.own_variant(current_user, variant_id)
    return act(services.set_variant_active, current_user, variant_id, active,
               back=url_for("offers.variants", product_id=variant.product_id))
