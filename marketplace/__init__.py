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
    from marketplace.config import build_config

    app.config.update(build_config(app.instance_path))
    if config:
        celery_overrides = config.pop("CELERY", None) if "CELERY" in config else None
        app.config.update(config)
        if celery_overrides:
            app.config["CELERY"] = {**app.config["CELERY"], **celery_overrides}
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    Path(app.config["UPLOAD_FOLDER"]).mkdir(parents=True, exist_ok=True)

    from marketplace import web
    from marketplace.extensions import babel, csrf, db, login_manager, migrate
    from marketplace.i18n import select_locale, select_timezone
    from marketplace.tasking import celery_init_app, install_session_hooks

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone,
                   default_translation_directories=str(PROJECT_ROOT / "translations"))
    login_manager.init_app(app)
    celery_init_app(app)
    install_session_hooks()

    _import_models()
    web.init_app(app)
    _register_blueprints(app)
    from marketplace.cli import register_cli

    register_cli(app)
    return app


def _import_models() -> None:
    """Import every models module so SQLAlchemy and Alembic see the whole schema."""
    from marketplace.core import models as _core  # noqa: F401
    from marketplace.members import models as _members  # noqa: F401
    from marketplace.catalog import models as _catalog  # noqa: F401
    from marketplace.distributions import models as _distributions  # noqa: F401
    from marketplace.orders import models as _orders  # noqa: F401
    from marketplace.core import tasks as _core_tasks  # noqa: F401
    from marketplace.orders import tasks as _order_tasks  # noqa: F401


def _register_blueprints(app: Flask) -> None:
    from marketplace.admin.views import bp as admin_bp
    from marketplace.catalog.views import bp as catalog_bp
    from marketplace.distributions.views import bp as distributions_bp
    from marketplace.members.views import bp as members_bp
    from marketplace.orders.views import bp as orders_bp
    from marketplace.core.views import bp as core_bp

    for bp in (core_bp, members_bp, catalog_bp, distributions_bp, orders_bp, admin_bp):
        app.register_blueprint(bp)
