"""Races the friendly checks cannot see (PostgreSQL locks): a plan deleted while a service is being
added with it, one login added twice at once. The loser gets the right refusal, never a 500 or a
wrong error, and nothing is left half-written."""

import threading

from sqlalchemy import select, text

from tests.conftest import VALID_CPFS
from tests.support import wait_for
from workflow.db.models import Plan, Service
from workflow.domain.errors import DuplicateLogin, InvalidInput
from workflow.usecases import customer_services, customers, plans


def someone_waits_for_a_lock(database) -> bool:
    with database.engine.connect() as probe:
        waiting = probe.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        )
        return waiting.scalar() > 0


def test_a_service_added_while_its_plan_is_deleted_is_refused_cleanly(pg_db):
    with pg_db.write() as session:
        customer_id = customers.create_customer(session, customers.CustomerDraft("Ana", VALID_CPFS[0])).id
        plan_id = plans.create_plan(session, "Fibra 300", 300_000, 150_000).id
    outcome: list[BaseException | None] = []

    def add() -> None:
        try:
            with pg_db.write() as session:
                access = customer_services.Access("ana.silva", "senha-do-cliente", plan_id)
                customer_services.add_service(session, customer_id, "Internet", None, access)
            outcome.append(None)
        except BaseException as error:  # noqa: BLE001 - asserted below
            outcome.append(error)

    adder = threading.Thread(target=add)
    with pg_db.write() as session:
        plans.delete_plan(session, plan_id)  # holds the plan's row lock until this commit
        adder.start()
        wait_for(lambda: someone_waits_for_a_lock(pg_db), what="the service insert waiting on the plan's lock")
    adder.join(timeout=60)
    assert not adder.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], InvalidInput), outcome
    assert f"plan {plan_id} does not exist" in outcome[0].detail
    with pg_db.read() as session:
        assert session.scalars(select(Service)).all() == []
        assert session.scalars(select(Plan)).all() == []


def test_one_login_added_twice_at_once_is_a_duplicate_login(pg_db):
    with pg_db.write() as session:
        first = customers.create_customer(session, customers.CustomerDraft("Ana", VALID_CPFS[0])).id
        second = customers.create_customer(session, customers.CustomerDraft("Bia", VALID_CPFS[1])).id
        plan_id = plans.create_plan(session, "Fibra 300", 300_000, 150_000).id
    outcome: list[BaseException | None] = []

    def add() -> None:
        try:
            with pg_db.write() as session:
                access = customer_services.Access("ANA.SILVA", "outra-senha", plan_id)
                customer_services.add_service(session, second, "Internet", None, access)
            outcome.append(None)
        except BaseException as error:  # noqa: BLE001 - asserted below
            outcome.append(error)

    adder = threading.Thread(target=add)
    with pg_db.write() as session:
        customer_services.add_service(
            session, first, "Internet", None, customer_services.Access("ana.silva", "senha-do-cliente", plan_id)
        )
        adder.start()  # its check sees no holder yet; its insert waits on the unique index
        wait_for(lambda: someone_waits_for_a_lock(pg_db), what="the second insert waiting on the login's index")
    adder.join(timeout=60)
    assert not adder.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], DuplicateLogin), outcome
    with pg_db.read() as session:
        assert session.scalars(select(Service.customer_id)).all() == [first]
