"""effects.process_effects, the one call a worker makes per message, on SQLite and PostgreSQL:
the whole effect protocol (claim, carry out, settle, retry) behind it; the worker only hands it
the ids and a way to schedule a short retry."""

import logging
from datetime import timedelta

from sqlalchemy import update

from tests.conftest import VALID_CPFS
from workflow.db.models import Customer, OutboxEffect, Service
from workflow.db.types import utcnow
from workflow.domain.customer_machine import TransitionRequest
from workflow.domain.vocabulary import CustomerEvent, Role, Source
from workflow.settings import Settings
from workflow.usecases import customer_services, customers, effects, transitions

SETTINGS = Settings(
    billing_webhook_url="http://127.0.0.1:9/billing",
    provisioning_webhook_url="http://127.0.0.1:9/provisioning",
    effect_retry_schedule="0,5s,5s",
)


def _inactivated(db, n: int = 0) -> dict[str, int]:
    """A customer with two services, just inactivated: its effects' ids by name."""
    with db.write() as session:
        cid = customers.create_customer(session, customers.CustomerDraft(f"P{n}", VALID_CPFS[n])).id
    with db.write() as session:
        customer_services.add_service(session, cid, "Fibra 500", f"s{n}a")
        customer_services.add_service(session, cid, "TV", f"s{n}b")
    with db.write() as session:
        outcome = transitions.transition_customer(
            session,
            cid,
            CustomerEvent.INACTIVATE,
            TransitionRequest("customer_request", None, actor_role=Role.OPERATOR),
            transitions.Actor("t", Role.OPERATOR),
            Source.API,
        )
        return {e.name: e.id for e in outcome.effects} | {"customer": cid}


def _rows(db, customer_id: int) -> dict[int, OutboxEffect]:
    with db.read() as session:
        return {e.id: e for e in session.query(OutboxEffect).filter(OutboxEffect.customer_id == customer_id)}


class Billing:
    """The billing and provisioning systems as the worker's `deliver` sees them."""

    def __init__(self, failure: Exception | None = None):
        self.failure, self.targets = failure, []

    def __call__(self, delivery: effects.Delivery) -> None:
        self.targets.append(delivery.target)
        if delivery.target == "billing" and self.failure is not None:
            raise self.failure


def test_a_message_is_carried_out_whole_provisioning_first_and_a_short_retry_goes_to_the_port(db):
    fx = _inactivated(db)
    retries: list[tuple[int, float]] = []
    deliver = Billing(effects.DeliveryFailed("HTTP 503 from billing"))
    ids = [fx["suspend_services"], fx["pause_invoicing"], fx["notify_billing"]]

    results = effects.process_effects(db, ids, SETTINGS, deliver, lambda i, s: retries.append((i, s)))

    states = {r.effect_id: r.state for r in results}
    assert [states[i] for i in ids] == ["done", "done", "pending"]
    # The two provisioning calls the suspension made ran in the same message, before billing's.
    assert deliver.targets == ["provisioning", "provisioning", "billing"]
    provisioning = [r for r in results if r.effect_id not in ids]
    assert [r.state for r in provisioning] == ["done", "done"]
    [(retried, countdown)] = retries
    assert retried == fx["notify_billing"] and 4 <= countdown <= 6
    rows = _rows(db, fx["customer"])
    assert rows[fx["notify_billing"]].next_attempt_at > utcnow()
    with db.read() as session:
        assert session.get(Customer, fx["customer"]).invoicing_enabled is False
        assert {s.status for s in session.query(Service).filter(Service.customer_id == fx["customer"])} == {"suspended"}


def test_a_retry_the_broker_cannot_take_is_one_log_line_and_the_relay_publishes_it(db, caplog):
    fx = _inactivated(db)

    def broker_down(effect_id: int, countdown: float) -> None:
        raise ConnectionRefusedError("[Errno 111] Connection refused")

    with caplog.at_level(logging.INFO, logger="workflow.usecases.effects"):
        [result] = effects.process_effects(
            db, [fx["notify_billing"]], SETTINGS, Billing(effects.DeliveryFailed("HTTP 503")), broker_down
        )
    assert result.state == "pending"
    [line] = [r for r in caplog.records if "retry not scheduled" in r.getMessage()]
    assert line.levelno == logging.WARNING and line.exc_info is None
    assert "ConnectionRefusedError" in line.getMessage()
    with db.write() as session:  # its next attempt comes due: the relay publishes it
        session.execute(
            update(OutboxEffect)
            .where(OutboxEffect.id == fx["notify_billing"])
            .values(next_attempt_at=utcnow() - timedelta(seconds=SETTINGS.relay_grace_seconds + 1))
        )
    assert effects.relay_pending(db, SETTINGS) == [fx["notify_billing"]]


def test_an_effect_that_raises_is_recorded_and_holds_back_none_of_the_others(db):
    fx = _inactivated(db)
    ids = [fx["suspend_services"], fx["pause_invoicing"], fx["notify_billing"]]

    results = effects.process_effects(
        db, ids, SETTINGS, Billing(RuntimeError("billing adapter bug")), lambda i, s: None
    )

    states = {r.effect_id: r.state for r in results}
    assert [states[i] for i in ids] == ["done", "done", effects.ERROR]
    failed = _rows(db, fx["customer"])[fx["notify_billing"]]
    assert failed.state == "pending"  # its claim lapses; the relay runs it again
    assert failed.last_error == "RuntimeError: billing adapter bug"


def test_a_duplicate_message_changes_nothing(db):
    fx = _inactivated(db)
    ids = [fx["suspend_services"], fx["pause_invoicing"], fx["notify_billing"]]
    effects.process_effects(db, ids, SETTINGS, Billing(), lambda i, s: None)
    before = {i: (e.state, e.attempts, e.note) for i, e in _rows(db, fx["customer"]).items()}

    again = Billing()
    results = effects.process_effects(db, [*ids, 10**9], SETTINGS, again, lambda i, s: None)

    assert [r.state for r in results] == ["done", "done", "done", effects.GONE]
    assert again.targets == []
    assert {i: (e.state, e.attempts, e.note) for i, e in _rows(db, fx["customer"]).items()} == before
