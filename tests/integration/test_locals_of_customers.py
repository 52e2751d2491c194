"""The local effects of many customers in one transaction (a sweep's message, a batch of payments)
record what running them one at a time records, their outcomes settled together at the end; one
effect overtaken by another attempt rolls the whole transaction back. SQLite and PostgreSQL."""

from sqlalchemy import select, update

from tests.conftest import cpf
from workflow.db.models import Customer, OutboxEffect, Service
from workflow.domain.customer_machine import TransitionRequest
from workflow.domain.vocabulary import CustomerEvent, Role, Source
from workflow.settings import Settings
from workflow.usecases import customer_services, customers, effects, transitions
from workflow.usecases.effects.local import run_local, run_locals_of_customers

SETTINGS = Settings(provisioning_webhook_url="http://127.0.0.1:9/provisioning")
LOCAL = ("suspend_services", "pause_invoicing")


def _inactivated(db, first: int, count: int) -> dict[int, list[int]]:
    """Customers with two services each, inactivated: their local effects' ids by customer."""
    actor = transitions.Actor("t", Role.OPERATOR)
    request = TransitionRequest("customer_request", None, actor_role=Role.OPERATOR)
    found: dict[int, list[int]] = {}
    for n in range(first, first + count):
        with db.write() as session:
            cid = customers.create_customer(session, customers.CustomerDraft(f"L{n}", cpf(n))).id
        with db.write() as session:
            customer_services.add_service(session, cid, "Fibra", f"l{n}a")
            customer_services.add_service(session, cid, "TV", f"l{n}b")
        with db.write() as session:
            outcome = transitions.transition_customer(
                session, cid, CustomerEvent.INACTIVATE, request, actor, Source.API
            )
            found[cid] = [e.id for e in outcome.effects if e.name in LOCAL]
    return found


def _claims(db, by_customer: dict[int, list[int]]) -> list[list[effects.Claim]]:
    claimed = effects.claim_effects(db, [i for ids in by_customer.values() for i in ids], SETTINGS)
    assert all(isinstance(c, effects.Claim) for c in claimed)
    return [[c for c in claimed if c.customer_id == cid] for cid in by_customer]  # type: ignore[union-attr]


def _world(db, customer_ids: list[int]) -> list[tuple]:
    """What the effects wrote, customer by customer, in a form two customers can be compared by."""
    with db.read() as session:
        rows = []
        for cid in customer_ids:
            fx = session.scalars(select(OutboxEffect).where(OutboxEffect.customer_id == cid).order_by(OutboxEffect.id))
            services = session.scalars(select(Service).where(Service.customer_id == cid).order_by(Service.id))
            rows.append(
                (
                    [(e.name, e.state, e.attempts, e.note) for e in fx],
                    [(s.status, s.suspension_cause) for s in services],
                    session.get(Customer, cid).invoicing_enabled,
                )
            )
        return rows


def test_many_customers_in_one_transaction_record_what_one_at_a_time_records(db):
    together = _inactivated(db, 0, 3)
    alone = _inactivated(db, 3, 3)

    results = run_locals_of_customers(db, _claims(db, together), SETTINGS)
    one_by_one = [run_local(db, claim, SETTINGS) for group in _claims(db, alone) for claim in group]

    assert results is not None
    assert sorted((r.state, len(r.follow_ups)) for r in results) == sorted(
        (r.state, len(r.follow_ups)) for r in one_by_one
    )
    assert {r.state for r in results} == {"done"}
    assert _world(db, list(together)) == _world(db, list(alone))
    assert _world(db, list(together))[0][1] == [("suspended", "customer_inactive")] * 2


def test_one_effect_overtaken_rolls_back_every_customer_of_the_transaction(db):
    by_customer = _inactivated(db, 0, 3)
    groups = _claims(db, by_customer)
    overtaken = groups[1][0]
    with db.write() as session:  # its claim lapsed and another attempt took it over
        session.execute(
            update(OutboxEffect)
            .where(OutboxEffect.id == overtaken.effect_id)
            .values(attempts=OutboxEffect.attempts + 1)
        )
    before = _world(db, list(by_customer))

    assert run_locals_of_customers(db, groups, SETTINGS) is None
    assert _world(db, list(by_customer)) == before  # nothing written, for anyone

    # One at a time (what the pipeline does next): the overtaken effect alone changes nothing.
    states = {c.effect_id: run_local(db, c, SETTINGS).state for group in groups for c in group}
    assert states[overtaken.effect_id] == effects.BUSY
    assert [s for i, s in states.items() if i != overtaken.effect_id] == ["done"] * 5
