"""Public catalogue and the producer's own products."""
from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup
from wtforms import SelectChoice

from marketplace.catalog import cache as page_cache
from marketplace.catalog import member_pages, prerender, services, variants
from marketplace.catalog.forms import ProductForm, ProfileForm
from marketplace.catalog.models import Category, ProducerProfile, Product, Unit
from marketplace.core.legal import IDENTITY_FIELDS
from marketplace.extensions import db
from marketplace.money import cents_to_input
from marketplace.web import REFUSED, act, form_status, perform, request_int

bp = Blueprint("catalog", __name__)


@bp.app_template_global()
def product_name(product: Product) -> str:
    """A product's name in the reader's language (the English one for English readers, when given)."""
    from flask_babel import get_locale

    return product.name_for(str(get_locale()))


@bp.app_template_global()
def product_description(product: Product) -> str:
    from flask_babel import get_locale

    return product.description_for(str(get_locale()))


@bp.app_template_global()
def default_sale_terms(product: Product) -> list:
    """A product's active variants at their own price and stock (where no distribution is chosen)."""
    return variants.product_sale_terms(None, [product])[product.id]


@bp.app_template_global()
def distribution_sale_terms(product: Product, distribution_id: int) -> list:
    """A product's variants as sold at this distribution: the offer's price and what is left (none: not sold)."""
    return variants.product_sale_terms(distribution_id, [product])[product.id]


@bp.route("/products")
def browse():
    grid = page_cache.fragment(_render_grid)  # the whole page: member_pages, answered by front_door
    return render_template("catalog/browse.html", grid=grid)


def _render_grid() -> str:
    """The catalogue's part shared by every visitor of this query: filters, product cards, pager."""
    from marketplace.distributions.services import open_distributions

    page = request_int("page", 1, minimum=1, maximum=100_000)
    text = request.args.get("q", "")
    category = request.args.get("category", "")
    producer_id = request_int("producer")
    distribution_id = request_int("distribution")
    pagination = services.catalogue_page(page, _per_page(), text, category, producer_id, distribution_id,
                                         remember=page_cache.remembered)
    return render_template(
        "catalog/_browse_grid.html", pagination=pagination, products=pagination.items,
        sold=variants.product_sale_terms(distribution_id, pagination.items),
        categories=db.session.query(Category).order_by(Category.slug).all(),
        producers=db.session.query(ProducerProfile.id, ProducerProfile.name).order_by(ProducerProfile.name).all(),
        distributions=open_distributions(), q=text, category=category,
        producer_id=producer_id, distribution_id=distribution_id)


def _per_page() -> int:
    from flask import current_app

    return current_app.config["PRODUCTS_PER_PAGE"]


@bp.route("/products/<int:product_id>")
def product(product_id: int):
    # The distribution the member's cart orders for (its offers' prices and what is left are shown): a
    # template global the orders domain registers, as the catalogue sits below orders.
    logged_in = current_user.is_authenticated
    cart_distribution_id: Callable[[], int | None] = current_app.jinja_env.globals["cart_distribution_id"]
    ordering_for = cart_distribution_id() if logged_in else None

    def render() -> str:
        """The page's part shared by every visitor (no name, no token): kept under the product's stamp, so the
        product changed since (or its stock taken) is read again (catalog/product_stamps.py)."""
        return prerender.render_part(services.product_for_page(product_id), ordering_for, logged_in)

    scope = ("product", product_id, ordering_for)
    body = page_cache.fragment(render, scope)
    # A member's (or visitors') product pages differ only by the shared part and the address: the rest (the
    # shell) is kept for the next product they open (catalog/front_door.py puts the two together).
    shell = render_template("catalog/product.html", body=Markup(member_pages.BODY), here=Markup(member_pages.HERE))
    fragment_key = page_cache.current_fragment_key(scope)
    if fragment_key is not None:
        member_pages.note_shell(shell, fragment_key)
    return member_pages.product_page(shell, body, request.full_path)


@bp.route("/producers/<int:producer_id>")
def producer(producer_id: int):
    profile = db.session.get(ProducerProfile, producer_id)
    if profile is None:
        abort(404, _("No such producer."))
    products = services.browse_query(producer_id=profile.id)
    return render_template("catalog/producer.html", producer=profile,
                           products=db.session.execute(products).scalars().all())


# ---------------------------------------------------------------- producer's side

def _category_choices():
    from flask_babel import get_locale

    locale = str(get_locale())
    return [SelectChoice(c.id, c.label(locale)) for c in db.session.query(Category).order_by(Category.slug)]


def _product_input(form: ProductForm) -> services.ProductInput:
    return services.ProductInput(
        name=form.name.data or "", description=form.description.data or "", category_id=form.category_id.data,
        name_en=form.name_en.data or "", description_en=form.description_en.data or "",
        unit=Unit(form.unit.data), price_cents=form.price.cents, vat_rate_bp=int(form.vat_rate_bp.data),
        stock=form.stock.number, is_weight_priced=form.is_weight_priced.data,
        estimated_weight_g=form.estimated_weight_g.number, active=form.active.data)


def _save_product(form: ProductForm, save, success: str) -> bool:
    """Create or update a product and its photo in one transaction; refusals go next to the fields."""
    def save_with_photo():
        item = save(_product_input(form))
        if form.photo.data:
            services.set_product_photo(current_user, item.id, form.photo.data.read())
        return item

    return perform(save_with_photo, success=success, form=form) is not REFUSED


@bp.route("/producer/products")
@login_required
def my_products():
    profile = services.producer_of(current_user)
    from sqlalchemy.orm import selectinload

    products = profile.products.options(selectinload(Product.variants)).order_by(Product.status, Product.name).all()
    return render_template("catalog/my_products.html", producer=profile, products=products)


@bp.route("/producer/products/new", methods=["GET", "POST"])
@login_required
def new_product():
    services.producer_of(current_user)
    form = ProductForm()
    form.category_id.choices = _category_choices()
    if form.validate_on_submit() and _save_product(
            form, lambda data: services.create_product(current_user, data), _("Product added.")):
        return redirect(url_for("catalog.my_products"))
    return render_template("catalog/product_form.html", form=form, product=None), form_status(form)


@bp.route("/producer/products/<int:product_id>/edit", methods=["GET", "POST"])
@login_required
def edit_product(product_id: int):
    item = services.own_product(current_user, product_id)
    form = ProductForm(obj=item)
    form.category_id.choices = _category_choices()
    if request.method == "GET":
        form.price.data = cents_to_input(item.price_cents)
        form.stock.data = "" if item.stock is None else str(item.stock)
        form.estimated_weight_g.data = "" if item.estimated_weight_g is None else str(item.estimated_weight_g)
        form.unit.data = item.unit.value
        form.vat_rate_bp.data = str(item.vat_rate_bp)
        form.active.data = item.status.value == "active"
    if form.validate_on_submit() and _save_product(
            form, lambda data: services.update_product(current_user, product_id, data), _("Product saved.")):
        return redirect(url_for("catalog.my_products"))
    return render_template("catalog/product_form.html", form=form, product=item), form_status(form)


@bp.route("/producer/products/<int:product_id>/archive", methods=["POST"])
@login_required
def archive_product(product_id: int):
    archived = request.form.get("archived", "1") == "1"
    return act(services.archive_product, current_user, product_id, archived,
               success=_("Product archived.") if archived else _("Product back on sale."),
               back=url_for("catalog.my_products"))


@bp.route("/producer/profile", methods=["GET", "POST"])
@login_required
def edit_profile():
    profile = services.producer_of(current_user)
    form = ProfileForm(obj=profile)
    if request.method == "GET":
        form.min_order.data = cents_to_input(profile.min_order_cents) if profile.min_order_cents else ""
        form.vat_regime.data = profile.vat_regime.value if profile.vat_regime else ""
    if form.validate_on_submit() and perform(_save_profile, form, profile, form=form,
                                             success=_("Profile saved.")) is not REFUSED:
        return redirect(url_for("catalog.producer", producer_id=profile.id))
    return render_template("catalog/profile_form.html", form=form, producer=profile), form_status(form)


def _save_profile(form: ProfileForm, profile: ProducerProfile) -> None:
    """The shop profile and the seller's legal identity, in one transaction."""
    services.update_profile(current_user, name=form.name.data, description=form.description.data or "",
                            town=form.town.data or "", postcode=form.postcode.data or "",
                            pickup_address=form.pickup_address.data or "", min_order_cents=form.min_order.cents or 0,
                            latitude=profile.latitude, longitude=profile.longitude)
    services.update_seller_identity(current_user, **{name: getattr(form, name).data or "" for name in IDENTITY_FIELDS})
