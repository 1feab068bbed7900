"""The billing mandate (mandat de facturation, CGI art. 289-I-2): versioned texts and their acceptance.

The texts are legal: they are in French whatever the interface language. A new version is added
with a higher number, never edited in place; each acceptance keeps the exact text accepted.
"""
from __future__ import annotations

from flask_babel import gettext as _

from marketplace.core.errors import NotAllowed, ServiceError
from marketplace.core.services import get_setting
from marketplace.extensions import db
from marketplace.invoicing.models import BillingMandate, MandateParty
from marketplace.members.models import College, User
from marketplace.timeutil import utcnow

_PRODUCER_V1 = """\
MANDAT DE FACTURATION (article 289-I-2 du Code général des impôts) — version {version}

Entre le producteur membre (« le mandant ») et la coopérative {coop} (« le mandataire »).

1. Objet. Le mandant confie au mandataire, qui l'accepte, l'établissement et l'émission, en son nom
et pour son compte, des factures et des avoirs relatifs aux ventes de ses produits réalisées par
l'intermédiaire de la plateforme de la coopérative, à destination des acheteurs.

2. Forme et numérotation. Les factures portent la mention « Facture émise par {coop} au nom et pour
le compte de » suivie de l'identité du mandant. Elles sont numérotées dans une série continue et
chronologique propre au mandant, distincte de toute autre série qu'il utiliserait par ailleurs, et
sont émises au format électronique Factur-X (PDF/A-3 et données structurées EN 16931).

3. Données. Le mandant fournit et tient à jour son identité légale (dénomination, adresse, SIRET,
numéro de TVA intracommunautaire ou bénéfice de la franchise en base de TVA, art. 293 B du CGI) et
les taux de TVA de ses produits. Il demeure seul responsable de ses obligations déclaratives et du
paiement de la TVA afférente aux factures émises en son nom.

4. Contestation. Chaque facture et chaque avoir est mis à la disposition du mandant dès son émission
dans son registre des factures. Le mandant dispose d'un délai de quinze jours à compter de cette
mise à disposition pour en contester le contenu auprès de la coopérative ; passé ce délai, il est
réputé l'avoir accepté. Toute correction donne lieu à un avoir, jamais à la modification d'une
facture émise.

5. Conservation. Le mandataire conserve les factures émises pendant dix ans et les tient à la
disposition du mandant et de l'administration ; le mandant peut à tout moment les télécharger et
les exporter.

6. Durée. Le présent mandat est conclu pour une durée indéterminée. Il peut être dénoncé à tout
moment par écrit ; il cesse alors pour les ventes postérieures à sa dénonciation.
"""

_COURIER_V1 = """\
MANDAT DE FACTURATION ET D'AUTOFACTURATION (article 289-I-2 du Code général des impôts) — version {version}

Entre le coursier membre exerçant à titre indépendant (« le mandant ») et la coopérative {coop}
(« le mandataire »).

1. Autofacturation. Le mandant confie à la coopérative, cliente de ses prestations de livraison,
l'établissement en son nom et pour son compte des factures correspondant à la rémunération de ses
tournées, calculée selon la règle publiée par la coopérative. Ces factures portent la mention
« Autofacturation ».

2. Livraisons vendues aux acheteurs. Lorsque la coopérative a choisi que la livraison à domicile
est vendue par le coursier, le mandant lui confie également l'émission, en son nom et pour son
compte, des factures de frais de livraison adressées aux acheteurs qu'il a livrés.

3. Forme et numérotation. Les factures sont numérotées dans une série continue et chronologique
propre au mandant et émises au format Factur-X (PDF/A-3, EN 16931).

4. Données. Le mandant fournit et tient à jour son identité légale (dénomination, adresse, SIRET,
numéro de TVA intracommunautaire ou franchise en base de TVA, art. 293 B du CGI). Il demeure seul
responsable de ses obligations déclaratives et fiscales.

5. Contestation. Chaque facture est mise à sa disposition dès son émission ; il dispose de quinze
jours pour la contester, faute de quoi il est réputé l'avoir acceptée. Toute correction donne lieu
à un avoir.

6. Conservation et durée. La coopérative conserve les factures dix ans. Le mandat est conclu pour
une durée indéterminée et peut être dénoncé à tout moment par écrit, pour l'avenir.
"""

# (party, version) -> text; the highest version of a party is the one offered for acceptance.
MANDATE_TEXTS: dict[tuple[MandateParty, int], str] = {
    (MandateParty.PRODUCER, 1): _PRODUCER_V1,
    (MandateParty.COURIER, 1): _COURIER_V1,
}


def current_version(party: MandateParty) -> int:
    return max(version for (p, version) in MANDATE_TEXTS if p == party)


def mandate_text(party: MandateParty, version: int | None = None) -> str:
    """The mandate's text, with the coop's name filled in."""
    version = version or current_version(party)
    return MANDATE_TEXTS[(party, version)].format(coop=get_setting("coop_name"), version=version)


def party_of(user: User) -> MandateParty:
    """Producers sign the sales mandate, couriers the self-billing one; others have none to sign."""
    if user.has_college(College.PRODUCER):
        return MandateParty.PRODUCER
    if user.has_college(College.COURIER):
        return MandateParty.COURIER
    raise NotAllowed(_("Only producers and couriers give the coop a billing mandate."))


def mandate_in_force(party: MandateParty, user_id: int) -> BillingMandate | None:
    """The seller's latest accepted, not revoked mandate (an older version stays valid until replaced)."""
    return (db.session.query(BillingMandate)
            .filter_by(party=party, user_id=user_id).filter(BillingMandate.revoked_at.is_(None))
            .order_by(BillingMandate.version.desc(), BillingMandate.id.desc()).first())


def accept_mandate(user: User, version: int, ip_address: str) -> BillingMandate:
    """The seller accepts the current mandate text: we keep the text, the time, who and from where."""
    party = party_of(user)
    if version != current_version(party):
        raise ServiceError(_("The mandate text has changed: read the current version and accept it."), "version")
    in_force = mandate_in_force(party, user.id)
    if in_force is not None and in_force.version == version:
        return in_force
    mandate = BillingMandate(party=party, user_id=user.id, version=version, text=mandate_text(party, version),
                             accepted_at=utcnow(), accepted_by_id=user.id, accepted_ip=(ip_address or "")[:64])
    db.session.add(mandate)
    db.session.flush()
    return mandate


def revoke_mandate(user: User) -> None:
    """The seller ends the mandate for the future: later sales wait (flagged) until a new acceptance."""
    party = party_of(user)
    for mandate in (db.session.query(BillingMandate).filter_by(party=party, user_id=user.id)
                    .filter(BillingMandate.revoked_at.is_(None))):
        mandate.revoked_at = utcnow()
    db.session.flush()
