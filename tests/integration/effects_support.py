"""What the tests of the effects pipeline share: customers whose transitions left pending effects."""

from tests.conftest import VALID_CPFS
from workflow.domain.customer_machine import TransitionRequest
from workflow.domain.vocabulary import CustomerEvent, Role, Source
from workflow.usecases import customers, transitions


def pending_effects(db) -> list[int]:
    """A new customer inactivated at its request: the ids of the pending effects it left."""
    actor = transitions.Actor("t", Role.OPERATOR)
    with db.write() as session:
        cid = customers.create_customer(session, customers.CustomerDraft("R", VALID_CPFS[0])).id
    with db.write() as session:
        outcome = transitions.transition_customer(
            session,
            cid,
            CustomerEvent.INACTIVATE,
            TransitionRequest("customer_request", None, actor_role=Role.OPERATOR),
            actor,
            Source.API,
        )
        return [e.id for e in outcome.effects]
