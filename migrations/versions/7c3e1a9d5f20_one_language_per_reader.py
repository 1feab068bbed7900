"""one language per reader: history and ledger as codes and cents; products' optional English words

Revision ID: 7c3e1a9d5f20
Revises: 7c4e1f2a8d90
Create Date: 2026-11-29 12:40:00.000000

Order events gain amount_cents (formerly a formatted amount in `detail`, in the language of whoever
triggered the event); fixed sentences the shop wrote into `detail`, `cancel_reason` and the ledger's
`note` become codes (orders.events.REASONS) or disappear (the ledger's kind says it), in English or
French alike. A person's own words (reasons, answers) are kept as typed.

Products gain an optional English name and description, shown to English-speaking members.
"""
import re

import sqlalchemy as sa
from alembic import op

revision = '7c3e1a9d5f20'
down_revision = '7c4e1f2a8d90'
branch_labels = None
depends_on = None

REASON_CODES = {
    "Emptied by the buyer.": "emptied_by_buyer", "Vidée par l'acheteur.": "emptied_by_buyer",
    "Cancelled by the buyer.": "cancelled_by_buyer", "Annulée par l'acheteur.": "cancelled_by_buyer",
    "Card payment cancelled by the buyer.": "card_abandoned",
    "Paiement par carte annulé par l'acheteur.": "card_abandoned",
    "The card payment was not completed in time.": "card_expired",
    "Le paiement par carte n'a pas été finalisé à temps.": "card_expired",
}
MINIMUM = re.compile(r"(minimum order for this distribution|minimum de commande de .* pour cette distribution)")
AMOUNT_KINDS = ("paid_at_pickup", "payment_authorised", "payment_paid")
# Ledger notes that only repeated the kind, and prefixes put before a person's reason.
FIXED_NOTES = (
    "Stripe fee (coop cost)", "Frais Stripe (frais de la coopérative)",
    "Stripe processing fee (coop cost)", "Frais de traitement Stripe (coût de la coopérative)",
    "Stripe dispute fee (coop cost)", "Frais de contestation Stripe (frais de la coopérative)",
    "Lost chargeback borne by the coop (published rule)",
    "Contestation bancaire perdue, supportée par la coopérative (règle publiée)",
    "Chargeback won: funds reinstated", "Contestation bancaire gagnée : fonds restitués",
)
NOTE_PREFIXES = ("Reversal borne by the coop: ", "Reprise supportée par la coopérative : ",
                 "Chargeback withdrawn: ", "Contestation bancaire, montant prélevé : ")


def _code(text):
    if text in REASON_CODES:
        return REASON_CODES[text]
    return "minimum_not_reached" if MINIMUM.search(text or "") else text


def _cents(text):
    digits = re.sub(r"\D", "", text or "")
    return int(digits) if digits else None


def upgrade():
    with op.batch_alter_table('products') as batch:
        batch.add_column(sa.Column('name_en', sa.String(length=120), server_default='', nullable=False))
        batch.add_column(sa.Column('description_en', sa.Text(), server_default='', nullable=False))
    with op.batch_alter_table('order_events') as batch:
        batch.add_column(sa.Column('amount_cents', sa.Integer(), nullable=True))
    bind = op.get_bind()
    events = sa.table('order_events', sa.column('id', sa.Integer), sa.column('kind', sa.String),
                      sa.column('detail', sa.Text), sa.column('amount_cents', sa.Integer))
    for row in bind.execute(sa.select(events.c.id, events.c.kind, events.c.detail)).all():
        values = {}
        if row.kind in AMOUNT_KINDS:
            values = {"amount_cents": _cents(row.detail), "detail": ""}
        elif row.kind in ("payment_due", "payment_cancelled"):
            values = {"detail": ""}
        elif _code(row.detail) != row.detail:
            values = {"detail": _code(row.detail)}
        if values:
            bind.execute(events.update().where(events.c.id == row.id).values(**values))
    parts = sa.table('order_parts', sa.column('id', sa.Integer), sa.column('cancel_reason', sa.Text))
    for row in bind.execute(sa.select(parts.c.id, parts.c.cancel_reason).where(parts.c.cancel_reason != "")).all():
        if _code(row.cancel_reason) != row.cancel_reason:
            bind.execute(parts.update().where(parts.c.id == row.id).values(cancel_reason=_code(row.cancel_reason)))
    ledger = sa.table('payment_ledger', sa.column('id', sa.Integer), sa.column('kind', sa.String),
                      sa.column('note', sa.Text))
    bind.execute(ledger.update().where(ledger.c.kind.in_(
        ("charge", "withholding", "withholding_released", "dispute_reinstated"))).values(note=""))
    bind.execute(ledger.update().where(ledger.c.note.in_(FIXED_NOTES)).values(note=""))
    for row in bind.execute(sa.select(ledger.c.id, ledger.c.note).where(ledger.c.note != "")).all():
        for prefix in NOTE_PREFIXES:
            if row.note.startswith(prefix):
                bind.execute(ledger.update().where(ledger.c.id == row.id).values(note=row.note[len(prefix):]))


def downgrade():
    with op.batch_alter_table('order_events') as batch:
        batch.drop_column('amount_cents')
    with op.batch_alter_table('products') as batch:
        batch.drop_column('description_en')
        batch.drop_column('name_en')
