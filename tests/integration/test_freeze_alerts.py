"""The `ativa.freeze` alert, on SQLite and PostgreSQL: the workers' timers send each change of the
freeze to a real billing receiver on loopback, signed (Standard Webhooks), retried after a failure
with the same webhook-id, and `skipped` when no billing webhook is set."""

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from tests.pipeline import BILLING_SECRET, WebhookReceiver
from workflow.db.models import FreezeChange
from workflow.domain.vocabulary import Source
from workflow.settings import get_settings
from workflow.usecases import freeze


@pytest.fixture
def timers(db, monkeypatch) -> Iterator:
    """The workers' timers tick (which sends the alerts due), in this process, on the test's database."""
    from workers import runtime, tasks

    monkeypatch.setenv("ATIVA_DATABASE_URL", db.url)
    monkeypatch.setenv("ATIVA_EFFECT_RETRY_SCHEDULE", "0,0,0")  # a retry is due at once: no waiting
    get_settings.cache_clear()
    runtime.reset()
    yield lambda: tasks.timers_tick.run()
    runtime.reset()
    get_settings.cache_clear()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver().start()
    yield server
    server.stop()


def alert_rows(db) -> list[FreezeChange]:
    with db.read() as session:
        return list(session.scalars(select(FreezeChange).order_by(FreezeChange.id)))


def test_each_change_reaches_billing_signed_and_a_failure_is_retried_with_the_same_id(
    db, timers, receiver, monkeypatch
):
    monkeypatch.setenv("ATIVA_BILLING_WEBHOOK_URL", f"{receiver.url}/billing")
    monkeypatch.setenv("ATIVA_BILLING_WEBHOOK_SECRET", BILLING_SECRET)
    get_settings.cache_clear()
    receiver.behaviour = lambda path, seen: 500 if seen == 1 else 200  # the first try of each fails

    state = freeze.freeze_cuts(db, "banco fora do ar", None, "user:maria", Source.UI)
    timers()  # answered 500: kept for a retry
    [change] = alert_rows(db)
    assert (change.alert_state, change.alert_attempts) == ("pending", 1)
    assert "HTTP 500" in change.alert_error
    timers()
    [change] = alert_rows(db)
    assert (change.alert_state, change.alert_attempts, change.alert_error) == ("done", 2, None)
    assert change.alerted_at is not None
    timers()  # nothing left to announce

    first, retried = receiver.at("/billing")
    assert first.webhook_id == retried.webhook_id == f"ativa-freeze-{state.change_id}"
    assert first.verified and retried.verified
    assert retried.body == first.body
    assert retried.body["type"] == "ativa.freeze"
    assert retried.body["data"] == {
        "change_id": state.change_id,
        "action": "on",
        "frozen": True,
        "reason": "banco fora do ar",
        "until": None,
        "detail": None,
        "actor": "user:maria",
        "source": "ui",
    }

    freeze.lift_freeze(db, "user:maria", Source.UI, "banco voltou")
    timers()
    timers()
    lifted = receiver.accepted("/billing")[-1]
    assert lifted.body["data"]["action"] == "off" and lifted.body["data"]["frozen"] is False
    assert lifted.body["data"]["reason"] == "banco voltou"
    assert [row.alert_state for row in alert_rows(db)] == ["done", "done"]


def test_a_receiver_that_never_accepts_leaves_the_alert_failed(db, timers, receiver, monkeypatch):
    monkeypatch.setenv("ATIVA_BILLING_WEBHOOK_URL", f"{receiver.url}/billing")
    monkeypatch.setenv("ATIVA_BILLING_WEBHOOK_SECRET", BILLING_SECRET)
    monkeypatch.setenv("ATIVA_EFFECT_MAX_ATTEMPTS", "3")
    get_settings.cache_clear()
    receiver.behaviour = lambda path, seen: 503
    freeze.freeze_cuts(db, "auditoria", None, "cli:root", Source.CLI)
    for _ in range(4):
        timers()
    [change] = alert_rows(db)
    assert (change.alert_state, change.alert_attempts) == ("failed", 3)
    assert len({r.webhook_id for r in receiver.at("/billing")}) == 1 and len(receiver.at("/billing")) == 3


def test_without_a_billing_webhook_the_alert_is_skipped(db, timers, receiver, monkeypatch):
    monkeypatch.delenv("ATIVA_BILLING_WEBHOOK_URL", raising=False)
    get_settings.cache_clear()
    freeze.freeze_cuts(db, "auditoria", None, "cli:root", Source.CLI)
    timers()
    [change] = alert_rows(db)
    assert (change.alert_state, change.next_alert_at, change.alerted_at) == ("skipped", None, None)
    assert receiver.received == []
    timers()
    assert alert_rows(db)[0].alert_attempts == 1  # never tried again
