"""A batch of payments through the API with real Celery workers (Redis with PostgreSQL, the folder
broker with SQLite): the worker restoring the customers is killed (SIGKILL, main process and pool)
in the middle of an outbound call, with some customers restored and others not; a new worker and
its relay finish the work. Nothing is lost and nothing is done twice: every customer reactivated
once, every service restored, every effect done, one accepted delivery per webhook-id (the call cut
off is sent again under its id, as documented)."""

import signal
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import func, insert, select

from tests.conftest import cpf
from tests.e2e.billing_support import NEW_SECRET, signed
from tests.support import Ran, lock_waiters, rows_locked, wait_for
from workflow.db.models import BillingEvent, Customer, Invoice, OutboxEffect, Service, StatusChange
from workflow.db.types import utcnow
from workflow.domain.customer_machine import EFFECTS
from workflow.domain.vocabulary import CustomerEvent
from workflow.usecases.business_day import provider_today

CUSTOMERS = 300
OUTBOUND = ("notify_billing", "provision_restore")
# What an activation of a customer with one provisioned service queues.
RESTORATION = sorted([e.value for e in EFFECTS[CustomerEvent.ACTIVATE]] + ["provision_restore"])
SETTLED = ("done", "skipped", "failed")


def seed(db, count: int) -> list[int]:
    """Customers cut for delinquency as the sweep leaves them (inactive, invoicing paused, their
    service suspended for it), each owing one invoice 30 days past due, external ids inv-<id>."""
    now = utcnow()
    with db.write() as session:
        ids = list(
            session.scalars(
                insert(Customer).returning(Customer.id),
                [
                    {
                        "name": f"Lote {n}",
                        "document": cpf(5000 + n),
                        "document_type": "cpf",
                        "status": "inactive",
                        "inactivation_reason": "delinquency",
                        "status_changed_at": now,
                        "invoicing_enabled": False,
                        "version": 2,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for n in range(count)
                ],
            )
        )
        session.execute(
            insert(Service),
            [
                {
                    "customer_id": cid,
                    "name": "Fibra",
                    "external_ref": f"svc-{cid}",
                    "status": "suspended",
                    "suspension_cause": "customer_inactive",
                    "suspended_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
                for cid in ids
            ],
        )
        session.execute(
            insert(Invoice),
            [
                {
                    "external_id": f"inv-{cid}",
                    "customer_id": cid,
                    "amount": Decimal("99.90"),
                    "amount_paid": Decimal(0),
                    "due_date": provider_today() - timedelta(days=30),
                    "status": "open",
                    "created_at": now,
                    "updated_at": now,
                }
                for cid in ids
            ],
        )
    return sorted(ids)


def effect_states(db, ids: list[int]) -> Counter:
    with db.read() as session:
        rows = session.execute(
            select(OutboxEffect.state, func.count())
            .where(OutboxEffect.customer_id.in_(ids))
            .group_by(OutboxEffect.state)
        )
        return Counter(dict(rows.all()))


def attempts_by_effect(db, ids: list[int]) -> dict[int, tuple[str, int]]:
    with db.read() as session:
        rows = session.execute(
            select(OutboxEffect.id, OutboxEffect.state, OutboxEffect.attempts).where(OutboxEffect.customer_id.in_(ids))
        )
        return {key: (state, attempts) for key, state, attempts in rows}


def restored_count(db, ids: list[int]) -> int:
    with db.read() as session:
        return session.scalar(
            select(func.count()).where(
                OutboxEffect.customer_id.in_(ids),
                OutboxEffect.name == "restore_services",
                OutboxEffect.state == "done",
            )
        )


def post_batch(stack, ids: list[int], batch_id: str = "return-file-1") -> list[tuple]:
    """Each customer's invoice paid, in one signed batch: the (id, status, reactivated) answered."""
    events = [
        {"id": f"pay-{cid}", "type": "invoice.paid", "data": {"invoice_id": f"inv-{cid}", "customer_id": cid}}
        for cid in ids
    ]
    raw, headers = signed({"events": events}, batch_id)
    response = stack.http.post("/api/v1/billing/events/batch", content=raw, headers=headers)
    assert response.status_code == 200, response.text
    return [(r["id"], r["status"], r["reactivated"]) for r in response.json()["results"]]


def settle(stack, ids: list[int]) -> list:
    """Once every effect of those customers settled: checks each was reactivated and restored once
    (one history row, its effects all done, its service active, one billing event); the effects
    as (id, customer_id, name, attempts)."""
    wait_for(
        lambda: set(effect_states(stack.db, ids)) <= set(SETTLED),
        timeout=240,
        interval=0.5,
        what="every effect of the batch settled",
    )
    assert effect_states(stack.db, ids) == Counter({"done": len(ids) * len(RESTORATION)})
    with stack.db.read() as session:
        people = session.execute(
            select(Customer.status, Customer.inactivation_reason, Customer.invoicing_enabled, Customer.version).where(
                Customer.id.in_(ids)
            )
        ).all()
        services = session.execute(select(Service.status, Service.suspension_cause).where(Service.customer_id.in_(ids)))
        services = services.all()
        changes = session.execute(
            select(StatusChange.customer_id, StatusChange.event, StatusChange.reason).where(
                StatusChange.customer_id.in_(ids)
            )
        ).all()
        effects = session.execute(
            select(OutboxEffect.id, OutboxEffect.customer_id, OutboxEffect.name, OutboxEffect.attempts).where(
                OutboxEffect.customer_id.in_(ids)
            )
        ).all()
        recorded = sorted(session.scalars(select(BillingEvent.customer_id)))
    assert people == [("active", None, True, 3)] * len(ids)
    assert services == [("active", None)] * len(ids)
    assert sorted(changes) == [(cid, "activate", "payment_received") for cid in ids]  # once each
    assert recorded == ids
    names: dict[int, list[str]] = {}
    for effect in effects:
        names.setdefault(effect.customer_id, []).append(effect.name)
    assert {cid: sorted(found) for cid, found in names.items()} == dict.fromkeys(ids, RESTORATION)
    return effects


def applied_once(receiver, ids: list[int]) -> None:
    """What the receivers applied, once per webhook-id: each customer's activation, each service's."""
    notified = {r.webhook_id: r.body for r in receiver.accepted("/billing")}.values()
    assert sorted(body["data"]["customer_id"] for body in notified) == ids
    assert {body["type"] for body in notified} == {"customer.activated"}
    provisioned = {r.webhook_id: r.body for r in receiver.accepted("/provisioning")}.values()
    assert sorted(body["data"]["external_ref"] for body in provisioned) == sorted(f"svc-{cid}" for cid in ids)


def test_a_worker_killed_mid_batch_loses_nothing_and_does_nothing_twice(stack_factory, receiver):
    calls = Counter()

    def hang_one_call_midway(path, n):
        calls["all"] += 1
        return "hang" if calls["all"] == CUSTOMERS // 2 else 200

    receiver.behaviour = hang_one_call_midway
    # Calls long enough to kill the worker inside the hanging one; a dead worker's claim is taken
    # over at once (its pid gone), whatever the claim's length.
    stack = stack_factory(billing_inbound_secret=NEW_SECRET, webhook_timeout_seconds="5", effect_claim_seconds="60")
    ids = seed(stack.db, CUSTOMERS)
    worker = stack.start_worker()
    assert post_batch(stack, ids) == [(f"pay-{cid}", "accepted", True) for cid in ids]

    assert receiver.hanging.wait(120), "no call reached the hanging point"
    worker.stop(signal.SIGKILL)  # main process and pool: one call cut off, others claimed or queued
    at_kill = attempts_by_effect(stack.db, ids)
    accepted_at_kill = Counter(r.webhook_id for r in receiver.accepted("/"))
    assert 0 < restored_count(stack.db, ids) < CUSTOMERS, "the worker was not killed midway"
    stack.start_worker()  # with its beat: the relay publishes again what the dead worker held
    receiver.release.set()

    effects = settle(stack, ids)
    # Nothing done before the kill ran again; what the dead worker had claimed (a message's ids
    # are claimed together) ran once more; the rest (provisioning calls queued by a restoration
    # after the kill among them) once.
    assert {e.id: e.attempts for e in effects} == {
        e.id: at_kill[e.id][1] + (at_kill[e.id][0] != "done") if e.id in at_kill else 1 for e in effects
    }
    assert any(state == "pending" and attempts == 1 for state, attempts in at_kill.values())

    # Every outbound effect accepted once under its own webhook-id after the kill, or before it if
    # it was done then. A call the dead worker made without recording it may have been accepted
    # before the kill too (documented: sent again under the same id, the receiver deduplicates);
    # the call cut off in the middle was answered nothing, then sent again.
    outbound = {f"effect_{e.id}": e.id for e in effects if e.name in OUTBOUND}
    accepted = Counter(r.webhook_id for r in receiver.accepted("/"))
    done_at_kill = {key for key, effect_id in outbound.items() if at_kill.get(effect_id, ("",))[0] == "done"}
    assert {key: accepted[key] - accepted_at_kill[key] for key in outbound} == {
        key: 0 if key in done_at_kill else 1 for key in outbound
    }
    assert set(accepted) == set(outbound)
    assert {key: accepted_at_kill[key] for key in done_at_kill} == dict.fromkeys(done_at_kill, 1)
    assert max(accepted_at_kill.values()) == 1
    cut_off = [r for r in receiver.received if r.answer == "hang"]
    assert len(cut_off) == 1 and at_kill[outbound[cut_off[0].webhook_id]] == ("pending", 1)
    sent = Counter(r.webhook_id for r in receiver.received)
    attempts = {e.id: e.attempts for e in effects}
    assert {key: sent[key] <= attempts[effect_id] for key, effect_id in outbound.items()} == dict.fromkeys(
        outbound, True
    )
    applied_once(receiver, ids)


@pytest.mark.parametrize("stack_factory", ["redis-postgresql"], indirect=True)
def test_the_api_killed_inside_a_batch_records_nothing_and_the_batch_sent_again_applies_once(stack_factory, receiver):
    """The API server killed (SIGKILL) while the batch's transaction waits for rows another holds:
    nothing of the batch is recorded; the bank, without an answer, sends it again, and each event
    is applied once."""
    stack = stack_factory(billing_inbound_secret=NEW_SECRET)
    ids = seed(stack.db, 40)
    stack.start_worker()
    with rows_locked(stack.db, ids[20:]):
        sending = Ran(lambda: post_batch(stack, ids))
        sending.start()
        wait_for(lambda: lock_waiters(stack.db) == 1, what="the batch waiting for the held rows")
        stack.restart_api(signal.SIGKILL)
    with pytest.raises(httpx.TransportError):
        sending.result()  # no answer: the bank sends the batch again
    with stack.db.read() as session:
        assert session.scalar(select(func.count()).select_from(BillingEvent)) == 0
        assert session.scalar(select(func.count()).select_from(StatusChange)) == 0
    assert effect_states(stack.db, ids) == Counter()

    assert post_batch(stack, ids) == [(f"pay-{cid}", "accepted", True) for cid in ids]
    assert post_batch(stack, ids, "return-file-1-again") == [(f"pay-{cid}", "duplicate", False) for cid in ids]
    effects = settle(stack, ids)
    assert {e.attempts for e in effects} == {1}
    assert Counter(r.webhook_id for r in receiver.accepted("/")) == Counter(
        {f"effect_{e.id}": 1 for e in effects if e.name in OUTBOUND}
    )
    applied_once(receiver, ids)
