"""The reconciler and the local effects read one table (domain/status_alignment.py): what it
counts as drift is exactly what the effects it queues repair, in both directions, on SQLite and
PostgreSQL. (tests/integration/test_effects_pipeline.py runs the inactive case through a worker.)"""

from sqlalchemy import select, update

from tests.conftest import VALID_CPFS
from workflow.db.models import Customer, OutboxEffect, Service
from workflow.domain.customer_machine import TransitionRequest
from workflow.domain.vocabulary import CustomerEvent, Role, ServiceEvent, Source
from workflow.settings import Settings
from workflow.usecases import customer_services, customers, effects, transitions

SETTINGS = Settings()


def _customer(db, n: int, services: int) -> tuple[int, list[int]]:
    with db.write() as session:
        cid = customers.create_customer(session, customers.CustomerDraft(f"D{n}", VALID_CPFS[n])).id
    with db.write() as session:
        sids = [customer_services.add_service(session, cid, f"S{i}", f"d{n}-{i}").id for i in range(services)]
    return cid, sids


def _move(db, cid: int, event: CustomerEvent, reason: str) -> None:
    with db.write() as session:
        outcome = transitions.transition_customer(
            session,
            cid,
            event,
            TransitionRequest(reason, None, actor_role=Role.OPERATOR),
            transitions.Actor("t", Role.OPERATOR),
            Source.API,
        )
        ids = [e.id for e in outcome.effects]
    _run(db, ids)


def _run(db, ids: list[int]) -> list[str]:
    return [effects.carry_out_effect(db, i, SETTINGS, lambda d: None).state for i in ids]


def _names(db, ids: list[int]) -> list[str]:
    with db.read() as session:
        return sorted(session.scalars(select(OutboxEffect.name).where(OutboxEffect.id.in_(ids))))


def _state(db, cid: int) -> tuple[bool, dict[int, tuple[str, str | None]]]:
    with db.read() as session:
        services = {
            s.id: (s.status, s.suspension_cause)
            for s in session.scalars(select(Service).where(Service.customer_id == cid))
        }
        return session.get(Customer, cid).invoicing_enabled, services


def test_an_active_customer_left_suspended_gets_back_only_what_its_inactivation_took(db):
    cid, (held, manual) = _customer(db, 0, services=2)
    with db.write() as session:
        customer_services.change_service(session, manual, ServiceEvent.SUSPEND, "por pedido")
    _move(db, cid, CustomerEvent.INACTIVATE, "customer_request")
    _move(db, cid, CustomerEvent.ACTIVATE, "customer_return")
    # Behind Ativa's back: the activation's effects undone by hand.
    with db.write() as session:
        session.execute(
            update(Service).where(Service.id == held).values(status="suspended", suspension_cause="customer_inactive")
        )
        session.execute(update(Customer).where(Customer.id == cid).values(invoicing_enabled=False))

    created = effects.reconcile(db)

    assert _names(db, created) == ["restore_services", "resume_invoicing"]
    assert _run(db, created) == ["done", "done"]
    enabled, services = _state(db, cid)
    assert enabled is True
    assert services[held] == ("active", None)
    assert services[manual] == ("suspended", "manual")  # an operator's suspension is not drift
    assert effects.reconcile(db) == []


def test_an_inactive_customer_left_active_is_cut_again_and_a_converged_one_is_left_alone(db):
    cid, (sid,) = _customer(db, 0, services=1)
    calm, _ = _customer(db, 1, services=1)
    _move(db, cid, CustomerEvent.INACTIVATE, "customer_request")
    _move(db, calm, CustomerEvent.INACTIVATE, "customer_request")
    with db.write() as session:  # only the invoicing flipped back this time
        session.execute(update(Customer).where(Customer.id == cid).values(invoicing_enabled=True))

    created = effects.reconcile(db)

    assert _names(db, created) == ["pause_invoicing"]
    with db.read() as session:
        assert {e.customer_id for e in session.scalars(select(OutboxEffect).where(OutboxEffect.id.in_(created)))} == {
            cid
        }
    assert effects.reconcile(db) == []  # its repair is pending: nothing more is queued
    assert _run(db, created) == ["done"]
    assert _state(db, cid) == (False, {sid: ("suspended", "customer_inactive")})
    assert effects.reconcile(db) == []
