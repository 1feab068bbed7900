"""The task outbox: claim rows, publish them to the broker once, retry, set poison rows aside.

Rows are written by `marketplace.tasking.enqueue_after_commit` in the caller's transaction. Any number
of drains may run at once (after a commit, the beat's drain, two beats): each one first *claims* a
batch with one conditional UPDATE (PostgreSQL adds FOR UPDATE SKIP LOCKED so drains do not wait on
each other), so a row is published by exactly one of them. A claim is a lease: a drain that dies
leaves its rows to the next one once `claimed_until` has passed.

A broker that cannot be reached is nobody's fault: the rows stay as they are for the next drain.
A row that cannot be published (unknown task, bad payload) is retried with a growing delay, then
set aside as a dead letter that the admin sees, replays or drops; it never blocks the rows behind it.
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask
from kombu.exceptions import OperationalError as BrokerUnreachable
from sqlalchemy import delete, func, or_, select, update

from marketplace.core.models import OutboxMessage
from marketplace.extensions import db
from marketplace.timeutil import utcnow

log = logging.getLogger(__name__)
T = OutboxMessage.__table__
LEASE = timedelta(minutes=2)
BATCH = 100


class PoisonRow(Exception):
    """This row can never be published as it is (bad payload, unknown task)."""


@dataclass
class DrainResult:
    published: int = 0
    failed: int = 0
    dead: int = 0
    broker_error: str = ""


@dataclass(frozen=True)
class OutboxHealth:
    pending: int
    oldest_pending_at: datetime | None
    dead: int

    def oldest_age_s(self, now: datetime | None = None) -> int | None:
        if self.oldest_pending_at is None:
            return None
        return max(0, int(((now or utcnow()) - self.oldest_pending_at).total_seconds()))


def _publishable(now: datetime):
    return (T.c.published_at.is_(None) & T.c.dead_at.is_(None)
            & or_(T.c.next_attempt_at.is_(None), T.c.next_attempt_at <= now)
            & or_(T.c.claimed_until.is_(None), T.c.claimed_until < now))


def claim(conn, now: datetime, ids: list[int] | None = None, limit: int = BATCH) -> tuple[str, list[dict]]:
    """Claim up to `limit` publishable rows for this drain alone; returns the claim token and the rows."""
    token = uuid.uuid4().hex
    candidates = select(T.c.id).where(_publishable(now))
    if ids is not None:
        candidates = candidates.where(T.c.id.in_(ids))
    candidates = candidates.order_by(T.c.id).limit(limit).with_for_update(skip_locked=True)
    # The outer condition is re-checked under the row lock: a row another drain claimed meanwhile drops out.
    conn.execute(update(T).where(T.c.id.in_(candidates.scalar_subquery()), _publishable(now))
                 .values(claim_token=token, claimed_until=now + LEASE))
    conn.commit()
    rows = conn.execute(select(T).where(T.c.claim_token == token, T.c.published_at.is_(None))
                        .order_by(T.c.id)).mappings().all()
    return token, [dict(r) for r in rows]


def backoff(attempts: int, base_s: int, max_s: int) -> timedelta:
    """Delay before retrying a row that failed `attempts` times: base, 2×base, 4×base... up to max."""
    return timedelta(seconds=min(max_s, base_s * 2 ** max(0, attempts - 1)))


def _task_args(celery_app, row: dict) -> list:
    if row["task_name"] not in celery_app.tasks:
        raise PoisonRow(f"unknown task {row['task_name']!r}")
    try:
        args = json.loads(row["args_json"])
    except ValueError as exc:
        raise PoisonRow(f"arguments are not JSON: {exc}") from exc
    if not isinstance(args, list):
        raise PoisonRow("arguments are not a list")
    return args


def publish_connection(app: Flask):
    """A broker connection that gives up quickly: publishing never waits on a broker that is down."""
    celery_app = app.extensions["celery"]
    timeout = app.config["OUTBOX_PUBLISH_TIMEOUT_S"]
    options = {"max_retries": 0}
    if str(celery_app.conf.broker_url).startswith(("redis", "rediss")):
        options.update(socket_connect_timeout=timeout, socket_timeout=timeout)
    return celery_app.connection_for_write(connect_timeout=timeout, transport_options=options)


def _mark(conn, row_id: int, token: str, **values) -> None:
    conn.execute(update(T).where(T.c.id == row_id, T.c.claim_token == token)
                 .values(claim_token=None, claimed_until=None, **values))
    conn.commit()


def _on_row_failure(app: Flask, conn, row: dict, token: str, error: str, result: DrainResult) -> None:
    attempts = row["attempts"] + 1
    now = utcnow()
    dead = attempts >= app.config["OUTBOX_MAX_ATTEMPTS"]
    _mark(conn, row["id"], token, attempts=attempts, last_error=error[:500], dead_at=now if dead else None,
          next_attempt_at=now + backoff(attempts, app.config["OUTBOX_RETRY_BASE_S"], app.config["OUTBOX_RETRY_MAX_S"]))
    result.failed += 1
    if dead:
        result.dead += 1
        log.error("Outbox row %s (%s) set aside after %d attempts: %s", row["id"], row["task_name"], attempts, error)
    else:
        log.warning("Outbox row %s (%s) not published (attempt %d): %s", row["id"], row["task_name"], attempts, error)


def _release(conn, token: str) -> None:
    conn.execute(update(T).where(T.c.claim_token == token).values(claim_token=None, claimed_until=None))
    conn.commit()


def _publish_rows(app: Flask, conn, broker, token: str, rows: list[dict], result: DrainResult) -> None:
    celery_app = app.extensions["celery"]
    broker_errors = (BrokerUnreachable,) + broker.connection_errors + broker.channel_errors
    producer = celery_app.amqp.Producer(broker)
    for row in rows:
        try:
            args = _task_args(celery_app, row)
            # The task id names the row: a duplicate delivery is visible in the worker's log.
            celery_app.send_task(row["task_name"], args=args, task_id=f"outbox-{row['id']}", producer=producer,
                                 ignore_result=True, retry=False)
        except PoisonRow as exc:
            _on_row_failure(app, conn, row, token, str(exc), result)
        except broker_errors as exc:
            result.broker_error = str(exc) or type(exc).__name__
            _mark(conn, row["id"], token, last_error=f"broker: {result.broker_error}"[:500])
            return
        except Exception as exc:  # kombu/celery refused this message (encoding, routing): this row's fault
            _on_row_failure(app, conn, row, token, f"{type(exc).__name__}: {exc}", result)
        else:
            _mark(conn, row["id"], token, published_at=utcnow(), attempts=row["attempts"] + 1, last_error=None,
                  next_attempt_at=None)
            result.published += 1


def drain(app: Flask, ids: list[int] | None = None, limit: int = BATCH, budget_s: float = 20.0) -> DrainResult:
    """Publish publishable rows (only `ids` if given), each by exactly one drain; never raises on broker loss."""
    result = DrainResult()
    deadline = time.monotonic() + budget_s
    with db.engine.connect() as conn:  # its own connection: callers may be inside after_commit
        with publish_connection(app) as broker:
            try:
                broker.ensure_connection(max_retries=0)
            except (BrokerUnreachable,) + broker.connection_errors as exc:
                result.broker_error = str(exc) or type(exc).__name__
                return result
            while not result.broker_error and time.monotonic() < deadline:
                token, rows = claim(conn, utcnow(), ids, limit)
                try:
                    _publish_rows(app, conn, broker, token, rows, result)
                finally:
                    _release(conn, token)  # rows left unpublished go back to the pool at once
                if len(rows) < limit:
                    break
    return result


def prune_published(retention: timedelta, now: datetime | None = None) -> int:
    """Delete rows published longer ago than `retention` (their dedup keys are no longer needed)."""
    cutoff = (now or utcnow()) - retention
    return db.session.execute(delete(OutboxMessage).where(OutboxMessage.published_at < cutoff)
                              .execution_options(synchronize_session=False)).rowcount


def health() -> OutboxHealth:
    """What the admin dashboard shows: rows waiting, the oldest one's age, dead letters."""
    waiting = OutboxMessage.published_at.is_(None) & OutboxMessage.dead_at.is_(None)
    pending, oldest = db.session.query(func.count(OutboxMessage.id), func.min(OutboxMessage.created_at)) \
        .filter(waiting).one()
    dead = db.session.query(func.count(OutboxMessage.id)).filter(OutboxMessage.dead_at.is_not(None)).scalar()
    return OutboxHealth(pending=int(pending), oldest_pending_at=oldest, dead=int(dead))


def dead_letters(limit: int = 200) -> list[OutboxMessage]:
    return (db.session.query(OutboxMessage).filter(OutboxMessage.dead_at.is_not(None))
            .order_by(OutboxMessage.dead_at.desc(), OutboxMessage.id.desc()).limit(limit).all())


def get_dead_letter(message_id: int) -> OutboxMessage | None:
    message = db.session.get(OutboxMessage, message_id)
    return message if message is not None and message.dead_at is not None else None


def revive(message: OutboxMessage) -> None:
    """Give a dead letter a fresh set of attempts, to be published by the next drain."""
    message.dead_at = message.next_attempt_at = message.claim_token = message.claimed_until = None
    message.attempts = 0
