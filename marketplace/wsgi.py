"""WSGI entry point for gunicorn: `gunicorn marketplace.wsgi:app`."""
from marketplace import create_app

app = create_app()
