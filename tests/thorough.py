"""How hard the property-based tests search: fully in CI, a fifth of it in the inner loop.

The unit layer is the inner loop (README, "Tests"): a developer runs it after each change and it must
answer within a minute on the project's 2-core machine. Its property-based tests (fee allocation,
invoice amounts, account balances, the money-flow state machine, the planner) explore a fifth of their
examples there, the same first fifth every run where a test is derandomized; `.ci/run` (CI=true) and
`TEST_THOROUGH=1` explore all of them. A failure Hypothesis found is replayed from its example database
either way.
"""
from __future__ import annotations

import os

THOROUGH = (os.environ.get("CI", "").lower() in ("1", "true", "yes")
            or os.environ.get("TEST_THOROUGH", "").lower() in ("1", "true", "yes"))


def examples(full: int, *, floor: int = 3) -> int:
    """The number of examples a property test runs: `full` in CI, a fifth (at least `floor`) otherwise."""
    return full if THOROUGH else max(floor, min(full, full // 5))
