"""docker-compose.yml and the Dockerfile name entry points that really exist."""
import importlib
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_five_services_with_health_checks():
    services = _compose()["services"]
    assert {"web", "worker", "beat", "postgres", "redis"} <= set(services)
    for name in ("web", "worker", "beat", "postgres", "redis"):
        assert "healthcheck" in services[name], name
        # A process that dies is started again (the worker and beat also exit when they stop being healthy).
        assert services[name]["restart"] in ("unless-stopped", "always"), name
    for name in ("web", "worker", "beat"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgresql://") and env["REDIS_URL"].startswith("redis://")
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"


def _resolve(target: str):
    module_name, _, attribute = target.partition(":") if ":" in target else target.rpartition(".")
    module = importlib.import_module(module_name)
    return getattr(module, attribute)


def test_gunicorn_and_celery_targets_exist(app, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "set-by-the-deployer-in-.env")  # as docker-compose requires
    services = _compose()["services"]
    gunicorn_target = re.search(r'gunicorn .*? ([\w.]+:\w+)"?$', services["web"]["command"]).group(1)
    wsgi_app = _resolve(gunicorn_target)
    assert callable(wsgi_app)
    for name in ("worker", "beat"):
        celery_target = re.search(r"celery -A ([\w.]+) ", services[name]["command"]).group(1)
        celery_app = _resolve(celery_target)
        assert celery_app.main == "marketplace"
        assert "orders.close_due_distributions" in celery_app.tasks
    dockerfile_cmd = (ROOT / "Dockerfile").read_text()
    assert gunicorn_target in dockerfile_cmd


def test_beat_schedule_only_names_registered_tasks(app):
    celery_app = app.extensions["celery"]
    for entry in celery_app.conf.beat_schedule.values():
        assert entry["task"] in celery_app.tasks, entry["task"]


def test_secrets_are_not_in_the_repository():
    compose = (ROOT / "docker-compose.yml").read_text()
    assert "sk_live" not in compose and "sk_test" not in compose
    assert "${SECRET_KEY:?" in compose


def test_license_is_agpl():
    assert "GNU AFFERO GENERAL PUBLIC LICENSE" in (ROOT / "LICENSE").read_text()
    assert 'license = "AGPL-3.0-or-later"' in (ROOT / "pyproject.toml").read_text()


def test_worker_and_beat_health_checks_read_their_heartbeat(app, tmp_path, monkeypatch):
    """The compose checks run the heartbeat check: fresh passes, stale or missing fails."""
    import os
    import time

    from marketplace.core import healthcheck

    services = _compose()["services"]
    for role in ("worker", "beat"):
        check = services[role]["healthcheck"]
        assert check["test"] == ["CMD", "python", "-m", "marketplace.core.healthcheck", role], role
        assert check["retries"] >= 1 and check["interval"]
    monkeypatch.setenv("HEARTBEAT_DIR", str(tmp_path))
    monkeypatch.setenv("HEARTBEAT_MAX_AGE_S", "60")
    assert healthcheck.main(["worker"]) == 1  # never beat
    healthcheck.touch("worker")
    assert healthcheck.main(["worker"]) == 0
    assert healthcheck.main(["beat"]) == 1  # one role never vouches for the other
    stale = time.time() - 61
    os.utime(healthcheck.heartbeat_path("worker"), (stale, stale))
    assert healthcheck.main(["worker"]) == 1


def test_every_task_has_a_time_limit_below_the_visibility_timeout(app, tmp_path, monkeypatch):
    """A message comes back after the visibility timeout: no task may run, or wait to retry, that long."""
    from marketplace.config import build_config

    monkeypatch.setenv("REDIS_URL", "redis://redis:6379/0")
    visibility = build_config(str(tmp_path))["CELERY"]["broker_transport_options"]["visibility_timeout"]
    celery_app = app.extensions["celery"]
    conf = celery_app.conf
    ours = [t for name, t in celery_app.tasks.items() if not name.startswith("celery.")]
    assert len(ours) >= 20
    for task in ours:
        hard = task.time_limit or conf.task_time_limit
        soft = task.soft_time_limit or conf.task_soft_time_limit
        assert hard and soft and soft < hard, task.name
        # A worker prefetches one message per process: the second may wait one whole run before its own.
        assert 2 * hard < visibility, task.name
        if getattr(task, "autoretry_for", None):
            assert task.retry_backoff_max < visibility, task.name
    assert conf.task_ignore_result is True


def test_no_long_countdown_is_left_in_the_code():
    """Offer expiry and every other delay past the visibility timeout is a beat sweep, not a countdown."""
    import re

    sources = "\n".join(p.read_text() for p in (ROOT / "marketplace").rglob("*.py"))
    assert not re.search(r"(apply_async|send_task|retry)\([^)]*\b(countdown|eta)=", sources)
    assert "countdown=" not in sources
