"""Data a fixture builds once per test session and restores for every test that asks for it.

Building a small coop through the services (members approved, products, a distribution, orders placed
and collected) takes a fifth of a second; dozens of tests start from the same coop. The first test
that asks builds it, commits, and the SQLite file (with the uploaded files) is copied aside; every
later test gets a copy of that file, as every test already gets a copy of the empty schema
(`tests/conftest.py`), and the builder's objects read back by primary key in its own session. Each
test still starts from exactly the data the builder makes and may commit as production code does.

On PostgreSQL (`pg_app`) the builder simply runs: those tests truncate and commit for real.
"""
from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import object_mapper
from sqlalchemy.orm.exc import UnmappedInstanceError

from marketplace.extensions import db


@dataclass(frozen=True)
class _Ref:
    """A mapped object, by class and primary key."""

    cls: type
    identity: tuple


def _is_mapped(value: Any) -> bool:
    try:
        object_mapper(value)
    except UnmappedInstanceError:
        return False
    return True


def _to_refs(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _to_refs(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_refs(v) for v in value)
    if _is_mapped(value):
        return _Ref(type(value), sa_inspect(value).identity)
    return value


def _from_refs(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _from_refs(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_from_refs(v) for v in value)
    if isinstance(value, _Ref):
        return db.session.get(value.cls, value.identity)
    return value


def _copy_uploads(source: Path, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target) if source.exists() else target.mkdir(parents=True)


def snapshot(name: str, build: Callable[[], Any]) -> Any:
    """What `build()` returns, built once per test app and restored from a copy of its database afterwards."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    database = app.config.get("_TEST_SQLITE")
    if database is None:
        return build()
    saved: dict[str, tuple[Path, Path, Any]] = app.extensions.setdefault("_test_snapshots", {})
    uploads = Path(app.config["UPLOAD_FOLDER"])
    if name not in saved:
        refs = _to_refs(build())
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
        copy = Path(f"{database}.{name}.snapshot")
        shutil.copyfile(database, copy)
        _copy_uploads(uploads, copy.with_suffix(".uploads"))
        saved[name] = (copy, copy.with_suffix(".uploads"), refs)
    else:
        copy, uploads_copy, refs = saved[name]
        db.session.remove()
        db.engine.dispose()
        shutil.copyfile(copy, database)
        _copy_uploads(uploads_copy, uploads)
    return _from_refs(refs)
