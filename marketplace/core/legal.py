"""A seller's legal identity (producers, self-employed couriers): the columns and their checks.

Identifiers are checked with python-stdnum (Luhn key of SIREN/SIRET, key of the intra-EU VAT
number) and stored compact; a French VAT number must carry the same SIREN as the SIRET.
"""
from __future__ import annotations

import enum

from flask_babel import gettext as _
from stdnum import exceptions as stdnum_errors
from stdnum.eu import vat as eu_vat
from stdnum.fr import siren as fr_siren
from stdnum.fr import siret as fr_siret

from marketplace.core.errors import ServiceError
from marketplace.core.types import enum_type
from marketplace.extensions import db


class VatRegime(str, enum.Enum):
    SUBJECT = "subject"       # charges VAT: an intra-EU VAT number is required
    FRANCHISE = "franchise"   # franchise en base: "TVA non applicable, art. 293 B du CGI"


# The form fields (and apply_identity's arguments) that make a seller identity.
IDENTITY_FIELDS = ("legal_name", "legal_form", "legal_address", "legal_postcode", "legal_town", "siret",
                   "vat_number", "vat_regime")


class LegalIdentityMixin:
    """Who sells, as an invoice must name them (legal name, address, SIRET, VAT number or franchise)."""

    legal_name = db.Column(db.String(200), nullable=False, default="")
    legal_form = db.Column(db.String(200), nullable=False, default="")  # "EI", "EARL au capital de 7 500 €"
    legal_address = db.Column(db.String(300), nullable=False, default="")
    legal_postcode = db.Column(db.String(16), nullable=False, default="")
    legal_town = db.Column(db.String(120), nullable=False, default="")
    siret = db.Column(db.String(14), nullable=False, default="")
    vat_number = db.Column(db.String(20), nullable=False, default="")
    vat_regime = db.Column(enum_type(VatRegime))  # NULL: not stated yet

    @property
    def siren(self) -> str:
        return self.siret[:9]


def clean_siret(raw: str | None, field: str = "siret") -> str:
    """A valid 14-digit SIRET (spaces allowed when typed), or '' if blank."""
    text = (raw or "").strip()
    if not text:
        return ""
    try:
        return fr_siret.validate(text)
    except stdnum_errors.ValidationError:
        raise ServiceError(_("This SIRET number is not valid (14 digits, check the number)."), field) from None


def clean_siren(raw: str | None, field: str = "siren") -> str:
    """A valid 9-digit SIREN (a SIRET is accepted and shortened), or '' if blank."""
    text = "".join((raw or "").split())
    if not text:
        return ""
    if len(text) == 14:
        return clean_siret(text, field)[:9]
    try:
        return fr_siren.validate(text)
    except stdnum_errors.ValidationError:
        raise ServiceError(_("This SIREN number is not valid (9 digits, check the number)."), field) from None


def clean_vat_number(raw: str | None, siren: str = "", field: str = "vat_number") -> str:
    """A valid intra-EU VAT number (FR…, DE…), or '' if blank; a French one must match the SIREN."""
    text = (raw or "").strip()
    if not text:
        return ""
    try:
        number = eu_vat.validate(text)
    except stdnum_errors.ValidationError:
        raise ServiceError(_("This intra-EU VAT number is not valid (e.g. FR40303265045)."), field) from None
    if siren and number.startswith("FR") and number[-9:] != siren:
        raise ServiceError(_("This VAT number does not belong to the SIREN of your SIRET."), field)
    return number


def apply_identity(target: LegalIdentityMixin, *, legal_name: str, legal_form: str, legal_address: str,
                   legal_postcode: str, legal_town: str, siret: str, vat_number: str,
                   vat_regime: VatRegime | str | None) -> None:
    """Check and store a seller's identity; a VAT-registered seller must give their VAT number."""
    siret = clean_siret(siret)
    try:
        regime = VatRegime(vat_regime) if vat_regime else None
    except ValueError:
        raise ServiceError(_("Choose whether you charge VAT."), "vat_regime") from None
    vat = clean_vat_number(vat_number, siret[:9])
    if regime == VatRegime.SUBJECT and not vat:
        raise ServiceError(_("A seller who charges VAT must give their intra-EU VAT number."), "vat_number")
    target.legal_name = (legal_name or "").strip()[:200]
    target.legal_form = (legal_form or "").strip()[:200]
    target.legal_address = (legal_address or "").strip()[:300]
    target.legal_postcode = (legal_postcode or "").strip()[:16]
    target.legal_town = (legal_town or "").strip()[:120]
    target.siret = siret
    target.vat_number = vat
    target.vat_regime = regime


def identity_gaps(identity: LegalIdentityMixin) -> list[str]:
    """What an invoice in this seller's name still lacks (empty list: complete)."""
    gaps = []
    if not identity.legal_name:
        gaps.append(_("legal name"))
    if not (identity.legal_address and identity.legal_postcode and identity.legal_town):
        gaps.append(_("address"))
    if not identity.siret:
        gaps.append(_("SIRET"))
    if identity.vat_regime is None:
        gaps.append(_("VAT status"))
    elif identity.vat_regime == VatRegime.SUBJECT and not identity.vat_number:
        gaps.append(_("VAT number"))
    return gaps
