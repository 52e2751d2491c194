"""A transition's outbox rows, written by one multi-row INSERT: each row as new_effect describes it,
and each effect in the outcome carrying the id of its own row (SQLite and PostgreSQL)."""

from sqlalchemy import select

from tests.conftest import VALID_CPFS
from workflow.db.models import OutboxEffect
from workflow.db.types import utcnow
from workflow.domain.customer_machine import EFFECTS, TransitionRequest
from workflow.domain.vocabulary import CustomerEvent, Effect, Role, Source
from workflow.usecases import customers, transitions

OPERATOR = transitions.Actor("token:ops", Role.OPERATOR)
COLUMNS = [column.key for column in OutboxEffect.__table__.columns]


def _rows(session, transition_id) -> dict[int, dict]:
    found = session.scalars(select(OutboxEffect).where(OutboxEffect.transition_id == transition_id))
    return {row.id: {key: getattr(row, key) for key in COLUMNS} for row in found}


def test_each_effect_of_the_outcome_is_its_own_row_as_new_effect_describes_it(db):
    with db.write() as session:
        cid = customers.create_customer(session, customers.CustomerDraft("Cliente", VALID_CPFS[0])).id
    for event, reason in ((CustomerEvent.INACTIVATE, "customer_request"), (CustomerEvent.ACTIVATE, "manual")):
        with db.write() as session:
            outcome = transitions.transition_customer(
                session, cid, event, TransitionRequest(reason, None, actor_role=Role.OPERATOR), OPERATOR, Source.API
            )
        expected = {
            effect.id: {
                "claimed_by": None,
                "unsettled_attempt": None,
                "id": effect.id,
                **transitions.new_effect(
                    Effect(effect.name), cid, outcome.transition.created_at, transition_id=outcome.transition.id
                ),
            }
            for effect in outcome.effects
        }
        with db.read() as session:
            assert _rows(session, outcome.transition.id) == expected
        assert [effect.name for effect in outcome.effects] == [e.value for e in EFFECTS[event]]


def test_the_same_effect_twice_gets_two_rows_with_ids_in_row_order(db):
    with db.write() as session:
        cid = customers.create_customer(session, customers.CustomerDraft("Cliente", VALID_CPFS[1])).id
    with db.write() as session:
        outcome = transitions.transition_customer(
            session,
            cid,
            CustomerEvent.INACTIVATE,
            TransitionRequest("customer_request", None, actor_role=Role.OPERATOR),
            OPERATOR,
            Source.API,
        )
        effects = transitions.queue_transition_effects(
            session.connection(),
            outcome.transition.id,
            cid,
            utcnow(),
            (Effect.NOTIFY_BILLING, Effect.NOTIFY_BILLING),
        )
    ids = [effect["id"] for effect in effects]
    assert len(set(ids)) == 2 and ids == sorted(ids)
    with db.read() as session:
        rows = _rows(session, outcome.transition.id)
    assert [rows[i]["name"] for i in ids] == ["notify_billing", "notify_billing"]
    assert len(rows) == 5
