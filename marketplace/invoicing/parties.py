"""Who is named on an invoice: the seller (producer, courier or coop), the coop issuing it, the buyer."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from flask_babel import gettext as _

from marketplace.catalog.models import ProducerProfile
from marketplace.core.errors import NotAllowed, ServiceError
from marketplace.core.legal import (
    LegalIdentityMixin,
    VatRegime,
    apply_identity,
    clean_siren,
    clean_vat_number,
    identity_gaps,
)
from marketplace.core.services import get_setting
from marketplace.dispatch.models import CourierProfile, CourierStatus
from marketplace.extensions import db
from marketplace.invoicing.models import BuyerIdentity
from marketplace.members.models import College, User
from marketplace.members.services import require_active_member

_POSTCODE_TOWN = re.compile(r"^(?P<street>.*?),?\s*(?P<postcode>\d{5})\s+(?P<town>[^,]+)$")


@dataclass(frozen=True)
class Party:
    name: str
    legal_form: str = ""
    address: str = ""
    postcode: str = ""
    town: str = ""
    siret: str = ""
    siren: str = ""
    vat_number: str = ""
    registration: str = ""
    vat_franchise: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def split_address(address: str) -> tuple[str, str, str]:
    """'12 rue des Halles, 44000 Nantes' -> ('12 rue des Halles', '44000', 'Nantes'); else (address, '', '')."""
    match = _POSTCODE_TOWN.match((address or "").strip())
    if not match:
        return (address or "").strip(), "", ""
    return match["street"].strip(" ,"), match["postcode"], match["town"].strip()


def seller_party(identity: LegalIdentityMixin) -> Party:
    return Party(name=identity.legal_name, legal_form=identity.legal_form, address=identity.legal_address,
                 postcode=identity.legal_postcode, town=identity.legal_town, siret=identity.siret,
                 siren=identity.siren, vat_number=identity.vat_number,
                 vat_franchise=identity.vat_regime == VatRegime.FRANCHISE)


def coop_party() -> Party:
    """The coop as its settings describe it (seller of its own invoices, buyer of couriers' services)."""
    street, postcode, town = split_address(get_setting("coop_address"))
    siret = get_setting("coop_siret")
    return Party(name=get_setting("coop_name"), legal_form=get_setting("coop_legal_form"), address=street,
                 postcode=postcode, town=town, siret=siret, siren=siret[:9], vat_number=get_setting("coop_vat_number"),
                 registration=get_setting("coop_registration"),
                 vat_franchise=get_setting("coop_vat_regime") == VatRegime.FRANCHISE.value)


def coop_gaps() -> list[str]:
    """What the coop's settings lack for an invoice in its own name."""
    party = coop_party()
    gaps = [] if party.siret else [_("the coop's SIRET")]
    if not party.vat_franchise and not party.vat_number:
        gaps.append(_("the coop's VAT number"))
    return gaps


def seller_gaps(identity: LegalIdentityMixin | None) -> list[str]:
    return [_("seller identity")] if identity is None else identity_gaps(identity)


def buyer_party(user: User | None, address: str = "", postcode: str = "", town: str = "") -> Party:
    """The buyer as named on their invoices: their business when they gave one, else their name."""
    if user is None:
        return Party(name="")
    business = db.session.get(BuyerIdentity, user.id)
    name = business.business_name if business and business.business_name else user.full_name
    return Party(name=name, address=address or user.address, postcode=postcode or user.postcode,
                 town=town or user.town, siren=business.siren if business else "",
                 vat_number=business.vat_number if business else "")


def member_party(user: User) -> Party:
    """A member billed by the coop (fees): their business when they sell as one, else as a buyer."""
    for identity in (getattr(user, "producer_profile", None), courier_identity(user.id)):
        if identity is not None and identity.legal_name and identity.siret:
            return seller_party(identity)
    return buyer_party(user)


def producer_identity(producer_id: int) -> ProducerProfile | None:
    return db.session.get(ProducerProfile, producer_id)


def courier_identity(user_id: int) -> CourierProfile | None:
    return db.session.query(CourierProfile).filter_by(user_id=user_id).one_or_none()


def is_self_employed_courier(user_id: int | None) -> bool:
    profile = courier_identity(user_id) if user_id else None
    return profile is not None and profile.business_status == CourierStatus.SELF_EMPLOYED


# ---------------------------------------------------------------- what members edit

def save_buyer_identity(user: User, *, business_name: str, siren: str, vat_number: str) -> BuyerIdentity:
    """A member buying for a business gives its name, SIREN and VAT number (all optional, checked)."""
    require_active_member(user)
    siren = clean_siren(siren)
    vat = clean_vat_number(vat_number, siren)
    business_name = (business_name or "").strip()[:200]
    if (siren or vat) and not business_name:
        raise ServiceError(_("Give the name of the business the invoices are for."), "business_name")
    row = db.session.get(BuyerIdentity, user.id)
    if row is None:
        row = BuyerIdentity(user_id=user.id)
        db.session.add(row)
    row.business_name, row.siren, row.vat_number = business_name, siren, vat
    db.session.flush()
    return row


def own_courier_profile(user: User) -> CourierProfile | None:
    """The acting courier's profile (None until they describe their vehicle); only couriers have one."""
    require_active_member(user, College.COURIER)
    return courier_identity(user.id)


def save_courier_identity(user: User, *, self_employed: bool, **identity: str) -> CourierProfile:
    """A courier says whether they ride as a self-employed business, with that business's identity."""
    profile = own_courier_profile(user)
    if profile is None:
        raise NotAllowed(_("Fill in your courier profile (vehicle, capacity) first."))
    apply_identity(profile, **identity)
    profile.business_status = CourierStatus.SELF_EMPLOYED if self_employed else CourierStatus.MEMBER
    if self_employed and identity_gaps(profile):
        raise ServiceError(_("A self-employed courier's invoices need: %(gaps)s.",
                             gaps=", ".join(identity_gaps(profile))))
    db.session.flush()
    return profile
