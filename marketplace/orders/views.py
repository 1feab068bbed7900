"""Cart, checkout, the buyer's orders and the producer's order desk."""
from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from wtforms import SelectChoice

from marketplace.catalog.models import Product
from marketplace.core.errors import NotFound, ServiceError
from marketplace.extensions import db
from marketplace.orders import documents, services
from marketplace.orders.events import event_text, reason_text
from marketplace.orders.forms import CheckoutForm
from marketplace.orders.models import OrderLine
from marketplace.orders.states import Fulfilment, PaymentMethod
from marketplace.web import REFUSED, act, form_status, next_or, perform, request_int

bp = Blueprint("orders", __name__)
bp.add_app_template_global(event_text, "order_event_text")
bp.add_app_template_global(reason_text, "order_reason_text")


@bp.app_template_global()
def cart_distribution_id() -> int | None:
    """The open distribution the member's cart orders for (the catalogue offers to show only its offers)."""
    from marketplace.distributions.models import Distribution
    from marketplace.orders.models import Cart

    if not current_user.is_authenticated:
        return None
    distribution = db.session.execute(  # one statement: the cart's distribution, if it has one
        select(Distribution).join(Cart, Cart.distribution_id == Distribution.id)
        .where(Cart.user_id == current_user.id)).scalars().first()
    if distribution is None or not distribution.is_open():
        return None
    return distribution.id


@bp.app_context_processor
def quantity_bounds() -> dict[str, int]:
    """Quantity inputs carry the bounds the services enforce (min 1 to add, 0 to remove a line)."""
    return {"max_quantity": services.MAX_QUANTITY}


def _form_id(name: str) -> int:
    return request_int(name, form=True, required=True)


def _quantity_or_zero() -> int:
    """A new quantity typed in the cart or an order: 0 removes the line."""
    return services.parse_quantity(request.form.get("quantity"), allow_zero=True)


def _changed(quantity: int, name: str, removed: str) -> None:
    """Say what a quantity change did: 0 removed the line."""
    flash(removed if quantity == 0 else _("Now %(n)d × %(name)s.", n=quantity, name=name), "success")


# ---------------------------------------------------------------- cart

@bp.route("/cart")
@login_required
def cart():
    from marketplace.distributions.services import open_distributions
    from marketplace.members.services import why_not_active

    cart = services.get_cart(current_user)
    db.session.commit()
    return render_template("orders/cart.html", summary=services.summarise_cart(cart), cart=cart,
                           distributions=open_distributions(), blocked_reason=why_not_active(current_user))


@bp.route("/cart/add", methods=["POST"])
@login_required
def add_to_cart():
    def add():
        product_id = _form_id("product_id")
        # The catalogue's cards share one form: each card's fields are named after its product.
        quantity = request.form.get(f"quantity-{product_id}", request.form.get("quantity", "1"))
        variant_id = request_int(f"variant-{product_id}", form=True) or request_int("variant_id", form=True)
        return services.add_to_cart(current_user, product_id, services.parse_quantity(quantity), variant_id,
                                    browsed_distribution_id=request_int("distribution_id", form=True))

    return act(add, success=_("Added to your cart."), back=url_for("orders.cart"))


@bp.route("/cart/update", methods=["POST"])
@login_required
def update_cart():
    def update() -> tuple[int, str]:
        product_id, quantity = _form_id("product_id"), _quantity_or_zero()
        services.set_cart_quantity(current_user, product_id, quantity, request_int("variant_id", form=True))
        product = db.session.get(Product, product_id)
        return quantity, product.name if product else ""

    quantity, name = perform(update, back=url_for("orders.cart"))
    _changed(quantity, name, _("%(name)s removed from your cart.", name=name))
    return redirect(next_or(url_for("orders.cart")))


@bp.route("/cart/distribution", methods=["POST"])
@login_required
def choose_distribution():
    return act(lambda: services.choose_distribution(current_user, _form_id("distribution_id")),
               back=url_for("orders.cart"))


def _checkout_form() -> CheckoutForm:
    form = CheckoutForm()
    labels = {choice.value: choice.label for choice in form.payment_method.choices}
    labels["card"] = _("Pay now by card (authorised now, charged for the final weighed amount)")
    form.payment_method.choices = [SelectChoice(m.value, labels[m.value]) for m in services.available_payment_methods()]
    return form


def _slot_choices(form: CheckoutForm, distribution) -> None:
    """The delivery times, for showing the form (the field accepts any id: checkout checks the slot)."""
    slots = distribution.slots if distribution else []
    form.delivery_slot_id.choices = [SelectChoice(0, "—"),
                                     *(SelectChoice(s.id, s.starts_at.isoformat()) for s in slots)]


def _checkout_input(form: CheckoutForm, expected: bool) -> services.CheckoutInput:
    raw_total = (form.expected_total_cents.data or "").strip()
    return services.CheckoutInput(
        fulfilment=Fulfilment(form.fulfilment.data), payment_method=PaymentMethod(form.payment_method.data),
        delivery_address=form.delivery_address.data or "", delivery_postcode=form.delivery_postcode.data or "",
        delivery_town=form.delivery_town.data or "", delivery_slot_id=form.delivery_slot_id.data or None,
        note=form.note.data or "", use_account=not form.skip_account.data,
        expected_total_cents=int(raw_total) if expected and raw_total.isdigit() and len(raw_total) < 10 else None)


def _shown_summary(cart, distribution, form: CheckoutForm) -> services.CheckoutSummary | None:
    """The amounts for the choices on the page (None while they cannot be priced, e.g. an unserved postcode)."""
    if distribution is None:
        return None
    try:
        data = _checkout_input(form, expected=False)
    except ValueError:
        data = services.CheckoutInput()
    try:
        return services.checkout_summary(cart, distribution, data)
    except ServiceError:
        return None


def _place(data: services.CheckoutInput) -> tuple[int, PaymentMethod]:
    """Checkout; what the redirect needs is read before the commit (which expires the order: no reload)."""
    order = services.checkout(current_user, data)
    return order.id, order.payment_method


@bp.route("/checkout", methods=["GET", "POST"])
@login_required
def checkout():
    cart = services.get_cart(current_user)
    if not cart.items:
        flash(_("Your cart is empty."), "error")
        return redirect(url_for("orders.cart"))
    distribution = cart.distribution
    form = _checkout_form()
    if request.method == "GET":
        form.delivery_address.data = current_user.address
        form.delivery_postcode.data = current_user.postcode
        form.delivery_town.data = current_user.town
    if form.validate_on_submit():
        if request.form.get("review"):
            # Only the amounts for these choices: shown below, nothing is placed.
            perform(services.checkout_summary, cart, distribution, _checkout_input(form, expected=False), form=form)
        else:
            placed = perform(_place, _checkout_input(form, expected=True), form=form)
            if placed is not REFUSED:
                order_id, payment_method = placed
                if payment_method == PaymentMethod.CARD:
                    # Hosted card page (payments domain); the order is paid only on a verified webhook.
                    # 307 repeats this POST there (its CSRF token too): making the Checkout Session is no GET.
                    return redirect(url_for("payments.start_checkout", order_id=order_id), code=307)
                flash(_("Thank you! Your order is placed."), "success")
                return redirect(url_for("orders.order_page", order_id=order_id))
    _slot_choices(form, distribution)
    summary = _shown_summary(cart, distribution, form)
    form.expected_total_cents.data = str(summary.total_cents) if summary else ""
    cart_summary = services.summarise_cart(cart)
    return render_template("orders/checkout.html", form=form, summary=summary, distribution=distribution,
                           cart_summary=cart_summary,
                           account=services.account_use(current_user, cart_summary.goods_cents)), form_status(form)


# ---------------------------------------------------------------- buyer's orders

@bp.route("/orders")
@login_required
def my_orders():
    from marketplace.orders.services.buyer import buyer_orders

    result = buyer_orders(current_user, request_int("page", 1, minimum=1, maximum=100_000))
    return render_template("orders/my_orders.html", orders=result.items, result=result,
                           due=services.total_due_cents_by_order(result.items))


@bp.route("/orders/<int:order_id>")
@login_required
def order_page(order_id: int):
    from marketplace.orders.services.buyer import order_for_page

    order = order_for_page(current_user, order_id)
    return render_template("orders/order.html", order=order,
                           editable=order.distribution.is_open() and not order.quantities_locked,
                           summary=services.order_summary(order))


@bp.route("/orders/<int:order_id>/lines/<int:line_id>", methods=["POST"])
@login_required
def change_line(order_id: int, line_id: int):
    back = url_for("orders.order_page", order_id=order_id)
    line = db.session.get(OrderLine, line_id)
    name = line.product_name if line is not None else ""

    def change() -> int:
        quantity = _quantity_or_zero()
        services.change_line_quantity(current_user, order_id, line_id, quantity)
        return quantity

    quantity = perform(change, back=back)
    _changed(quantity, name, _("%(name)s removed from your order.", name=name))
    return redirect(next_or(back))


@bp.route("/orders/<int:order_id>/cancel", methods=["POST"])
@login_required
def cancel(order_id: int):
    return act(services.cancel_order, current_user, order_id, success=_("Order cancelled."),
               back=url_for("orders.order_page", order_id=order_id))


# ---------------------------------------------------------------- producer's order desk

@bp.route("/producer/orders")
@login_required
def producer_orders():
    from marketplace.orders.services.producer_desk import order_desk

    desk = order_desk(current_user, request_int("page", 1, minimum=1, maximum=100_000))
    notes = documents.packing_notes_by_distribution([d.id for d in desk.by_distribution], desk.producer.id)
    return render_template("orders/producer_orders.html", producer=desk.producer, pages=desk.pages,
                           by_distribution=desk.by_distribution, notes_by_distribution=notes,
                           weight_bounds=services.weight_bounds_g)


@bp.route("/producer/parts/<int:part_id>/accept", methods=["POST"])
@login_required
def accept_part(part_id: int):
    return act(services.accept_part, current_user, part_id, success=_("Order accepted."),
               back=url_for("orders.producer_orders"))


@bp.route("/producer/parts/<int:part_id>/ready", methods=["POST"])
@login_required
def mark_ready(part_id: int):
    return act(services.mark_ready, current_user, part_id, success=_("Marked ready."),
               back=url_for("orders.producer_orders"))


@bp.route("/producer/lines/<int:line_id>/reject", methods=["POST"])
@login_required
def reject_line(line_id: int):
    return act(services.reject_line, current_user, line_id, request.form.get("reason", ""),
               success=_("Line rejected; the buyer is told."), back=url_for("orders.producer_orders"))


@bp.route("/producer/lines/<int:line_id>/weight", methods=["POST"])
@login_required
def record_weight(line_id: int):
    return act(lambda: services.record_weight(current_user, line_id, _grams()), success=_("Weight recorded."),
               back=url_for("orders.producer_orders"))


def _grams() -> int:
    try:
        return _form_id("grams")
    except ServiceError:
        raise ServiceError(_("Enter the weight in whole grams."), "grams") from None


@bp.route("/producer/distributions/<int:distribution_id>/packing-list.<fmt>")
@login_required
def packing_list(distribution_id: int, fmt: str):
    from marketplace.catalog.services import producer_of

    profile = producer_of(current_user)
    return _document(documents.packing_list(distribution_id, profile.id), fmt)


@bp.route("/admin/distributions/<int:distribution_id>/pickup-sheet.<fmt>")
@login_required
def pickup_sheet(distribution_id: int, fmt: str):
    from marketplace.members.services import require_admin

    require_admin(current_user)
    return _document(documents.pickup_sheet(distribution_id), fmt)


@bp.route("/admin/orders/<int:order_id>/collected", methods=["POST"])
@login_required
def mark_collected(order_id: int):
    """Collected at the pickup; `received` (blank: the amount to pay) and `means` record what the buyer paid."""
    from marketplace.accounts.models import Means
    from marketplace.money import MoneyError, parse_cents

    back = url_for("orders.order_page", order_id=order_id)
    raw = (request.form.get("received") or "").strip()
    try:
        received = parse_cents(raw, allow_zero=True) if raw else None
        means = Means(request.form.get("means") or "cash")
    except (MoneyError, ValueError):
        flash(_("Enter the amount received, e.g. 12.50, and cash or cheque."), "error")
        return redirect(next_or(back), 303)
    return act(services.mark_collected, current_user, order_id, received, means, success=_("Marked as collected."),
               back=back)


def _document(doc: documents.Document, fmt: str) -> Response:
    if fmt == "csv":
        return Response(doc.to_csv(), mimetype="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{doc.filename}.csv"'})
    if fmt == "pdf":
        return Response(doc.to_pdf(), mimetype="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="{doc.filename}.pdf"'})
    raise NotFound(_("Unknown document format."))
