"""Defining a contract: an admin, or a producer for their own products, writes the season's terms."""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _

from marketplace.catalog.models import Product, ProductVariant
from marketplace.contracts.models import (
    Contract,
    ContractItem,
    ContractStatus,
    ContractTextVersion,
    PaymentMeans,
)
from marketplace.contracts.rules import MAX_INSTALMENTS
from marketplace.core.errors import NotAllowed, NotFound, ServiceError
from marketplace.distributions.models import Distribution
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.money import MAX_CENTS

MAX_BASKET_QUANTITY = 99
MAX_TEXT = 20_000


@dataclass(frozen=True)
class ContractInput:
    title: str
    series_key: str
    price_per_delivery_cents: int
    items: tuple[tuple[int, int], ...]  # (variant_id, quantity per share)
    instalments: int = 1
    payment_means: tuple[PaymentMeans, ...] = (PaymentMeans.CHEQUE,)
    allowed_absences: int = 0
    quantities_changeable: bool = False
    content: str = ""
    text: str = ""


def _acting_producer_id(user: User) -> int | None:
    """None for an admin (any producer's variants); a producer acts for their own products only."""
    if user is not None and getattr(user, "is_authenticated", False) and user.is_admin:
        return None
    from marketplace.catalog.services import producer_of

    return producer_of(user).id


def _check(data: ContractInput) -> None:
    if not data.title.strip() or len(data.title) > 160:
        raise ServiceError(_("Give the contract a title (160 characters at most)."), "title")
    if not 0 < data.price_per_delivery_cents <= MAX_CENTS:
        raise ServiceError(_("Enter the price of one delivery."), "price")
    if not 1 <= data.instalments <= MAX_INSTALMENTS:
        raise ServiceError(_("Between 1 and %(n)d instalments.", n=MAX_INSTALMENTS), "instalments")
    if not data.payment_means:
        raise ServiceError(_("Choose at least one way to pay."), "payment_means")
    if not 0 <= data.allowed_absences <= 52:
        raise ServiceError(_("Between 0 and 52 absences."), "allowed_absences")
    if not data.items:
        raise ServiceError(_("Put at least one product in the basket."), "items")
    if len(data.text) > MAX_TEXT or not data.text.strip():
        raise ServiceError(_("Write the contract's text the member accepts."), "text")
    for _variant_id, quantity in data.items:
        if not 1 <= quantity <= MAX_BASKET_QUANTITY:
            raise ServiceError(_("Each product of the basket: 1 to %(n)d units.", n=MAX_BASKET_QUANTITY), "items")


def season_distributions(series_key: str) -> list[Distribution]:
    """The season: every distribution of the series, cancelled ones included (they are nobody's delivery)."""
    return (db.session.query(Distribution).filter(Distribution.series_key == series_key)
            .order_by(Distribution.starts_at).all())


def check_producers_take_part(series_key: str, producers: dict[int, str]) -> None:
    """Every producer of the basket brings goods to at least one distribution of the season still to come."""
    from marketplace.timeutil import utcnow

    now = utcnow()
    coming = [d for d in season_distributions(series_key) if d.cancelled_at is None and d.cutoff_at > now]
    if not coming:
        raise ServiceError(_("This season has no distribution still to come."), "series_key")
    taking_part = {profile.id for distribution in coming for profile in distribution.producers}
    missing = sorted(name for producer_id, name in producers.items() if producer_id not in taking_part)
    if missing:
        raise ServiceError(_("%(names)s take(s) part in none of this season's distributions still to come: "
                             "add them to the distributions or choose another season.", names=", ".join(missing)),
                           "series_key")


def create_contract(user: User, data: ContractInput) -> Contract:
    """A new contract, open to subscribers; its text is version 1."""
    producer_id = _acting_producer_id(user)
    _check(data)
    if not season_distributions(data.series_key):
        raise ServiceError(_("Choose a series of distributions for the season."), "series_key")
    ids = [variant_id for variant_id, _q in data.items]
    if len(set(ids)) != len(ids):
        raise ServiceError(_("A product appears twice in the basket."), "items")
    variants = (db.session.query(ProductVariant).join(Product).filter(ProductVariant.id.in_(ids)).all())
    if len(variants) != len(ids):
        raise ServiceError(_("Unknown product in the basket."), "items")
    producers = {v.product.producer_id for v in variants}
    if producer_id is not None and producers != {producer_id}:
        raise NotAllowed(_("A producer's contract holds only their own products."))
    check_producers_take_part(data.series_key, {v.product.producer_id: v.product.producer.name for v in variants})
    contract = Contract(
        title=data.title.strip(), series_key=data.series_key, content=data.content.strip(),
        price_per_delivery_cents=data.price_per_delivery_cents, instalments=data.instalments,
        payment_means=",".join(sorted({PaymentMeans(m).value for m in data.payment_means})),
        allowed_absences=data.allowed_absences, quantities_changeable=data.quantities_changeable,
        text=data.text.strip(), text_version=1, status=ContractStatus.OPEN, created_by_id=user.id,
        producer_id=producer_id if producer_id is not None else (producers.pop() if len(producers) == 1 else None))
    contract.items = [ContractItem(variant_id=variant_id, quantity=quantity) for variant_id, quantity in data.items]
    contract.versions = [ContractTextVersion(version=1, text=contract.text)]
    db.session.add(contract)
    db.session.flush()
    return contract


def get_contract(contract_id: int) -> Contract:
    contract = db.session.get(Contract, contract_id)
    if contract is None:
        raise NotFound(_("No such contract."))
    return contract


def require_contract_manager(user: User, contract: Contract) -> None:
    """An admin, or the producer who runs the contract."""
    producer_id = _acting_producer_id(user)
    if producer_id is not None and contract.producer_id != producer_id:
        raise NotFound(_("No such contract."))


def revise_text(user: User, contract_id: int, text: str) -> Contract:
    """A new version of the text: new subscribers accept it; earlier subscribers keep the one they accepted."""
    contract = get_contract(contract_id)
    require_contract_manager(user, contract)
    text = (text or "").strip()
    if not text or len(text) > MAX_TEXT:
        raise ServiceError(_("Write the contract's text the member accepts."), "text")
    if text == contract.text:
        return contract
    contract.text_version += 1
    contract.text = text
    contract.versions.append(ContractTextVersion(version=contract.text_version, text=text))
    db.session.flush()
    return contract


def set_contract_status(user: User, contract_id: int, status: ContractStatus) -> Contract:
    contract = get_contract(contract_id)
    require_contract_manager(user, contract)
    contract.status = ContractStatus(status)
    db.session.flush()
    return contract


def open_contracts() -> list[Contract]:
    return db.session.query(Contract).filter_by(status=ContractStatus.OPEN).order_by(Contract.title).all()


def managed_contracts(user: User) -> list[Contract]:
    producer_id = _acting_producer_id(user)
    query = db.session.query(Contract)
    if producer_id is not None:
        query = query.filter(Contract.producer_id == producer_id)
    return query.order_by(Contract.created_at.desc()).all()


@dataclass(frozen=True)
class ContractChoices:
    series: list[tuple[str, str]]          # (series_key, "place — first date, n distributions")
    variants: list[tuple[int, str]]        # (variant_id, "producer — product — label")


def contract_choices(user: User) -> ContractChoices:
    """What a new contract may be made of: the distribution series to come, and the variants the user may sell."""
    from flask_babel import format_date

    from marketplace.timeutil import utcnow

    producer_id = _acting_producer_id(user)
    rows = (db.session.query(Distribution).filter(Distribution.series_key.is_not(None),
                                                  Distribution.starts_at > utcnow())
            .order_by(Distribution.starts_at).all())
    series: dict[str, list[Distribution]] = {}
    for distribution in rows:
        series.setdefault(distribution.series_key, []).append(distribution)
    series_choices = [(key, _("%(place)s — from %(date)s, %(n)d distributions", place=ds[0].pickup_place.name,
                                date=format_date(ds[0].starts_at), n=len(ds))) for key, ds in series.items()]
    query = (db.session.query(ProductVariant).join(Product, Product.id == ProductVariant.product_id)
             .filter(ProductVariant.active.is_(True)))
    if producer_id is not None:
        query = query.filter(Product.producer_id == producer_id)
    variants = [(v.id, " — ".join(part for part in (v.product.producer.name, v.product.name, v.label) if part))
                for v in query.order_by(Product.name, ProductVariant.position).limit(500)]
    return ContractChoices(series_choices, variants)
