"""Celery entry point: `celery -A worker.celery_app worker` / `beat`. Only calls the app factory."""
from marketplace import create_app

flask_app = create_app()
celery_app = flask_app.extensions["celery"]
