"""Blanking an erased member's identifiers wherever they were copied: e-mails, free texts, Stripe
payloads and the texts of the audit log.

The rows *about* the member (their account, orders, disputes...) are anonymised field by field in
privacy.services. What this module handles is copies: a name in an e-mail sent to a producer, an
address in a courier's failure reason, an e-mail address in a webhook payload. It searches every
text column of the schema (new tables are covered without changes here) except the register
columns that hold someone else's own identity: a namesake or a housemate keeps their name and
address.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable

from sqlalchemy import JSON, Enum, String, Text, bindparam, cast, or_, select

from marketplace.extensions import db

# What replaces an erased value: the usual mark of an elision, the same in French and English.
ELIDED = "[…]"
# Shorter values are not searched for (a two-letter name would match inside ordinary words).
MIN_IDENTIFIER = 4
# A free text the member wrote (a dispute note) is searched for as a whole when it is this long.
MIN_FREE_TEXT = 8
AUDIT_TABLE = "audit_log"
# Columns that hold the identity of another member, place or thing: never rewritten by the sweep.
REGISTER_COLUMNS = {
    "users": {"email", "password_hash", "full_name", "phone", "address", "postcode", "town", "locale"},
    "producers": {"name", "pickup_address", "postcode", "town"},
    "orders": {"reference", "delivery_address", "delivery_postcode", "delivery_town", "delivery_code"},
    "pickup_places": {"name", "address", "postcode", "town"},
    "postcode_centroids": {"postcode", "town"},
    "delivery_zones": {"name", "postcodes"},
    "categories": {"slug", "name_en", "name_fr"},
    "outbound_emails": {"recipient"},  # e-mails to the member are deleted, not rewritten
    "api_tokens": {"token_hash", "prefix"},
    "member_former_identifiers": {"value"},  # another member's history; the erased one's is deleted
}
# Stripe object fields that carry a person's contact details (Checkout, charges, payment
# intents, connected accounts), blanked in the stored webhook payloads that concern the member.
STRIPE_PERSONAL_KEYS = {"customer_email", "customer_details", "billing_details", "receipt_email", "shipping",
                        "shipping_details", "collected_information", "email", "phone", "name", "address",
                        "individual", "support_email", "support_phone", "support_address"}


def needles(identifiers: Iterable[str], free_texts: Iterable[str] = ()) -> list[str]:
    """The strings to search for: each identifier as typed, in JSON-escaped form and (phones) as digits;
    free texts as a whole."""
    found: set[str] = set()
    for value in identifiers:
        value = (value or "").strip()
        if len(value) >= MIN_IDENTIFIER:
            found.add(value)
            digits = re.sub(r"[\s.\-/()]", "", value)
            if value != digits and digits.lstrip("+").isdigit() and len(digits) >= 6:
                found.add(digits)
    found.update(t.strip() for t in free_texts if t and len(t.strip()) >= MIN_FREE_TEXT)
    found.update({json.dumps(v)[1:-1] for v in found} - found)
    return sorted(found, key=len, reverse=True)


def pattern(values: list[str]) -> re.Pattern | None:
    """One case-insensitive regular expression matching any value as a whole (not inside a longer word,
    a longer e-mail address or a longer number)."""
    if not values:
        return None
    alternatives = "|".join(re.escape(v) for v in values)
    return re.compile(rf"(?<![\w.+@-])(?:{alternatives})(?![\w@-]|\.\w)", re.IGNORECASE)


def redact(value, regex: re.Pattern):
    """The value with every match elided; dicts and lists (JSON columns) are walked."""
    if isinstance(value, str):
        return regex.sub(ELIDED, value)
    if isinstance(value, dict):
        return {k: redact(v, regex) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, regex) for v in value]
    return value


def _text_columns(table) -> list:
    register = REGISTER_COLUMNS.get(table.name, set())
    return [c for c in table.columns if isinstance(c.type, (String, Text, JSON)) and not isinstance(c.type, Enum)
            and not c.primary_key and c.name not in register]


def _matching(column, values: list[str]):
    target = cast(column, Text) if isinstance(column.type, JSON) else column
    return or_(*[target.icontains(v, autoescape=True) for v in values])


def _rewrite(table, column, regex: re.Pattern, values: list[str], *where) -> list:
    """Rewrite one column where it holds a value; the primary keys of the rows changed."""
    keys = list(table.primary_key.columns)
    rows = db.session.execute(select(*keys, column).where(_matching(column, values), *where)).all()
    changes = []
    for row in rows:
        new = redact(row[-1], regex)
        if isinstance(new, str) and getattr(column.type, "length", None):
            new = new[:column.type.length]
        if new != row[-1]:
            changes.append({**{f"k_{k.name}": row[i] for i, k in enumerate(keys)}, "v_new": new})
    if changes:
        condition = [k == bindparam(f"k_{k.name}") for k in keys]
        statement = table.update().where(*condition).values({column.name: bindparam("v_new")})
        # Core, not the ORM: no row watch or hook is meant to see an erasure's rewriting.
        db.session.connection().execute(statement, changes)
    return [tuple(c[f"k_{k.name}"] for k in keys) for c in changes]


def sweep(values: list[str], spare: dict[str, list[int]] | None = None) -> int:
    """Elide the values from every text column but the register columns, the audit log, the tables the law
    says to keep as issued (a table's `info["kept_by_law"]`) and the rows it keeps (`spare`: ids per table)."""
    regex = pattern(values)
    if regex is None:
        return 0
    changed = 0
    for table in db.metadata.sorted_tables:
        if table.name == AUDIT_TABLE or table.info.get("kept_by_law"):
            continue
        kept = (spare or {}).get(table.name)
        where = [table.c.id.notin_(kept)] if kept else []
        for column in _text_columns(table):
            changed += len(_rewrite(table, column, regex, values, *where))
    return changed


def redact_emails_about(references: list[str], texts: list[str]) -> int:
    """Elide the member's own free texts (a dispute note quoted to the producer) from the stored e-mails about
    their orders. Only there: the same words in someone else's note are that person's."""
    from marketplace.core.models import OutboundEmail

    values = needles((), texts)
    regex = pattern(values)
    if regex is None or not references:
        return 0
    table = OutboundEmail.__table__
    about = or_(*[table.c.subject.contains(r, autoescape=True) | table.c.body.contains(r, autoescape=True)
                  for r in references])
    return sum(len(_rewrite(table, column, regex, values, about)) for column in (table.c.subject, table.c.body))


def redact_audit(values: list[str]) -> list[int]:
    """Elide the values from the texts of past audit entries (the one change the log accepts); their ids."""
    from marketplace.audit.models import REDACTION_SETTING, AuditEntry

    regex = pattern(values)
    if regex is None:
        return []
    announce = db.session.get_bind().dialect.name == "postgresql"
    if announce:  # transaction-local, and switched off again as soon as the texts are rewritten
        db.session.execute(select(db.func.set_config(REDACTION_SETTING, "on", True)))
    table = AuditEntry.__table__
    ids: set[int] = set()
    for column in (table.c.before_json, table.c.after_json, table.c.note):
        ids.update(key for (key,) in _rewrite(table, column, regex, values))
    if announce:
        db.session.execute(select(db.func.set_config(REDACTION_SETTING, "off", True)))
    return sorted(ids)


def redact_pending_audit(values: list[str]) -> None:
    """Elide the values from audit entries this transaction will append at commit (the row watch's before
    and after values, e.g. a membership's previous decision reason)."""
    from marketplace.audit.handlers import pending_rows

    regex = pattern(values)
    if regex is None:
        return
    for row in pending_rows(db.session):
        row["before"], row["after"] = redact(row["before"], regex), redact(row["after"], regex)


def _strip_personal(value):
    if isinstance(value, dict):
        return {k: (None if k in STRIPE_PERSONAL_KEYS and v not in (None, "", {}, []) else _strip_personal(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_personal(v) for v in value]
    return value


def strip_stripe_payloads(object_ids: Iterable[str], accounts: Iterable[str], values: list[str]) -> int:
    """Blank the contact fields of stored webhook payloads about the member's payments or account."""
    try:
        from marketplace.payments.models import StripeEvent
    except ImportError:  # payments is optional
        return 0
    conditions = [StripeEvent.object_id.in_([o for o in object_ids if o]),
                  StripeEvent.account.in_([a for a in accounts if a])]
    if values:
        conditions.append(_matching(StripeEvent.payload, values))
    count = 0
    for event in db.session.query(StripeEvent).filter(or_(*conditions)):
        try:
            payload = json.loads(event.payload)
        except ValueError:
            continue
        stripped = json.dumps(_strip_personal(payload), ensure_ascii=False)
        if stripped != event.payload:
            event.payload, count = stripped, count + 1
    return count
