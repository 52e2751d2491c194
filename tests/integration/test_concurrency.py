"""Many writers on one customer: transitions serialise on the row lock, history stays coherent."""

import threading

import pytest
from sqlalchemy import select

from tests.conftest import VALID_CPFS
from workflow.db.engine import Database
from workflow.db.models import Customer, OutboxEffect, StatusChange
from workflow.domain.customer_machine import EFFECTS, TransitionRequest
from workflow.domain.errors import TransitionNotAllowed
from workflow.domain.vocabulary import CustomerEvent, Role, Source
from workflow.usecases import customers, transitions

ACTOR = transitions.Actor("token:hammer", Role.OPERATOR)
REASONS = {CustomerEvent.INACTIVATE: "customer_request", CustomerEvent.ACTIVATE: "manual"}


def hammer(database: Database, threads: int, attempts: int) -> tuple[int, int, list, int]:
    with database.write() as session:
        cid = customers.create_customer(session, customers.CustomerDraft("Alvo", VALID_CPFS[0])).id
    start = threading.Barrier(threads)
    lock = threading.Lock()
    done, refused, crashes = [0], [0], []

    def worker():
        try:
            start.wait()
            for _ in range(attempts):
                with database.read() as session:
                    status = session.get(Customer, cid).status
                # Ask for the opposite of what we saw; by the time we hold the lock it may be stale.
                event = CustomerEvent.INACTIVATE if status == "active" else CustomerEvent.ACTIVATE
                try:
                    with database.write() as session:
                        transitions.transition_customer(
                            session,
                            cid,
                            event,
                            TransitionRequest(REASONS[event], None, actor_role=ACTOR.role),
                            ACTOR,
                            Source.API,
                        )
                    with lock:
                        done[0] += 1
                except TransitionNotAllowed:
                    with lock:
                        refused[0] += 1
        except BaseException as error:  # noqa: BLE001 - reported by the test
            crashes.append(error)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in pool), "a worker hung"
    return cid, done[0], crashes, refused[0]


def assert_coherent_history(database: Database, cid: int, transitions_done: int) -> None:
    with database.read() as session:
        history = session.scalars(
            select(StatusChange).where(StatusChange.customer_id == cid).order_by(StatusChange.id)
        ).all()
        effects = session.scalars(select(OutboxEffect).order_by(OutboxEffect.id)).all()
        customer = session.get(Customer, cid)

    assert len(history) == transitions_done > 1
    expected = "active"
    for row in history:  # strictly alternating, each starting where the previous ended
        assert row.from_status == expected
        assert row.to_status != row.from_status
        expected = row.to_status
    assert customer.status == expected
    assert [row.customer_version for row in history] == list(range(2, transitions_done + 2))
    assert customer.version == transitions_done + 1

    by_transition: dict[int, list[str]] = {}
    for effect in effects:
        by_transition.setdefault(effect.transition_id, []).append(effect.name)
    assert set(by_transition) == {row.id for row in history}
    for row in history:
        assert by_transition[row.id] == [e.value for e in EFFECTS[CustomerEvent(row.event)]]


@pytest.mark.postgres
def test_fifty_threads_on_one_customer_postgres(postgres_url, pg_db):
    database = Database(postgres_url, pool_size=50, max_overflow=5)
    try:
        cid, done, crashes, refused = hammer(database, threads=50, attempts=6)
        assert crashes == []
        assert done + refused == 300
        assert_coherent_history(database, cid, done)
    finally:
        database.dispose()


def test_sixteen_threads_on_one_customer_sqlite(sqlite_db):
    cid, done, crashes, refused = hammer(sqlite_db, threads=16, attempts=5)
    assert crashes == []
    assert done + refused == 80
    assert_coherent_history(sqlite_db, cid, done)
