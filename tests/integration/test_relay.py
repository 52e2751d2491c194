"""The relay on SQLite and PostgreSQL: what it republishes, and how it backs off."""

from datetime import timedelta

from sqlalchemy import func, select, update

from tests.conftest import VALID_CPFS
from tests.integration.effects_support import pending_effects
from workflow.db.models import OutboxEffect, WorkerHeartbeat
from workflow.db.types import utcnow
from workflow.domain.customer_machine import TransitionRequest
from workflow.domain.vocabulary import CustomerEvent, Role, Source
from workflow.settings import Settings
from workflow.usecases import customers, effects, transitions

SETTINGS = Settings(relay_grace_seconds=5)


def _age(db, ids, seconds, **values):
    with db.write() as session:
        session.execute(
            update(OutboxEffect)
            .where(OutboxEffect.id.in_(ids))
            .values(next_attempt_at=utcnow() - timedelta(seconds=seconds), **values)
        )


def test_relay_takes_only_due_unclaimed_effects_and_backs_off(db):
    ids = pending_effects(db)
    assert effects.relay_pending(db, SETTINGS) == []  # fresh: the fast path has them
    _age(db, ids, 6)
    _age(db, ids[:1], 6, claimed_until=utcnow() + timedelta(seconds=30))  # running elsewhere
    assert effects.relay_pending(db, SETTINGS) == ids[1:]
    assert effects.relay_pending(db, SETTINGS) == []  # just relayed: waits 2 × grace now
    with db.write() as session:
        relay_after = {e.id: e.relay_after for e in session.query(OutboxEffect).filter(OutboxEffect.id.in_(ids[1:]))}
        session.execute(
            update(OutboxEffect).where(OutboxEffect.id.in_(ids[1:])).values(relay_after=utcnow() - timedelta(seconds=1))
        )
    assert all(9 < (after - utcnow()).total_seconds() + 0.5 <= 10.5 for after in relay_after.values())
    assert effects.relay_pending(db, SETTINGS) == ids[1:]
    with db.read() as session:
        rows = session.query(OutboxEffect).filter(OutboxEffect.id.in_(ids[1:])).all()
        assert {r.relay_count for r in rows} == {2}
        waits = {round((r.relay_after - r.published_at).total_seconds()) for r in rows}
        assert waits == {20}  # 5 s × 2²


def test_settled_effects_are_never_relayed(db):
    ids = pending_effects(db)
    _age(db, ids, 60, state="done")
    assert effects.relay_pending(db, SETTINGS) == []


# -- retries on the schedule, claims of dead workers, billing learning the latest status ----------

BILLING = {
    "billing_webhook_url": "http://127.0.0.1:9/billing",
    "relay_grace_seconds": 5,
    "worker_heartbeat_seconds": 1,
    "effect_claim_seconds": 300,
}


def _move(db, cid: int, event: CustomerEvent, reason: str):
    actor = transitions.Actor("t", Role.OPERATOR)
    with db.write() as session:
        return transitions.transition_customer(
            session, cid, event, TransitionRequest(reason, None, actor_role=Role.OPERATOR), actor, Source.API
        )


def _customer(db, n: int = 0) -> int:
    with db.write() as session:
        return customers.create_customer(session, customers.CustomerDraft(f"C{n}", VALID_CPFS[n])).id


def _notify(outcome) -> int:
    return next(e.id for e in outcome.effects if e.name == "notify_billing")


def _effect(db, effect_id: int) -> OutboxEffect:
    with db.read() as session:
        return session.get(OutboxEffect, effect_id)


def _billing_down(delivery):
    raise effects.DeliveryFailed("HTTP 503 from billing")


def test_a_long_retry_is_parked_for_the_relay_never_a_countdown(db):
    settings = Settings(**BILLING, effect_retry_schedule="0,2h")
    effect_id = _notify(_move(db, _customer(db), CustomerEvent.INACTIVATE, "customer_request"))
    result = effects.carry_out_effect(db, effect_id, settings, _billing_down)
    assert (result.state, result.retry_in) == ("pending", None)  # no Celery countdown
    parked = _effect(db, effect_id)
    wait = (parked.next_attempt_at - utcnow()).total_seconds()
    assert 0.8 * 7200 - 5 <= wait <= 1.2 * 7200  # the schedule's 2 h, jittered
    assert (parked.claimed_until, parked.claimed_by) == (None, None)
    assert effects.relay_pending(db, settings) == []  # not due: nobody publishes it
    _age(db, [effect_id], 6)
    assert effects.relay_pending(db, settings) == [effect_id]  # due: the relay publishes it

    short = Settings(**BILLING, effect_retry_schedule="0,5s")
    other = _notify(_move(db, _customer(db, 1), CustomerEvent.INACTIVATE, "customer_request"))
    result = effects.carry_out_effect(db, other, short, _billing_down)
    assert result.state == "pending" and 4 <= result.retry_in <= 6  # short: a countdown


def test_the_schedule_sets_the_attempts_and_the_last_one_fails_the_effect(db):
    settings = Settings(**BILLING, effect_retry_schedule="0,1s,1s")
    assert settings.effect_max_attempts == 3
    effect_id = _notify(_move(db, _customer(db), CustomerEvent.INACTIVATE, "customer_request"))
    for attempt in (1, 2, 3):
        _age(db, [effect_id], 0)
        state = effects.carry_out_effect(db, effect_id, settings, _billing_down).state
        assert state == ("failed" if attempt == 3 else "pending")
    assert "gave up after 3 attempt(s)" in _effect(db, effect_id).last_error


def test_a_claim_of_a_dead_worker_is_taken_over_at_once_and_says_it_may_have_been_sent(db):
    from workflow.usecases import heartbeats

    settings = Settings(**BILLING)
    cid = _customer(db)
    effect_id = _notify(_move(db, cid, CustomerEvent.INACTIVATE, "customer_request"))
    # Another host's worker claimed it (attempt 1) and was making the call.
    heartbeats.beat(db, "other-host:4242", heartbeats.POOL)
    with db.write() as session:
        session.execute(
            update(OutboxEffect)
            .where(OutboxEffect.id == effect_id)
            .values(attempts=1, claimed_until=utcnow() + timedelta(seconds=290), claimed_by="other-host:4242")
        )
    assert effects.carry_out_effect(db, effect_id, settings, _billing_down).state == "busy"  # alive: its claim holds
    assert effects.relay_pending(db, settings) == []

    # It dies right after delivering; meanwhile the customer is activated again.
    _move(db, cid, CustomerEvent.ACTIVATE, "customer_return")
    with db.write() as session:
        session.execute(update(WorkerHeartbeat).values(last_seen=utcnow() - timedelta(seconds=4)))
    _age(db, [effect_id], 6)
    assert effects.relay_pending(db, settings) == [effect_id]  # silent for 3 beats: republished

    result = effects.carry_out_effect(db, effect_id, settings, _billing_down)  # long before the claim's 300 s
    assert result.state == "skipped"
    settled = _effect(db, effect_id)
    assert settled.attempts == 2
    assert settled.note.startswith("may have been delivered by attempt 1")
    assert "superseded" in settled.note


def test_a_claim_of_a_dead_process_on_this_host_is_taken_over_without_waiting_for_silence(db):
    import subprocess
    import sys

    from workflow.usecases import heartbeats

    settings = Settings(**{**BILLING, "worker_heartbeat_seconds": 600})
    effect_id = _notify(_move(db, _customer(db), CustomerEvent.INACTIVATE, "customer_request"))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    owner = heartbeats.this_process().rsplit(":", 1)[0] + f":{gone.pid}"
    heartbeats.beat(db, owner, heartbeats.POOL)  # heard from just now
    with db.write() as session:
        session.execute(
            update(OutboxEffect)
            .where(OutboxEffect.id == effect_id)
            .values(attempts=1, claimed_until=utcnow() + timedelta(seconds=290), claimed_by=owner)
        )
    delivered = []
    assert effects.carry_out_effect(db, effect_id, settings, delivered.append).state == "done"
    assert [d.message_id for d in delivered] == [f"effect_{effect_id}"]


def test_the_reconciler_tells_billing_the_latest_status_once(db):
    settings = Settings(**BILLING, effect_retry_schedule="0")
    cid, quiet = _customer(db), _customer(db, 1)
    old = _notify(_move(db, cid, CustomerEvent.INACTIVATE, "customer_request"))
    latest = _move(db, cid, CustomerEvent.ACTIVATE, "customer_return")
    _move(db, quiet, CustomerEvent.INACTIVATE, "customer_request")  # its notification is still pending
    assert effects.carry_out_effect(db, old, settings, _billing_down).state == "skipped"  # superseded
    assert effects.carry_out_effect(db, _notify(latest), settings, _billing_down).state == "failed"

    created = effects.reconcile_notifications(db)
    assert len(created) == 1
    again = _effect(db, created[0])
    assert (again.name, again.origin, again.state, again.transition_id, again.customer_id) == (
        "notify_billing",
        "reconciler",
        "pending",
        latest.transition.id,
        cid,
    )
    assert effects.reconcile_notifications(db) == []  # one on its way already

    delivered = []
    assert effects.carry_out_effect(db, created[0], settings, delivered.append).state == "done"
    assert [d.payload["data"]["status"] for d in delivered] == ["active"]
    assert delivered[0].payload["sequence"] == latest.customer.version
    assert effects.reconcile_notifications(db) == []  # billing knows now

    # A newer transition takes over: the failed one of an older transition is not sent again.
    newer = _move(db, cid, CustomerEvent.INACTIVATE, "customer_request")
    assert effects.carry_out_effect(db, _notify(newer), settings, delivered.append).state == "done"
    with db.write() as session:
        session.execute(update(OutboxEffect).where(OutboxEffect.id == created[0]).values(state="failed"))
    assert effects.reconcile_notifications(db) == []


def test_a_long_parked_notification_never_overrides_a_newer_status(db):
    settings = Settings(**BILLING, effect_retry_schedule="0,10h")
    cid = _customer(db)
    old = _notify(_move(db, cid, CustomerEvent.INACTIVATE, "customer_request"))
    assert effects.carry_out_effect(db, old, settings, _billing_down).state == "pending"  # parked for 10 h
    newer = _move(db, cid, CustomerEvent.ACTIVATE, "customer_return")
    delivered = []
    assert effects.carry_out_effect(db, _notify(newer), settings, delivered.append).state == "done"
    _age(db, [old], 6)  # ten hours later, the relay wakes the old one
    assert effects.relay_pending(db, settings) == [old]
    assert effects.carry_out_effect(db, old, settings, delivered.append).state == "skipped"
    assert [d.payload["data"]["status"] for d in delivered] == ["active"]  # billing never hears "inactive" again
    assert f"superseded by transition {newer.transition.id}" in _effect(db, old).note


def test_the_reconciler_gives_up_on_a_notification_billing_keeps_refusing(db):
    settings = Settings(**BILLING, effect_retry_schedule="0")
    cid = _customer(db)
    latest = _move(db, cid, CustomerEvent.INACTIVATE, "customer_request")
    assert effects.carry_out_effect(db, _notify(latest), settings, _billing_down).state == "failed"
    for _ in range(effects.RENOTIFY_MAX):
        (created,) = effects.reconcile_notifications(db)
        assert effects.carry_out_effect(db, created, settings, _billing_down).state == "failed"
    assert effects.reconcile_notifications(db) == []  # a person looks at it now, not a loop
    with db.read() as session:
        tries = session.scalar(
            select(func.count())
            .select_from(OutboxEffect)
            .where(OutboxEffect.transition_id == latest.transition.id, OutboxEffect.name == "notify_billing")
        )
    assert tries == 1 + effects.RENOTIFY_MAX
