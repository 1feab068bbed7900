"""Worker and beat liveness: heartbeat files for the container health check, rows for the admin
dashboard, and a watchdog that ends a worker which lost its broker for too long, so that the
deployment's restart policy starts a fresh one.

A worker counts as alive only while its consumer is started *and* answers a ping sent to it through
the broker (what `celery inspect ping -d <node>` does); beat, on every scheduler tick.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time

from celery import bootsteps
from celery.beat import PersistentScheduler

from marketplace.core.healthcheck import touch

log = logging.getLogger(__name__)


def _interval_s() -> float:
    return float(os.environ.get("HEARTBEAT_INTERVAL_S") or 15)


def record_heartbeat(flask_app, name: str, role: str) -> None:
    """Write the dashboard's row; a database hiccup only costs one heartbeat."""
    from marketplace.core.services import note_heartbeat
    from marketplace.extensions import db

    with flask_app.app_context():
        try:
            note_heartbeat(name, role)
            db.session.commit()
        except Exception:  # the dashboard shows the row as stale; nothing else depends on it
            db.session.rollback()
            log.warning("Could not record the %s heartbeat", role, exc_info=True)
        finally:
            db.session.remove()


class Watchdog(threading.Thread):
    """Proves every few seconds that the worker's consumer answers through the broker."""

    def __init__(self, celery_app, hostname: str, exit_after_s: float):
        super().__init__(name="coop-liveness", daemon=True)
        self.celery_app, self.hostname, self.exit_after_s = celery_app, hostname, exit_after_s
        self.consumer_up = False
        self.last_ok = time.monotonic()
        self.stopping = threading.Event()
        with celery_app.connection_for_write() as conn:  # never connected: only the transport's capabilities
            self.can_broadcast = "fanout" in conn.transport.implements.exchange_type

    def run(self) -> None:
        while not self.stopping.wait(_interval_s()):
            self.check()

    def broker_answers(self) -> bool:
        if not self.consumer_up:
            return False
        if not self.can_broadcast:
            return True  # the development SQLite broker has no broadcast: a started consumer will do
        try:
            return bool(self.celery_app.control.ping([self.hostname], timeout=3.0))
        except Exception:
            return False

    def check(self) -> None:
        if self.broker_answers():
            self.last_ok = time.monotonic()
            touch("worker")
            record_heartbeat(self.celery_app.flask_app, f"worker:{self.hostname}", "worker")
        elif self.exit_after_s and time.monotonic() - self.last_ok > self.exit_after_s:
            log.critical("No answer through the broker for %.0f s: exiting so that the worker is restarted",
                         time.monotonic() - self.last_ok)
            logging.shutdown()
            os._exit(70)


class WorkerLiveness(bootsteps.StartStopStep):
    """Runs the watchdog for the worker's whole life."""

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        exit_after = float(worker.app.flask_app.config["WORKER_BROKER_LOSS_EXIT_S"])
        worker.coop_watchdog = self.watchdog = Watchdog(worker.app, worker.hostname, exit_after)

    def start(self, worker):
        self.watchdog.start()

    def stop(self, worker):
        self.watchdog.stopping.set()

    shutdown = stop


class ConsumerLiveness(bootsteps.StartStopStep):
    """Tells the watchdog whether the consumer is connected (it stops when the broker is lost)."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def _watchdog(self, c) -> Watchdog | None:
        return getattr(c.controller, "coop_watchdog", None)

    def start(self, c):
        watchdog = self._watchdog(c)
        if watchdog is not None:
            watchdog.consumer_up = True

    def stop(self, c):
        watchdog = self._watchdog(c)
        if watchdog is not None:
            watchdog.consumer_up = False

    shutdown = stop


def install_worker_steps(celery_app) -> None:
    celery_app.steps["worker"].add(WorkerLiveness)
    celery_app.steps["consumer"].add(ConsumerLiveness)


class HeartbeatScheduler(PersistentScheduler):
    """Celery beat's default scheduler, proving on its ticks that beat is alive."""

    _last_heartbeat = 0.0

    def tick(self, *args, **kwargs):
        next_in = super().tick(*args, **kwargs)
        now = time.monotonic()
        if now - self._last_heartbeat >= _interval_s():
            self._last_heartbeat = now
            touch("beat")
            record_heartbeat(self.app.flask_app, f"beat:{socket.gethostname()}", "beat")
        return min(next_in, _interval_s())
