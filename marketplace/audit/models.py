"""The audit log: who did what, when, with the state before and after. Append-only.

Rows are only ever inserted. The model layer refuses UPDATE and DELETE (mapper events and a
session hook that rejects bulk statements); on PostgreSQL a trigger refuses them too, so not
even a hand-written SQL statement can rewrite history. TRUNCATE (tests) is not affected.
The erasure of a member is the one exception: it blanks their personal data in the texts of
past entries, in the open, through REDACTION_SETTING (see below and privacy/scrub.py).
"""
from __future__ import annotations

import json

from sqlalchemy import DDL, event

from marketplace.extensions import db
from marketplace.timeutil import utcnow


class AuditEntry(db.Model):
    __tablename__ = "audit_log"
    id = db.Column(db.Integer, primary_key=True)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow, index=True)
    # NULL: the system (a scheduled task, a webhook).
    actor_id = db.Column(db.Integer, db.ForeignKey("users.id"), index=True)
    action = db.Column(db.String(80), nullable=False, index=True)
    subject_type = db.Column(db.String(60), nullable=False, default="")
    subject_id = db.Column(db.String(64), nullable=False, default="")
    before_json = db.Column(db.Text, nullable=False, default="{}")
    after_json = db.Column(db.Text, nullable=False, default="{}")
    note = db.Column(db.Text, nullable=False, default="")

    __table_args__ = (db.Index("ix_audit_log_subject", "subject_type", "subject_id"),)

    actor = db.relationship("User")

    @property
    def before(self) -> dict:
        return json.loads(self.before_json or "{}")

    @property
    def after(self) -> dict:
        return json.loads(self.after_json or "{}")

    @property
    def changes(self) -> list[tuple[str, object, object]]:
        """(field, before, after) for every field that differs, for display."""
        before, after = self.before, self.after
        keys = list(dict.fromkeys([*before.keys(), *after.keys()]))
        return [(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)]


class AuditReader(db.Model):
    """A members' representative allowed to read the audit log (admins always can)."""

    __tablename__ = "audit_readers"
    user_id = db.Column(db.Integer, db.ForeignKey("users.id"), primary_key=True)
    granted_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    granted_by_id = db.Column(db.Integer, db.ForeignKey("users.id"))

    user = db.relationship("User", foreign_keys=[user_id])


class AppendOnlyViolation(RuntimeError):
    """Someone tried to change or remove an audit entry."""


@event.listens_for(AuditEntry, "before_update")
def _refuse_update(mapper, connection, target):
    raise AppendOnlyViolation("The audit log is append-only: entries cannot be changed.")


@event.listens_for(AuditEntry, "before_delete")
def _refuse_delete(mapper, connection, target):
    raise AppendOnlyViolation("The audit log is append-only: entries cannot be deleted.")


def _refuse_bulk(orm_execute_state) -> None:
    if orm_execute_state.is_update or orm_execute_state.is_delete:
        mapper = orm_execute_state.bind_mapper
        if mapper is not None and mapper.class_ is AuditEntry:
            raise AppendOnlyViolation("The audit log is append-only.")


def install_append_only_guard() -> None:
    from sqlalchemy.orm import Session

    if not event.contains(Session, "do_orm_execute", _refuse_bulk):
        event.listen(Session, "do_orm_execute", _refuse_bulk)

# The same rule in the database, for PostgreSQL (create_all in tests; the Alembic migration must
# carry these two statements with op.execute, autogenerate does not see them).
# One exception, for the erasure of a member (privacy domain): in a transaction that sets
# REDACTION_SETTING, the personal texts of past entries (before, after, note) may be blanked;
# who, what, when and on what never change, and nothing is ever deleted.
REDACTION_SETTING = "marketplace.audit_redaction"
PG_TRIGGER_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('marketplace.audit_redaction', true) = 'on'
       AND NEW.id = OLD.id AND NEW.created_at = OLD.created_at
       AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id AND NEW.action = OLD.action
       AND NEW.subject_type = OLD.subject_type AND NEW.subject_id = OLD.subject_id THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$ LANGUAGE plpgsql
"""
PG_TRIGGER = """
CREATE TRIGGER audit_log_no_rewrite BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()
"""
event.listen(AuditEntry.__table__, "after_create", DDL(PG_TRIGGER_FUNCTION).execute_if(dialect="postgresql"))
event.listen(AuditEntry.__table__, "after_create", DDL(PG_TRIGGER).execute_if(dialect="postgresql"))
