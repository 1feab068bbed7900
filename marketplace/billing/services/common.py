"""What the billing services share: the colleges in display order, integer checks, optional hooks."""
from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

COLLEGE_ORDER = ("producer", "courier", "buyer", "supporter")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _optional_hook(module: str, name: str) -> Callable[..., Any] | None:
    """A function another domain may provide (payments, dispatch are developed alongside)."""
    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None
