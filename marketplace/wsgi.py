"""WSGI entry point for gunicorn: `gunicorn marketplace.wsgi:app`."""
import gc

from marketplace import create_app

app = create_app()
# Everything loaded so far (the app, its modules, templates' code) lives as long as the worker: the garbage
# collector need not scan it again at every collection (about 0.25 ms per add to cart and its page otherwise).
gc.freeze()
