"""Fault injection on the real services: a private redis-server that tests stop and start, Celery workers,
beats and gunicorn run as real processes (each its own process group, so that a SIGKILL takes the pool
children too), and PostgreSQL row locks that hold a task in flight until the test lets it go."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.services import _missing, require_postgres

ROOT = Path(__file__).resolve().parents[1]
PORTS = range(6400, 6421)  # this helper's own redis-server and black-hole ports


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 6400-6420")


def wait_until(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class RedisServer:
    """A throw-away redis-server on its own port, without persistence (a restart empties it)."""

    def __init__(self, port: int):
        if not _which("redis-server"):
            _missing("redis-server (to start a private Redis)", FileNotFoundError("redis-server"))
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._answers, 10, "the private redis-server", 0.05)

    def _answers(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    @contextmanager
    def down(self):
        self.stop()
        try:
            yield
        finally:
            self.start()


def _which(name: str) -> bool:
    from shutil import which

    return which(name) is not None


class BlackHole:
    """A port that accepts connections and never answers: a broker hung rather than down."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._clients: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            self._clients.append(client)

    def close(self) -> None:
        self._server.close()
        for client in self._clients:
            client.close()


def app_env(tmp_path: Path, redis_url: str, **extra) -> dict:
    """Environment for the app's own processes: the test PostgreSQL, the private Redis, fast sweeps."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DATABASE_URL": require_postgres(), "REDIS_URL": redis_url,
           "SECRET_KEY": "test", "INSTANCE_PATH": str(tmp_path / "instance"), "HEARTBEAT_DIR": str(tmp_path / "hb"),
           "HEARTBEAT_INTERVAL_S": "1", "HEARTBEAT_MAX_AGE_S": "3", "OUTBOX_DRAIN_INTERVAL_S": "1",
           "SWEEP_INTERVAL_S": "3", "WORKER_BROKER_LOSS_EXIT_S": "0", "MAIL_SERVER": "", "STRIPE_SECRET_KEY": "",
           "COOP_DEFAULT_LOCALE": "en"}
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Process:
    """One of the app's processes (worker, beat, gunicorn), logging to a file."""

    def __init__(self, name: str, argv: list[str], env: dict, log_dir: Path, ready: str):
        self.name, self.argv, self.env, self.ready = name, argv, env, ready
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def launch(self) -> "Process":
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        return self

    def wait_ready(self, timeout: float = 90) -> "Process":
        wait_until(lambda: self.ready in self.log() or self.proc.poll() is not None, timeout, f"{self.name} to start")
        assert self.proc.poll() is None, f"{self.name} exited:\n{self.log()[-3000:]}"
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group (the pool's children too), as the OOM killer would."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> None:
        """Ask for a warm shutdown (SIGTERM to the group), without waiting."""
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)

    def stop(self) -> None:
        if not self.alive():
            return
        self.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.kill()


def celery_worker(env: dict, log_dir: Path, name: str = "w1") -> Process:
    return Process(name, [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker", "--loglevel=info",
                          "--concurrency=2", "--without-mingle", "-n", f"{name}@%h"], env, log_dir, " ready.")


def celery_beat(env: dict, log_dir: Path, name: str = "beat1") -> Process:
    return Process(name, [sys.executable, "-m", "celery", "-A", "worker.celery_app", "beat", "--loglevel=info",
                          "-s", str(log_dir / f"{name}-schedule")], env, log_dir, "beat: Starting")


def received(log: str, task_id: str) -> int:
    """How many times a worker received the message with this task id."""
    return len(re.findall(rf"\[{re.escape(task_id)}\] received", log))


@contextmanager
def row_lock(table: str, row_id: int):
    """Hold a PostgreSQL row lock, so that a task needing the row waits, in flight, until we let go."""
    import psycopg

    with psycopg.connect(require_postgres()) as conn:
        conn.execute(f"SELECT id FROM {table} WHERE id = %s FOR UPDATE", (row_id,))
        try:
            yield conn
        finally:
            conn.rollback()


def waiting_on_lock(pattern: str) -> int:
    """Sessions of other processes blocked on a row lock, running a statement like `pattern`."""
    import psycopg

    with psycopg.connect(require_postgres(), autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                            "AND wait_event_type = 'Lock' AND query ILIKE %s", (pattern,)).fetchone()[0]


def deployed_log_in_limits(monkeypatch, tmp_path: Path, redis_url: str) -> dict:
    """Point the log-in limits at `redis_url` with the storage options the shop uses when REDIS_URL is set
    (marketplace/config.py); returns those options. The limiter is one object shared by every test app: it is
    swapped for this test only (monkeypatch restores it), so that no later test counts on a stopped Redis."""
    from limits.storage import storage_from_string
    from limits.strategies import MovingWindowRateLimiter

    from marketplace.config import build_config
    from marketplace.extensions import limiter
    from marketplace.members import throttling

    monkeypatch.setenv("REDIS_URL", redis_url)
    deployed = build_config(str(tmp_path))
    monkeypatch.delenv("REDIS_URL")
    storage = storage_from_string(deployed["RATELIMIT_STORAGE_URI"], **deployed["RATELIMIT_STORAGE_OPTIONS"])
    monkeypatch.setattr(limiter, "_storage", storage)
    monkeypatch.setattr(limiter, "_limiter", MovingWindowRateLimiter(storage))
    monkeypatch.setattr(limiter, "_storage_dead", False)
    monkeypatch.setattr(throttling, "_fallback", {})
    return deployed["RATELIMIT_STORAGE_OPTIONS"]
