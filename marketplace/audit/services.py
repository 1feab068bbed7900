"""Recording and reading the audit log."""
from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy.orm import joinedload

from marketplace.audit.models import AuditEntry, AuditReader
from marketplace.core.errors import Conflict, NotAllowed, NotFound
from marketplace.extensions import db
from marketplace.members.models import User
from marketplace.members.services import require_admin

PAGE_SIZE = 50


def _plain(value):
    """A JSON-friendly copy of a value (enums by value, dates as ISO text)."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def dumps(values: dict | None) -> str:
    return json.dumps(_plain(values or {}), ensure_ascii=False, sort_keys=True)


def subject_of(subject) -> tuple[str, str]:
    """('membership', '12') from a model instance, a (type, id) pair or a plain label."""
    if subject is None:
        return "", ""
    if isinstance(subject, tuple):
        return str(subject[0]), str(subject[1])
    if isinstance(subject, str):
        return subject, ""
    table = getattr(subject, "__tablename__", type(subject).__name__)
    return str(table), str(getattr(subject, "id", "") or "")


def _actor_id(actor) -> int | None:
    if actor is None:
        return None
    if isinstance(actor, int):
        return actor
    if not getattr(actor, "is_authenticated", True):
        return None
    return getattr(actor, "id", None)


def record(actor: User | int | None, action: str, subject=None, before: dict | None = None,
           after: dict | None = None, note: str = "") -> AuditEntry:
    """Append one entry to the audit log, in the caller's transaction (it is kept only if that commits)."""
    subject_type, subject_id = subject_of(subject)
    entry = AuditEntry(actor_id=_actor_id(actor), action=action[:80], subject_type=subject_type[:60],
                       subject_id=subject_id[:64], before_json=dumps(before), after_json=dumps(after),
                       note=note or "")
    db.session.add(entry)
    return entry


def can_read(user: User | None) -> bool:
    """Admins and the members' representatives may read the log."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if user.is_admin:
        return True
    return db.session.get(AuditReader, user.id) is not None and user.is_active_member


def require_reader(user: User | None) -> None:
    if user is None or not getattr(user, "is_authenticated", False):
        raise NotAllowed(_("Please log in first."))
    if not can_read(user):
        raise NotAllowed(_("Only administrators and the members' representatives can read the audit log."))


@dataclass
class AuditPage:
    entries: list[AuditEntry]
    page: int
    has_next: bool
    actions: list[str]


def entries_query(action: str = "", actor_id: int | None = None, subject_type: str = "", subject_id: str = ""):
    query = db.select(AuditEntry).options(joinedload(AuditEntry.actor))
    if action:
        query = query.where(AuditEntry.action == action)
    if actor_id:
        query = query.where(AuditEntry.actor_id == actor_id)
    if subject_type:
        query = query.where(AuditEntry.subject_type == subject_type)
    if subject_id:
        query = query.where(AuditEntry.subject_id == subject_id)
    return query.order_by(AuditEntry.id.desc())


def read_log(user: User, *, action: str = "", actor_id: int | None = None, subject_type: str = "",
             subject_id: str = "", page: int = 1) -> AuditPage:
    """One page of the log, newest first, for a reader."""
    require_reader(user)
    page = max(1, min(page, 100_000))
    query = entries_query(action, actor_id, subject_type, subject_id)
    rows = db.session.scalars(query.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)).all()
    actions = [a for (a,) in db.session.query(AuditEntry.action).distinct().order_by(AuditEntry.action)]
    return AuditPage(entries=rows[:PAGE_SIZE], page=page, has_next=len(rows) > PAGE_SIZE, actions=actions)


def export_rows(user: User, *, action: str = "", actor_id: int | None = None, subject_type: str = "",
                limit: int = 50_000) -> list[AuditEntry]:
    require_reader(user)
    return db.session.scalars(entries_query(action, actor_id, subject_type).limit(limit)).all()


def readers(admin: User) -> list[AuditReader]:
    require_admin(admin)
    return db.session.query(AuditReader).options(joinedload(AuditReader.user)).order_by(AuditReader.granted_at).all()


def grant_reader(admin: User, email: str) -> AuditReader:
    """Make an active member a representative who can read the audit log."""
    require_admin(admin)
    from sqlalchemy import func

    from marketplace.members.services import normalise_email

    user = db.session.query(User).filter(func.lower(User.email) == normalise_email(email or "")).first()
    if user is None or not user.is_active_member:
        raise NotFound(_("No active member with this e-mail address."), "email")
    if db.session.get(AuditReader, user.id) is not None:
        raise Conflict(_("This member can already read the audit log."), "email")
    reader = AuditReader(user_id=user.id, granted_by_id=admin.id)
    db.session.add(reader)
    record(admin, "audit.reader_granted", ("users", user.id), {"reader": False}, {"reader": True})
    db.session.flush()
    return reader


def revoke_reader(admin: User, user_id: int) -> None:
    require_admin(admin)
    reader = db.session.get(AuditReader, user_id)
    if reader is None:
        raise NotFound(_("This member is not a representative."))
    db.session.delete(reader)
    record(admin, "audit.reader_revoked", ("users", user_id), {"reader": True}, {"reader": False})
    db.session.flush()
