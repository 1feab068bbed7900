"""The app served for real on loopback: for browsers and for the fake Stripe's webhooks."""
from __future__ import annotations

import threading
from contextlib import contextmanager

from werkzeug.serving import make_server


@contextmanager
def serve(app):
    """Serve `app` on a free loopback port in a thread; yields its base URL (also its PUBLIC_URL meanwhile)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    url, public_url = f"http://127.0.0.1:{server.server_port}", app.config["PUBLIC_URL"]
    # E-mailed links and Stripe's return addresses are built on PUBLIC_URL: here, this server.
    app.config["PUBLIC_URL"] = url
    try:
        yield url
    finally:
        app.config["PUBLIC_URL"] = public_url
        server.shutdown()
        server.server_close()
        thread.join(10)
