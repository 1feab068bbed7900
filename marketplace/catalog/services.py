"""Producers' profiles and products: who may change what, and what a valid product is."""
from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from PIL import Image, UnidentifiedImageError
from sqlalchemy import and_, case, func, select

from marketplace.catalog import search
from marketplace.catalog.models import Category, ProducerProfile, Product, ProductStatus, ProductVariant, Unit
from marketplace.catalog.variants import offered_product_ids
from marketplace.core.errors import NotFound, ServiceError
from marketplace.core.legal import apply_identity
from marketplace.extensions import db
from marketplace.members.models import College, User
from marketplace.members.services import require_active_member
from marketplace.money import MAX_CENTS

VAT_RATES_BP = (0, 210, 550, 1000, 2000)  # French VAT rates in basis points
MAX_STOCK = 1_000_000
MAX_PIECE_WEIGHT_G = 100_000
PHOTO_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
PHOTO_MAX_SIDE = 1200
# A photo's pixels are counted from its header before anything is decoded: a small file can claim a
# huge image (13000 x 13000 would take ~600 MB once decoded). Pillow's own guard, lowered to match,
# is the second line: it refuses twice this and warns above it.
MAX_PHOTO_PIXELS = 40_000_000
Image.MAX_IMAGE_PIXELS = MAX_PHOTO_PIXELS
NAME_MAX, DESCRIPTION_MAX = 120, 4000


@dataclass(frozen=True)
class ProductInput:
    name: str
    category_id: int
    unit: Unit
    price_cents: int
    vat_rate_bp: int = 550
    description: str = ""
    stock: int | None = None
    name_en: str = ""          # optional, shown to English-speaking members
    description_en: str = ""
    is_weight_priced: bool = False
    estimated_weight_g: int | None = None
    active: bool = True


def ensure_producer_profile(user: User) -> ProducerProfile:
    """The producer's public profile, created on approval with their name."""
    profile = db.session.query(ProducerProfile).filter_by(user_id=user.id).first()
    if profile is None:
        profile = ProducerProfile(user_id=user.id, name=user.full_name, town=user.town, postcode=user.postcode)
        db.session.add(profile)
        db.session.flush()
    return profile


def producer_of(user: User) -> ProducerProfile:
    """The acting user's producer profile; only active producer members have one to act on."""
    require_active_member(user, College.PRODUCER)
    return ensure_producer_profile(user)


def update_profile(user: User, *, name: str, description: str, town: str, postcode: str,
                   pickup_address: str, min_order_cents: int,
                   latitude: float | None = None, longitude: float | None = None) -> ProducerProfile:
    profile = producer_of(user)
    if not name.strip():
        raise ServiceError(_("Enter your farm or business name."), "name")
    if min_order_cents < 0 or min_order_cents > MAX_CENTS:
        raise ServiceError(_("The minimum order must be between 0 and a reasonable amount."), "min_order_cents")
    if latitude is not None and not -90 <= latitude <= 90:
        raise ServiceError(_("Latitude must be between -90 and 90."), "latitude")
    if longitude is not None and not -180 <= longitude <= 180:
        raise ServiceError(_("Longitude must be between -180 and 180."), "longitude")
    renamed = profile.name != name.strip()
    profile.name = name.strip()
    if renamed:
        for product in profile.products:
            index_product(product, profile.name)
    profile.description = description.strip()
    profile.town = town.strip()
    profile.postcode = postcode.strip()
    profile.pickup_address = pickup_address.strip()
    profile.min_order_cents = min_order_cents
    profile.latitude, profile.longitude = latitude, longitude
    return profile


def update_seller_identity(user: User, **identity: str) -> ProducerProfile:
    """The producer's legal identity, printed on the invoices the coop issues in their name."""
    profile = producer_of(user)
    apply_identity(profile, **identity)
    return profile


def _validate(data: ProductInput) -> None:
    if not data.name.strip() or len(data.name) > NAME_MAX:
        raise ServiceError(_("Enter a product name (120 characters at most)."), "name")
    if len(data.description) > DESCRIPTION_MAX:
        raise ServiceError(_("The description is too long (%(n)d characters at most).", n=DESCRIPTION_MAX),
                           "description")
    if len(data.name_en) > NAME_MAX:
        raise ServiceError(_("Enter a product name (120 characters at most)."), "name_en")
    if len(data.description_en) > DESCRIPTION_MAX:
        raise ServiceError(_("The description is too long (%(n)d characters at most).", n=DESCRIPTION_MAX),
                           "description_en")
    if db.session.get(Category, data.category_id) is None:
        raise ServiceError(_("Choose a category."), "category_id")
    if not isinstance(data.price_cents, int) or not 0 < data.price_cents <= MAX_CENTS:
        raise ServiceError(_("The price must be greater than zero."), "price")
    if data.vat_rate_bp not in VAT_RATES_BP:
        raise ServiceError(_("Choose one of the VAT rates."), "vat_rate_bp")
    if data.stock is not None and not 0 <= data.stock <= MAX_STOCK:
        raise ServiceError(_("Stock must be between 0 and %(max)d.", max=MAX_STOCK), "stock")
    if data.is_weight_priced:
        if data.unit != Unit.KG:
            raise ServiceError(_("A product priced by weight is priced per kg."), "unit")
        if not data.estimated_weight_g or not 0 < data.estimated_weight_g <= MAX_PIECE_WEIGHT_G:
            raise ServiceError(_("Give the estimated weight of one piece in grams."), "estimated_weight_g")


def _apply(product: Product, data: ProductInput) -> None:
    product.name = data.name.strip()
    product.description = data.description.strip()
    product.name_en = data.name_en.strip()
    product.description_en = data.description_en.strip()
    product.category_id = data.category_id
    product.unit = data.unit
    product.price_cents = data.price_cents
    product.vat_rate_bp = data.vat_rate_bp
    product.stock = data.stock
    product.is_weight_priced = data.is_weight_priced
    product.estimated_weight_g = data.estimated_weight_g if data.is_weight_priced else None
    product.status = ProductStatus.ACTIVE if data.active else ProductStatus.ARCHIVED
    _mirror_on_first_variant(product)


def _mirror_on_first_variant(product: Product) -> None:
    """The product's unit, price, VAT and weight are those of its first variant (created with the product)."""
    variant = product.variants[0] if product.variants else None
    if variant is None:
        variant = ProductVariant(position=0)
        product.variants.append(variant)
    variant.unit = product.unit
    variant.price_cents = product.price_cents
    variant.vat_rate_bp = product.vat_rate_bp
    variant.is_weight_priced = product.is_weight_priced
    variant.estimated_weight_g = product.estimated_weight_g


def index_product(product: Product, producer_name: str) -> None:
    """Keep the product's copies of what the catalogue sorts and searches on (one table, indexed)."""
    product.producer_name = producer_name
    product.search_text = search.search_text(product.name, producer_name, product.description,
                                             product.name_en or "", product.description_en or "")


def create_product(user: User, data: ProductInput) -> Product:
    """A producer lists a new product."""
    profile = producer_of(user)
    _validate(data)
    product = Product(producer_id=profile.id)
    _apply(product, data)
    index_product(product, profile.name)
    db.session.add(product)
    db.session.flush()
    return product


def own_product(user: User, product_id: int) -> Product:
    """A product of the acting producer; another producer's product is 'not found' to them."""
    profile = producer_of(user)
    product = db.session.get(Product, product_id)
    if product is None or product.producer_id != profile.id:
        raise NotFound(_("No such product in your catalogue."))
    return product


def update_product(user: User, product_id: int, data: ProductInput) -> Product:
    product = own_product(user, product_id)
    _validate(data)
    _apply(product, data)
    index_product(product, product.producer.name)
    return product


def set_stock(user: User, product_id: int, stock: int | None) -> Product:
    product = own_product(user, product_id)
    if stock is not None and not 0 <= stock <= MAX_STOCK:
        raise ServiceError(_("Stock must be between 0 and %(max)d.", max=MAX_STOCK), "stock")
    product.stock = stock
    return product


def archive_product(user: User, product_id: int, archived: bool = True) -> Product:
    product = own_product(user, product_id)
    product.status = ProductStatus.ARCHIVED if archived else ProductStatus.ACTIVE
    return product


def store_photo(data: bytes) -> str:
    """Check an uploaded photo (type, size, really an image), re-encode it, return its file name."""
    if len(data) > current_app.config["MAX_PHOTO_BYTES"]:
        raise ServiceError(_("The photo is too large (%(mb)d MB at most).",
                             mb=current_app.config["MAX_PHOTO_BYTES"] // (1024 * 1024)), "photo")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.size[0] * probe.size[1] > MAX_PHOTO_PIXELS:
                raise _too_many_pixels()
            probe.verify()
        image = Image.open(io.BytesIO(data))
        fmt = image.format
        if fmt not in PHOTO_FORMATS:
            raise ServiceError(_("Upload a JPEG, PNG or WebP photo."), "photo")
        image.load()
    except Image.DecompressionBombError:  # Pillow's own guard, for sizes far beyond ours
        raise _too_many_pixels() from None
    except (UnidentifiedImageError, OSError, SyntaxError):
        raise ServiceError(_("This file is not an image we can read: upload a JPEG, PNG or WebP photo."),
                           "photo") from None
    # Re-encoding drops metadata (GPS position of the farm...) and anything hidden in the file.
    image.thumbnail((PHOTO_MAX_SIDE, PHOTO_MAX_SIDE))
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    extension = PHOTO_FORMATS[fmt]
    if extension == "jpg" and image.mode == "RGBA":
        image = image.convert("RGB")
    name = f"{uuid.uuid4().hex}.{extension}"
    image.save(Path(current_app.config["UPLOAD_FOLDER"]) / name, format=fmt)
    return name


def _too_many_pixels() -> ServiceError:
    return ServiceError(_("This photo has too many pixels (%(mp)d megapixels at most): send a smaller one.",
                          mp=MAX_PHOTO_PIXELS // 1_000_000), "photo")


def set_product_photo(user: User, product_id: int, data: bytes) -> Product:
    product = own_product(user, product_id)
    product.photo_filename = store_photo(data)
    return product


@dataclass
class Page:
    """One page of a product list, with what the template's pager needs."""

    items: list[Product]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1


def _on_sale():
    return and_(Product.status == ProductStatus.ACTIVE, Product.hidden_reason.is_(None))


def _filters(words: list[str], category_slug: str, producer_id: int | None, distribution_id: int | None) -> list:
    from marketplace.distributions.models import distribution_producers

    conditions = [_on_sale(), *(Product.search_text.contains(word, autoescape=True) for word in words)]
    if category_slug:
        conditions.append(Product.category_id == select(Category.id).where(Category.slug == category_slug)
                          .scalar_subquery())
    if producer_id:
        conditions.append(Product.producer_id == producer_id)
    if distribution_id:
        # Only what is sold there: the producer's offers, or all their variants if they declared none.
        conditions.append(Product.producer_id.in_(
            select(distribution_producers.c.producer_id)
            .where(distribution_producers.c.distribution_id == distribution_id)))
        conditions.append(Product.id.in_(offered_product_ids(distribution_id)))
    return conditions


def _relevance(word: str):
    """0 when the name matches, 1 the producer's name, 2 only the description (see catalog.search)."""
    sep = search.SEPARATOR
    escaped = word.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return case((Product.search_text.like(f"%{escaped}%{sep}%{sep}%", escape="/"), 0),
                (Product.search_text.like(f"%{escaped}%{sep}%", escape="/"), 1), else_=2)


def browse_query(text: str = "", category_slug: str = "", producer_id: int | None = None,
                 distribution_id: int | None = None):
    """Products a buyer can see, filtered and in the catalogue's order; the caller paginates.

    Reads the products table alone: the order (producer's name, product name) is an index
    (ix_products_catalogue_order), and a search ranks name matches first.
    """
    from sqlalchemy.orm import selectinload

    words = search.query_words(text or "")
    query = select(Product).where(*_filters(words, category_slug, producer_id, distribution_id))
    order = [Product.producer_name, Product.name, Product.id]
    if words:
        order.insert(0, _relevance(words[0]))
    return query.options(selectinload(Product.producer), selectinload(Product.variants)).order_by(*order)


def _compute(_name: tuple, compute: Callable[[], int]) -> int:
    return compute()


def catalogue_page(page: int, per_page: int, text: str = "", category_slug: str = "",
                   producer_id: int | None = None, distribution_id: int | None = None,
                   remember: Callable[[tuple, Callable[[], int]], int] = _compute) -> Page:
    """One page of the catalogue and the number of products matching.

    A search reads its page and its total in one statement (count(*) OVER ()); browsing reads the
    page in index order and counts separately (a window count would visit every row), through
    `remember` (name, compute) so the caller can keep the count of a filter between pages.
    """
    words = search.query_words(text or "")
    query = browse_query(text, category_slug, producer_id, distribution_id)
    offset = (page - 1) * per_page
    if words:
        rows = db.session.execute(query.add_columns(func.count().over()).limit(per_page).offset(offset)).all()
        if rows or page == 1:
            return Page([product for product, _total in rows], page, per_page, rows[0][1] if rows else 0)
    filters = _filters(words, category_slug, producer_id, distribution_id)
    total = remember(("catalogue count", tuple(words), category_slug, producer_id, distribution_id),
                     lambda: db.session.scalar(select(func.count(Product.id)).where(*filters)) or 0)
    items = list(db.session.scalars(query.limit(per_page).offset(offset))) if offset < total and not words else []
    return Page(items, page, per_page, total)


def product_for_page(product_id: int) -> Product:
    """A product on sale, with its producer (its page shows both); NotFound when it is not, or no longer, sold."""
    from sqlalchemy.orm import joinedload

    item = db.session.get(Product, product_id, options=[joinedload(Product.producer)])
    if item is None or not item.is_available:
        raise NotFound(_("This product does not exist or is no longer sold."))
    return item
