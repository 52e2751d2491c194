"""A message of many restorations (a batch of payments): its webhook calls go out in rounds made at
once, each effect keeping its own outcome, attempts, retry and webhook-id; a worker killed in the
middle of a round loses nothing and settles no effect twice. Real receivers on loopback, the
workers' own Deliver (workers.connectors.outbound), SQLite and PostgreSQL."""

import os
import signal
import subprocess
import threading
from collections import Counter

from sqlalchemy import select, update

from tests.conftest import cpf
from tests.pipeline import BILLING_SECRET, PROVISIONING_SECRET, WebhookReceiver
from tests.support import pid_with_connection_from, wait_for
from workers.connectors.outbound import Outbound
from workflow.db.models import OutboxEffect
from workflow.db.types import utcnow
from workflow.domain.customer_machine import TransitionRequest
from workflow.domain.vocabulary import ActivationReason, CustomerEvent, InactivationReason, Role, Source
from workflow.settings import Settings
from workflow.usecases import customer_services, customers, effect_bus, effects, transitions

ROUND = 4  # ATIVA_WEBHOOK_CONCURRENCY of these tests
PAYERS = 6  # 12 calls after the payments: three rounds
CALLS = ("notify_billing", "provision_restore")


def _settings(receiver: WebhookReceiver) -> Settings:
    return Settings(
        billing_webhook_url=f"{receiver.url}/billing",
        billing_webhook_secret=BILLING_SECRET,
        provisioning_webhook_url=f"{receiver.url}/provisioning",
        provisioning_webhook_secret=PROVISIONING_SECRET,
        webhook_concurrency=ROUND,
        effect_retry_schedule="0,5s,5s",
    )


def _inactive_customers(db, count: int) -> list[int]:
    """Customers with one service each, inactivated (at their request: no invoices needed); their
    effects pending."""
    actor = transitions.Actor("t", Role.OPERATOR)
    request = TransitionRequest(InactivationReason.CUSTOMER_REQUEST.value, None, actor_role=Role.OPERATOR)
    ids = []
    for n in range(count):
        with db.write() as session:
            cid = customers.create_customer(session, customers.CustomerDraft(f"C{n}", cpf(n))).id
        with db.write() as session:
            customer_services.add_service(session, cid, "Fibra 500", f"s{n}")
        ids.append(cid)
    with db.write() as session:
        for cid in ids:
            transitions.transition_customer(session, cid, CustomerEvent.INACTIVATE, request, actor, Source.API)
    return ids


def _pay_all(db, customer_ids: list[int]) -> list[int]:
    """As a batch of payments does: every customer activated in one transaction; its effects' ids."""
    actor = transitions.Actor("t", Role.OPERATOR)
    request = TransitionRequest(ActivationReason.CUSTOMER_RETURN.value, None, actor_role=Role.OPERATOR)
    with db.write() as session:
        made = [
            transitions.transition_customer(session, cid, CustomerEvent.ACTIVATE, request, actor, Source.API)
            for cid in customer_ids
        ]
        return [e.id for outcome in made for e in outcome.effects]


def _rows(db) -> dict[int, OutboxEffect]:
    with db.read() as session:
        return {e.id: e for e in session.scalars(select(OutboxEffect))}


def _pending(db) -> list[int]:
    return sorted(i for i, e in _rows(db).items() if e.state == "pending")


class _InFlight:
    """Counts the calls the receiver holds at once. The first ones wait until ROUND are in (or 5 s
    pass: only so that a failing test does not hang), so calls made at once are seen together."""

    def __init__(self) -> None:
        self.now = self.peak = 0
        self.lock = threading.Lock()
        self.full = threading.Event()

    def __enter__(self) -> "_InFlight":
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            if self.now >= ROUND:
                self.full.set()
        self.full.wait(5)
        return self

    def __exit__(self, *exc) -> None:
        with self.lock:
            self.now -= 1


def test_a_message_of_many_restorations_makes_its_calls_at_once_each_effect_its_own(db, receiver, monkeypatch):
    monkeypatch.setattr(effect_bus, "_publisher", None)
    settings = _settings(receiver)
    payers = _inactive_customers(db, PAYERS)
    effects.process_effects(db, _pending(db), settings, Outbound(settings), lambda i, s: None)
    assert _pending(db) == []  # suspended, provisioning and billing told
    with receiver.lock:
        receiver.received.clear()

    ids = _pay_all(db, payers)
    rows = _rows(db)
    failing = next(i for i in ids if rows[i].name == "notify_billing" and rows[i].customer_id == payers[3])
    in_flight = _InFlight()

    def answer(path: str, webhook_id: str, seen: int) -> int:
        with in_flight:
            return 503 if webhook_id == f"effect_{failing}" and seen == 1 else 200

    receiver.behaviour_by_id = answer
    retries: list[int] = []
    results = effects.process_effects(db, ids, settings, Outbound(settings), lambda i, s: retries.append(i))

    rows = _rows(db)
    by_name = Counter((rows[r.effect_id].name, r.state) for r in results)
    assert by_name == {
        ("restore_services", "done"): PAYERS,
        ("resume_invoicing", "done"): PAYERS,
        ("provision_restore", "done"): PAYERS,
        ("notify_billing", "done"): PAYERS - 1,
        ("notify_billing", "pending"): 1,
    }
    assert in_flight.peak >= ROUND  # a round's calls were held by the receiver together
    # The failure is that effect's alone: its attempt, its error, its retry.
    assert retries == [failing]
    assert (rows[failing].state, rows[failing].attempts) == ("pending", 1)
    assert "HTTP 503" in rows[failing].last_error and rows[failing].next_attempt_at > utcnow()
    calls = {i for i, e in rows.items() if e.name in CALLS and e.created_at >= rows[ids[0]].created_at}
    assert len(calls) == 2 * PAYERS
    assert all((rows[i].state, rows[i].attempts) == ("done", 1) for i in calls - {failing})
    assert Counter(r.webhook_id for r in receiver.received) == {f"effect_{i}": 1 for i in calls}
    assert all(r.verified for r in receiver.received)

    # Its retry comes due: the same webhook-id again, the others not called again.
    with db.write() as session:
        session.execute(update(OutboxEffect).where(OutboxEffect.id == failing).values(next_attempt_at=utcnow()))
    again = effects.process_effects(db, [failing], settings, Outbound(settings), lambda i, s: None)
    assert [r.state for r in again] == ["done"]
    assert _rows(db)[failing].attempts == 2
    sent = Counter(r.webhook_id for r in receiver.received)
    assert sent == {f"effect_{i}": 2 if i == failing else 1 for i in calls}
    assert [r.answer for r in receiver.received if r.webhook_id == f"effect_{failing}"] == [503, 200]


def test_a_worker_killed_in_the_middle_of_a_round_loses_nothing_and_redoes_one_round_at_most(
    stack_factory, receiver, monkeypatch
):
    monkeypatch.setattr(effect_bus, "_publisher", None)  # the relay publishes them: one message
    stack = stack_factory(webhook_concurrency=str(ROUND), effect_claim_seconds="300", webhook_timeout_seconds="5")
    payers = _inactive_customers(stack.db, PAYERS)
    worker = stack.start_worker()
    wait_for(lambda: not _pending(stack.db), timeout=60, what="the suspensions")
    with receiver.lock:
        receiver.received.clear()
    hung: list[str] = []

    def hang_one_billing_call(path: str, webhook_id: str, seen: int) -> int | str:
        if path.startswith("/billing") and not hung:
            hung.append(webhook_id)
            return "hang"
        return 200

    receiver.behaviour_by_id = hang_one_billing_call
    ids = _pay_all(stack.db, payers)
    assert receiver.hanging.wait(30), "the billing call never started"
    children = subprocess.run(["pgrep", "-P", str(worker.popen.pid)], capture_output=True, text=True)
    busy = pid_with_connection_from(receiver.hanging_client_port, [int(p) for p in children.stdout.split()])
    assert busy, "no pool process holds the billing call"
    os.kill(busy, signal.SIGKILL)  # mid-round: calls made, none of the round recorded
    receiver.release.set()

    wait_for(lambda: not _pending(stack.db), timeout=90, what="every effect after the pool process died")
    rows = _rows(stack.db)
    mine = {i: e for i, e in rows.items() if e.created_at >= rows[ids[0]].created_at}
    assert Counter(e.name for e in mine.values()) == {
        "restore_services": PAYERS,
        "resume_invoicing": PAYERS,
        "notify_billing": PAYERS,
        "provision_restore": PAYERS,
    }
    assert {e.state for e in mine.values()} == {"done"}
    assert all(e.attempts <= 2 for e in mine.values())
    calls = {i for i, e in mine.items() if e.name in CALLS}
    sent = Counter(r.webhook_id for r in receiver.received)
    assert set(sent) == {f"effect_{i}" for i in calls}  # every call made, under its own id only
    again = [webhook_id for webhook_id, n in sent.items() if n > 1]
    assert all(n <= 2 for n in sent.values())
    assert hung[0] in again and len(again) <= ROUND  # the cut round at most, with the same ids
    assert all(r.verified for r in receiver.received)


def test_a_transaction_of_many_transitions_publishes_each_ones_effects_as_a_group(db, monkeypatch):
    published: list[list[list[int]]] = []
    monkeypatch.setattr(effect_bus, "_publisher", published.append)
    payers = _inactive_customers(db, 3)
    published.clear()

    ids = _pay_all(db, payers)

    assert published == [[ids[0:3], ids[3:6], ids[6:9]]]  # one commit; a group per transition
    rows = _rows(db)
    assert [{rows[i].customer_id for i in ids[n : n + 3]} for n in (0, 3, 6)] == [{cid} for cid in payers]
