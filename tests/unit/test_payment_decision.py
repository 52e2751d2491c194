"""A batch of payments asks the machine once per prior lifecycle state (billing_batch._reactivate):
that holds only while the decision does not depend on what differs between the batch's customers."""

from datetime import UTC, date, datetime, timedelta

from workflow.domain.customer_machine import LifecycleState
from workflow.domain.vocabulary import CustomerEvent
from workflow.usecases.billing import payment_reactivation
from workflow.usecases.transitions import decide, guard_facts


def test_a_payments_decision_is_the_same_for_every_customer_and_event_in_one_state():
    now, today = datetime(2026, 11, 30, 12, tzinfo=UTC), date(2026, 11, 30)
    states = [
        LifecycleState("inactive", "delinquency"),
        LifecycleState("inactive", "delinquency", trust_unlocks_used=1),
        LifecycleState("inactive", "delinquency", return_on=today + timedelta(days=3)),
    ]
    for state in states:
        decisions = [
            decide(
                customer_id, state, CustomerEvent.ACTIVATE, payment_reactivation(event_id), guard_facts(0, now, today)
            )
            for customer_id, event_id in ((1, "pay-1"), (2**31 - 1, "outro-evento-com-nota-longa" * 9), (7, "x"))
        ]
        assert decisions[0].state.status == "active"
        assert decisions[1:] == decisions[:-1], state
