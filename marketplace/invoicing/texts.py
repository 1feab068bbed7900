"""The legal mentions of an invoice, in French whatever the interface language (printed and in the XML)."""
from __future__ import annotations

from marketplace.invoicing.amounts import FRANCHISE_MENTION
from marketplace.invoicing.drafting import local_date
from marketplace.invoicing.models import Invoice, IssuerKind

LATE_PAYMENT_PENALTIES = ("En cas de retard de paiement, pénalités exigibles au taux d'intérêt appliqué par la "
                          "Banque centrale européenne à son opération de refinancement la plus récente, majoré de "
                          "10 points (art. L441-10 du Code de commerce).")
RECOVERY_INDEMNITY = ("Indemnité forfaitaire pour frais de recouvrement due en cas de retard de paiement : 40 € "
                      "(art. L441-10 et D441-5 du Code de commerce).")
NO_DISCOUNT = "Pas d'escompte pour paiement anticipé."


def document_title(invoice: Invoice) -> str:
    if invoice.is_credit_note:
        return "AVOIR — AUTOFACTURATION" if invoice.self_billed else "AVOIR"
    return "FACTURE — AUTOFACTURATION" if invoice.self_billed else "FACTURE"


def mandate_mention(invoice: Invoice) -> str:
    """Who issued the document when it is not the seller (billing mandate or self-billing)."""
    accepted = f" accepté le {local_date(invoice.mandate.accepted_at):%d/%m/%Y}" if invoice.mandate else ""
    document = "Avoir émis" if invoice.is_credit_note else "Facture émise"
    if invoice.self_billed:
        return (f"Autofacturation : {document.lower()} par {invoice.buyer_name}, client, au nom et pour le compte "
                f"de {invoice.seller_name}, en vertu d'un mandat d'autofacturation (art. 289-I-2 du CGI){accepted}.")
    if invoice.on_behalf:
        return (f"{document} par {invoice.issuer_name} au nom et pour le compte de {invoice.seller_name}, "
                f"en vertu d'un mandat de facturation (art. 289-I-2 du CGI){accepted}.")
    return ""


def legal_notes(invoice: Invoice) -> list[tuple[str, str]]:
    """(UNTDID 4451 subject code, text) of each mention the invoice must carry."""
    notes = []
    if mention := mandate_mention(invoice):
        notes.append(("REG", mention))
    if invoice.credited_invoice is not None:
        original = invoice.credited_invoice
        notes.append(("AAI", f"Avoir se rapportant à la facture n° {original.number_text} du "
                             f"{local_date(original.issued_at):%d/%m/%Y}. Motif : {invoice.reason}"))
    notes.append(("AAI", "Nature de l'opération : "
                         + ("livraison de biens." if invoice.issuer_kind == IssuerKind.PRODUCER
                            else "prestation de services.")))
    if invoice.seller_vat_franchise:
        notes.append(("REG", FRANCHISE_MENTION))
    if invoice.is_b2b:
        notes += [("PMD", LATE_PAYMENT_PENALTIES), ("PMT", RECOVERY_INDEMNITY), ("AAB", NO_DISCOUNT)]
    return notes
