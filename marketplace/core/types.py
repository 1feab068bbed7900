"""Column types shared by every domain."""
from __future__ import annotations

import enum

from marketplace.extensions import db


def enum_type(cls: type[enum.Enum]) -> db.Enum:
    """Store an enum as its string value (VARCHAR), the same on SQLite and PostgreSQL."""
    return db.Enum(cls, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e],
                   validate_strings=True)
