"""The task outbox on SQLite: claims, truthful attempts, poison rows set aside for the admin, pruning."""
from __future__ import annotations

from datetime import timedelta

import pytest
from kombu import Connection

from marketplace.audit.models import AuditEntry
from marketplace.core import outbox
from marketplace.core.models import OutboxMessage
from marketplace.extensions import db
from marketplace.tasking import UnknownTask, enqueue_after_commit, publish_outbox
from marketplace.timeutil import utcnow
from tests.factories import get_admin, login

TASK = "core.send_pending_emails"


@pytest.fixture
def app_config():
    # A real (in-memory) broker instead of eager tasks, so that rows are really published.
    return {"CELERY": {"task_always_eager": False, "broker_url": "memory://"}, "OUTBOX_MAX_ATTEMPTS": 3}


@pytest.fixture
def queue(app):
    """Messages waiting in the in-memory broker's default queue."""
    with Connection("memory://") as conn:
        simple = conn.SimpleQueue("celery")
        simple.clear()
        yield simple
        simple.clear()
        simple.close()


def _rows(task_name: str = TASK, n: int = 1, args_json: str = "[]") -> list[int]:
    rows = [OutboxMessage(task_name=task_name, args_json=args_json) for _ in range(n)]
    db.session.add_all(rows)
    db.session.commit()
    return [r.id for r in rows]


def _backdate_retries() -> None:
    """Let time pass: every waiting row's retry delay is over."""
    db.session.query(OutboxMessage).update({OutboxMessage.next_attempt_at: utcnow() - timedelta(seconds=1)})
    db.session.commit()


def test_enqueue_refuses_an_unknown_task_and_arguments_the_worker_could_not_read(app):
    with pytest.raises(UnknownTask):
        enqueue_after_commit("dispatch.plan_for_ordre", [1])
    with pytest.raises(TypeError):
        enqueue_after_commit(TASK, [object()])
    assert db.session.query(OutboxMessage).count() == 0


def test_a_claimed_row_is_not_claimed_again_until_its_lease_ends(app):
    ids = _rows(n=3)
    with db.engine.connect() as conn:
        now = utcnow()
        _token, first = outbox.claim(conn, now)
        _token, second = outbox.claim(conn, now)
        _token, later = outbox.claim(conn, now + outbox.LEASE + timedelta(seconds=1))
    assert [r["id"] for r in first] == ids and second == []
    assert [r["id"] for r in later] == ids  # a drain that died gives its rows back


def test_each_row_is_published_once_and_attempts_say_so(app, queue):
    ids = _rows(n=5)
    assert publish_outbox(app).published == 5
    assert publish_outbox(app).published == 0
    assert queue.qsize() == 5
    messages = [queue.get(timeout=1) for _ in range(5)]
    assert sorted(m.headers["id"] for m in messages) == sorted(f"outbox-{i}" for i in ids)
    for m in messages:
        m.ack()
    rows = db.session.query(OutboxMessage).all()
    assert all(r.published_at is not None and r.attempts == 1 and r.claim_token is None for r in rows)


def test_a_broker_that_cannot_be_reached_costs_no_attempt(app, queue, monkeypatch):
    _rows(n=2)
    monkeypatch.setitem(app.extensions["celery"].conf, "broker_url", "redis://127.0.0.1:1/0")  # nothing listens
    result = publish_outbox(app)
    assert result.published == 0 and result.broker_error
    rows = db.session.query(OutboxMessage).all()
    assert all(r.published_at is None and r.attempts == 0 and r.claim_token is None for r in rows)


def test_a_poison_row_does_not_block_the_rows_behind_it_and_is_set_aside_for_the_admin(app, client, queue):
    before = _rows(n=1)
    [poison] = _rows("billing.close_everything", args_json="[1]")
    [bad_json] = _rows(args_json="{not json")
    behind = _rows(n=2)
    result = publish_outbox(app)
    assert result.published == 3 and result.failed == 2
    assert queue.qsize() == 3
    published = {r.id for r in db.session.query(OutboxMessage).filter(OutboxMessage.published_at.is_not(None))}
    assert published == set(before + behind)
    row = db.session.get(OutboxMessage, poison)
    assert row.attempts == 1 and "unknown task" in row.last_error and row.next_attempt_at > utcnow()
    assert row.dead_at is None
    assert publish_outbox(app).failed == 0  # waiting for its retry delay, not hammered

    for attempt in (2, 3):
        _backdate_retries()
        publish_outbox(app)
        db.session.expire_all()
        assert db.session.get(OutboxMessage, poison).attempts == attempt
    assert db.session.get(OutboxMessage, poison).dead_at is not None
    assert db.session.get(OutboxMessage, bad_json).dead_at is not None
    _backdate_retries()
    assert publish_outbox(app).failed == 0  # dead letters are left alone

    login(client, get_admin())
    dashboard = client.get("/admin/").get_data(as_text=True)
    assert "2 tasks set aside after repeated failures" in dashboard
    page = client.get("/admin/background").get_data(as_text=True)
    assert "billing.close_everything" in page and "unknown task" in page and "arguments are not JSON" in page

    assert client.post(f"/admin/background/{bad_json}/drop").status_code == 302
    assert db.session.get(OutboxMessage, bad_json) is None
    assert client.post(f"/admin/background/{poison}/replay").status_code == 302
    db.session.expire_all()
    row = db.session.get(OutboxMessage, poison)
    assert row.dead_at is None and row.attempts == 0 and row.next_attempt_at is None
    actions = [e.action for e in db.session.query(AuditEntry).order_by(AuditEntry.id)]
    assert actions[-2:] == ["outbox.drop", "outbox.replay"]
    assert client.post(f"/admin/background/{before[0]}/drop").status_code == 404  # not a dead letter


def test_the_dashboard_shows_the_oldest_waiting_row_and_silent_services(app, client):
    db.session.add(OutboxMessage(task_name=TASK, args_json="[]", created_at=utcnow() - timedelta(minutes=7)))
    db.session.commit()
    login(client, get_admin())
    page = client.get("/admin/").get_data(as_text=True)
    assert "1 task waiting to be sent, the oldest for 7 minutes" in page
    assert "no worker has reported" in page and "the scheduler has not reported" in page
    assert "needs attention" in page


def _heartbeats(**ages_s: float) -> None:
    """One worker and one beat, last seen that many seconds ago (the stale limit is HEARTBEAT_STALE_S = 90)."""
    from marketplace.core.services import note_heartbeat

    note_heartbeat("worker:w1@shop", "worker", utcnow() - timedelta(seconds=ages_s["worker"]))
    note_heartbeat("beat:shop", "beat", utcnow() - timedelta(seconds=ages_s["beat"]))
    db.session.commit()


def _liveness(client) -> tuple[str, str, str]:
    import re

    page = client.get("/admin/background").get_data(as_text=True)

    def section(testid: str) -> str:
        return re.sub(r"\s+", " ", page.split(f'data-testid="{testid}">')[1].split("</li>")[0])

    return section("workers"), section("beats"), page.split("Background work")[1].split("</h2>")[0]


def test_the_dashboard_tells_a_fresh_worker_and_beat_from_stale_ones(app, client):
    login(client, get_admin())
    _heartbeats(worker=10, beat=10)
    workers, beats, summary = _liveness(client)
    assert "worker:w1@shop — alive" in workers and "beat:shop — alive" in beats
    assert "running normally" in summary and "error" not in workers + beats

    _heartbeats(worker=10, beat=300)  # beat silent for five minutes: cut-offs and retries stopped
    workers, beats, summary = _liveness(client)
    assert "worker:w1@shop — alive" in workers and "beat:shop — silent, last seen" in beats
    assert 'class="error"' in beats and "needs attention" in summary

    _heartbeats(worker=120, beat=10)  # and the other way round
    workers, beats, summary = _liveness(client)
    assert "worker:w1@shop — silent" in workers and "beat:shop — alive" in beats and "needs attention" in summary

    _heartbeats(worker=2 * 86400, beat=10)  # gone for two days: no longer listed, reported as missing
    workers, _beats, summary = _liveness(client)
    assert "w1@shop" not in workers and "no worker has reported" in workers and "needs attention" in summary


def test_published_rows_are_pruned_after_the_retention_period(app):
    old, recent, waiting = _rows(n=3)
    db.session.get(OutboxMessage, old).published_at = utcnow() - timedelta(days=15)
    db.session.get(OutboxMessage, recent).published_at = utcnow() - timedelta(days=13)
    db.session.commit()
    assert app.extensions["celery"].tasks["core.prune_records"]() == 1
    assert {r.id for r in db.session.query(OutboxMessage)} == {recent, waiting}
