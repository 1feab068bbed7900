"""What the billing services share: the colleges in display order, integer checks."""
from __future__ import annotations

COLLEGE_ORDER = ("producer", "courier", "buyer", "supporter")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
