"""With REDIS_URL set, the log-in limits are counted in Redis: a lock set through one gunicorn worker holds
in the others (each worker is its own app and process memory)."""
from __future__ import annotations

import pytest

from marketplace import create_app
from marketplace.config import build_config
from marketplace.extensions import db
from tests.factories import PASSWORD, login, make_member
from tests.services import require_redis

pytestmark = pytest.mark.integration


def test_rate_limits_use_redis_when_redis_url_is_set(tmp_path, monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://cache.internal:6379/0")
    assert build_config(str(tmp_path))["RATELIMIT_STORAGE_URI"] == "redis://cache.internal:6379/0"
    monkeypatch.delenv("REDIS_URL")
    assert build_config(str(tmp_path))["RATELIMIT_STORAGE_URI"] == "memory://"


def _forget_limits(url: str) -> None:
    import redis

    connection = redis.Redis.from_url(url)
    for key in connection.scan_iter("LIMITS:LIMITER*"):
        connection.delete(key)


def test_a_lock_set_through_one_worker_holds_in_another(tmp_path, monkeypatch):
    url = require_redis()
    _forget_limits(url)
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path / "instance"))
    database = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    config = {"TESTING": True, "SECRET_KEY": "test", "SQLALCHEMY_DATABASE_URI": database, "WTF_CSRF_ENABLED": False,
              "UPLOAD_FOLDER": str(tmp_path / "u"), "PASSWORD_HASH_CHEAP": True, "RATELIMIT_STORAGE_URI": url,
              "CELERY": {"task_always_eager": True, "broker_url": "memory://", "result_backend": "cache+memory://"}}
    first = create_app(dict(config))
    with first.app_context():
        db.create_all()
        make_member("marie@test.coop")
        db.session.commit()
        client = first.test_client()
        assert [login(client, "marie@test.coop", "wrong").status_code for _ in range(5)] == [400] * 5
        db.session.remove()
    second = create_app(dict(config))  # another worker: its own memory, the same Redis
    with second.app_context():
        assert login(second.test_client(), "marie@test.coop", PASSWORD).status_code == 429
        db.session.remove()
    _forget_limits(url)
