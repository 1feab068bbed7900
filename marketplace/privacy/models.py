"""Earlier names, e-mail addresses, phones and addresses of a member, kept so that erasure finds them.

Stored e-mails, dispute texts, Stripe payloads and the audit log keep the identifiers a member had
when they were written. Erasure must find those copies, so every change of an identifier leaves a
row here: recorded by a session hook whatever the code path (account page, a future e-mail change,
an administrator's correction), exported with the member's data, and deleted at erasure. The audit
log is not used for this: it is append-only and must not hold the identifiers it would then keep.
"""
from __future__ import annotations

from sqlalchemy import event, inspect
from sqlalchemy.orm import InstanceState, Session

from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.timeutil import utcnow

# users column -> kind recorded (postcode and town are recorded together: "44000 Nantes").
REMEMBERED = {"full_name": "name", "email": "email", "phone": "phone", "address": "address"}
PLACE_FIELDS = ("postcode", "town")


class FormerIdentifier(db.Model):
    """A value that named or located the member until `replaced_at`."""

    __tablename__ = "member_former_identifiers"
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=False, index=True)
    kind = db.Column(db.String(20), nullable=False)
    value = db.Column(db.String(300), nullable=False)
    replaced_at = db.Column(db.DateTime, nullable=False, default=utcnow)


def _old(state, name: str) -> str | None:
    """The value a column had before this flush, if it changed."""
    history = state.attrs[name].history
    if not history.has_changes() or not history.deleted:
        return None
    return history.deleted[0]


def former_values(user: User) -> list[tuple[str, str]]:
    """(kind, old value) for each identifier of a loaded member that this flush changes."""
    state: InstanceState[User] = inspect(user)
    found = [(kind, _old(state, name)) for name, kind in REMEMBERED.items()]
    if any(_old(state, name) is not None for name in PLACE_FIELDS):
        before = [(_old(state, name) if _old(state, name) is not None else getattr(user, name) or "").strip()
                  for name in PLACE_FIELDS]
        if all(before):  # a postcode alone or a town alone locates nobody (and "Nantes" must not be erased)
            found.append(("place", " ".join(before)))
    return [(kind, value.strip()) for kind, value in found if value and value.strip()]


def _remember_identifiers(session: Session, flush_context, instances) -> None:
    for obj in list(session.dirty):
        if isinstance(obj, User) and obj.erased_at is None and session.is_modified(obj):
            for kind, value in former_values(obj):
                session.add(FormerIdentifier(user_id=obj.id, kind=kind, value=value[:300]))


def _keep_old_value(target, value, oldvalue, initiator) -> None:
    """Nothing to do: listening with active_history is what makes SQLAlchemy load the old value."""


def install() -> None:
    """Remember a member's former identifiers as they change (marketplace.transaction_hooks calls this)."""
    if not event.contains(Session, "before_flush", _remember_identifiers):
        event.listen(Session, "before_flush", _remember_identifiers)
        # Load the old value even when the attribute was expired (e.g. after a commit) before being set.
        for name in (*REMEMBERED, *PLACE_FIELDS):
            event.listen(getattr(User, name), "set", _keep_old_value, active_history=True)
