"""Producers' API tokens: only a SHA-256 digest is stored; the token itself is shown once."""
from __future__ import annotations

from marketplace.extensions import db
from marketplace.timeutil import utcnow


class ApiToken(db.Model):
    __tablename__ = "api_tokens"
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id"), nullable=False, index=True)
    name = db.Column(db.String(80), nullable=False, default="")
    token_hash = db.Column(db.String(64), nullable=False, unique=True)  # sha256 hex of the whole token
    prefix = db.Column(db.String(16), nullable=False)  # first characters, to recognise it in a list
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    last_used_at = db.Column(db.DateTime)
    revoked_at = db.Column(db.DateTime)

    user = db.relationship("User")

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
