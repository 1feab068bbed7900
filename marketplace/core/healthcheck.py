"""Container health checks for the worker and beat: `python -m marketplace.core.healthcheck worker|beat`.

The worker touches its heartbeat file only while its consumer holds a broker connection that
answers (marketplace.core.liveness); beat touches its own on every scheduler tick. A file older
than HEARTBEAT_MAX_AGE_S (default 60 s) means the process lost its broker or hangs: exit 1.
This module imports nothing of the app, so the check is cheap.
"""
from __future__ import annotations

import os
import socket
import sys
import tempfile
import time
from pathlib import Path

ROLES = ("worker", "beat")


def heartbeat_path(role: str) -> Path:
    """One file per role and host: two workers on one machine (or volume) never vouch for each other."""
    directory = os.environ.get("HEARTBEAT_DIR") or str(Path(tempfile.gettempdir()) / "coop-heartbeats")
    return Path(directory) / f"{role}-{socket.gethostname()}.heartbeat"


def touch(role: str) -> None:
    path = heartbeat_path(role)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def age_s(role: str) -> float | None:
    """Seconds since the last heartbeat, None if there was none."""
    try:
        return max(0.0, time.time() - heartbeat_path(role).stat().st_mtime)
    except FileNotFoundError:
        return None


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ROLES:
        print("usage: python -m marketplace.core.healthcheck worker|beat", file=sys.stderr)
        return 2
    role = argv[0]
    limit = float(os.environ.get("HEARTBEAT_MAX_AGE_S") or 60)
    age = age_s(role)
    if age is None:
        print(f"{role}: no heartbeat yet ({heartbeat_path(role)})")
        return 1
    if age > limit:
        print(f"{role}: last heartbeat {age:.0f} s ago (limit {limit:.0f} s): broker lost or process stuck")
        return 1
    print(f"{role}: alive ({age:.0f} s ago)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
