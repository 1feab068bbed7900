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
    for name in ("web", "worker", "postgres", "redis"):
        assert "healthcheck" in services[name], name
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
