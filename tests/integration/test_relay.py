"""The relay on SQLite and PostgreSQL: what it republishes, and how it backs off."""

from datetime import timedelta

from sqlalchemy import update

from tests.conftest import VALID_CPFS
from workflow.db.models import OutboxEffect
from workflow.db.types import utcnow
from workflow.domain.customer_machine import TransitionRequest
from workflow.domain.vocabulary import CustomerEvent, Role, Source
from workflow.services import customers, effects, transitions
from workflow.settings import Settings

SETTINGS = Settings(relay_grace_seconds=5)


def _pending_effects(db) -> list[int]:
    actor = transitions.Actor("t", Role.OPERATOR)
    with db.write() as session:
        cid = customers.create_customer(session, customers.CustomerDraft("R", VALID_CPFS[0])).id
    with db.write() as session:
        outcome = transitions.transition_customer(
            session, cid, CustomerEvent.INACTIVATE,
            TransitionRequest("customer_request", None, False, Role.OPERATOR), actor, Source.API)
        return [e.id for e in outcome.effects]


def _age(db, ids, seconds, **values):
    with db.write() as session:
        session.execute(update(OutboxEffect).where(OutboxEffect.id.in_(ids)).values(
            next_attempt_at=utcnow() - timedelta(seconds=seconds), **values))


def test_relay_takes_only_due_unclaimed_effects_and_backs_off(db):
    ids = _pending_effects(db)
    assert effects.relay_pending(db, SETTINGS) == []  # fresh: the fast path has them
    _age(db, ids, 6)
    _age(db, ids[:1], 6, claimed_until=utcnow() + timedelta(seconds=30))  # running elsewhere
    assert effects.relay_pending(db, SETTINGS) == ids[1:]
    assert effects.relay_pending(db, SETTINGS) == []  # just relayed: waits 2 × grace now
    with db.write() as session:
        relay_after = {e.id: e.relay_after for e in session.query(OutboxEffect).filter(OutboxEffect.id.in_(ids[1:]))}
        session.execute(update(OutboxEffect).where(OutboxEffect.id.in_(ids[1:])).values(
            relay_after=utcnow() - timedelta(seconds=1)))
    assert all(9 < (after - utcnow()).total_seconds() + 0.5 <= 10.5 for after in relay_after.values())
    assert effects.relay_pending(db, SETTINGS) == ids[1:]
    with db.read() as session:
        rows = session.query(OutboxEffect).filter(OutboxEffect.id.in_(ids[1:])).all()
        assert {r.relay_count for r in rows} == {2}
        waits = {round((r.relay_after - r.published_at).total_seconds()) for r in rows}
        assert waits == {20}  # 5 s × 2²


def test_settled_effects_are_never_relayed(db):
    ids = _pending_effects(db)
    _age(db, ids, 60, state="done")
    assert effects.relay_pending(db, SETTINGS) == []
