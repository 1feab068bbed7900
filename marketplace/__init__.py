"""The cooperative marketplace: a Flask application factory."""
from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict | None = None) -> Flask:
    """Build the app from environment settings, overridden by `config` (tests)."""
    app = Flask(
        __name__,
        instance_path=os.environ.get("INSTANCE_PATH") or str(PROJECT_ROOT / "instance"),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    from marketplace.config import build_config, finish_config

    app.config.update(build_config(app.instance_path))
    if config:
        celery_overrides = config.pop("CELERY", None) if "CELERY" in config else None
        app.config.update(config)
        if celery_overrides:
            app.config["CELERY"] = {**app.config["CELERY"], **celery_overrides}
    finish_config(app.config, debug=app.debug)
    from marketplace.web import DatabaseIdConverter

    # Ids in URLs fit the database's integer: a huge one is a 404, not an overflow.
    app.url_map.converters["int"] = DatabaseIdConverter
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    Path(app.config["UPLOAD_FOLDER"]).mkdir(parents=True, exist_ok=True)

    from marketplace import web
    from marketplace.extensions import babel, csrf, db, limiter, login_manager, migrate
    from marketplace.i18n import install_template_gettext, select_locale, select_timezone
    from marketplace.schedule import beat_schedule
    from marketplace.tasking import celery_init_app

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone,
                   default_translation_directories=str(PROJECT_ROOT / "translations"))
    install_template_gettext(app)
    login_manager.init_app(app)
    limiter.init_app(app)
    celery_init_app(app).conf.beat_schedule = beat_schedule(app.config)

    _import_models()
    from marketplace import transaction_hooks

    transaction_hooks.install(app)
    from marketplace.catalog import member_pages

    # First of the before_request hooks, and the innermost WSGI wrapper (web adds ProxyFix around it): a member's
    # stored catalogue page.
    member_pages.init_app(app)
    web.init_app(app)
    from marketplace.members.services import user_for_session

    # The session and remember-me cookies carry "<id>:<session secret>" (User.get_id): a rotated secret
    # ends them all (Flask-Login's "alternative tokens").
    login_manager.user_loader(user_for_session)
    _register_blueprints(app)
    from marketplace.cli import register_cli

    register_cli(app)
    return app


# Each domain is a package with optional models.py, tasks.py and views.py (a blueprint named `bp`).
# `site` first: it adds the dashboard route to the members blueprint before that one is registered.
DOMAINS = ("site", "core", "audit", "members", "catalog", "distributions", "orders", "offers", "payments", "dispatch",
           "billing", "accounts", "contracts", "disputes", "invoicing", "privacy", "reports", "api", "admin")


def _domain_modules(kind: str):
    import importlib
    import importlib.util

    for domain in DOMAINS:
        name = f"marketplace.{domain}.{kind}"
        if importlib.util.find_spec(name) is not None:
            yield importlib.import_module(name)


def _import_models() -> None:
    """Import every models and tasks module so SQLAlchemy, Alembic and Celery see them all."""
    for _module in _domain_modules("models"):
        pass
    for _module in _domain_modules("tasks"):
        pass
    # Signal receivers (e.g. payments reacting to a cancelled order part) connect on import.
    for _module in _domain_modules("handlers"):
        pass
    # Every e-mail's composer registers itself (marketplace.core.mail.TEMPLATES).
    for _module in _domain_modules("emails"):
        pass


def _register_blueprints(app: Flask) -> None:
    for module in _domain_modules("views"):
        app.register_blueprint(module.bp)
