"""decide() lets one machine per thread serve every decision: each decision must be what a machine
built for it alone decides, whatever the decisions before it on the same thread were (allowed,
refused, forced, with other fields), and a decision already returned never changes afterwards."""

import threading
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from workflow.domain.customer_machine import (
    KEPT_STATUS_REASONS,
    CustomerFacts,
    CustomerLifecycle,
    LifecycleState,
    TransitionRequest,
    TrustUnlockLimits,
)
from workflow.domain.errors import GuardFailed, TransitionNotAllowed, UnknownStoredStatus
from workflow.domain.vocabulary import CustomerEvent, Role
from workflow.usecases import transitions

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
TODAY = date(2026, 12, 1)
FACTS = CustomerFacts(0, now=NOW, today=TODAY, trust=TrustUnlockLimits(3, 1), default_hold_until=date(2026, 12, 8))
OWING = replace(FACTS, overdue_invoices=2)
DELINQUENT = LifecycleState("inactive", "delinquency", trust_unlocks_used=0, forced_hold_until=None)

# (before, event, request, facts): a sequence whose every step leaves the machine in a state the
# next step must not inherit (a hold, forced, a trust unlock's fields, a return date).
STEPS = [
    (
        DELINQUENT,
        CustomerEvent.ACTIVATE,
        TransitionRequest("manual", "acordo", force=True, actor_role=Role.OPERATOR),
        OWING,
    ),
    (
        LifecycleState("active", None, trust_unlocks_used=1),
        CustomerEvent.INACTIVATE,
        TransitionRequest("customer_request", None, force=False, actor_role=Role.OPERATOR, until=date(2026, 12, 20)),
        FACTS,
    ),
    (
        DELINQUENT,
        CustomerEvent.ACTIVATE,
        TransitionRequest("trust_unlock", None, force=False, actor_role=Role.OPERATOR, days=2),
        OWING,
    ),
    (
        LifecycleState("inactive", "customer_request", return_on=date(2026, 12, 9)),
        CustomerEvent.ACTIVATE,
        TransitionRequest("manual", None, force=False, actor_role=Role.OPERATOR),
        FACTS,
    ),
    (
        LifecycleState("active", None),
        CustomerEvent.INACTIVATE,
        TransitionRequest("delinquency", None, force=False, actor_role=Role.ADMIN, automatic=True),
        OWING,
    ),
    # the changes that keep the status: their fields must not leak into the next decision either
    (
        LifecycleState("active", None, trust_unlock_until=datetime(2026, 12, 1, 11, tzinfo=UTC), trust_unlocks_used=1),
        CustomerEvent.END_TRUST_UNLOCK,
        TransitionRequest(KEPT_STATUS_REASONS[CustomerEvent.END_TRUST_UNLOCK], None, actor_role=Role.ADMIN),
        FACTS,
    ),
    (
        LifecycleState("active", None, forced_hold_until=date(2026, 12, 5)),
        CustomerEvent.END_FORCED_HOLD,
        TransitionRequest(KEPT_STATUS_REASONS[CustomerEvent.END_FORCED_HOLD], None, actor_role=Role.BILLING),
        FACTS,
    ),
    (
        LifecycleState("inactive", "customer_request", return_on=date(2026, 12, 9)),
        CustomerEvent.RESCHEDULE_RETURN,
        TransitionRequest(
            KEPT_STATUS_REASONS[CustomerEvent.RESCHEDULE_RETURN],
            None,
            actor_role=Role.OPERATOR,
            until=date(2026, 12, 30),
        ),
        FACTS,
    ),
]


def alone(before, event, request, facts) -> transitions.Decision:
    """What a machine built for this decision only decides."""
    state = replace(before)
    machine = CustomerLifecycle(state)
    machine.send(event.value, request=request, facts=facts)
    return transitions.Decision(state, machine.forced, tuple(machine.effects))


def test_each_decision_is_what_a_machine_of_its_own_decides_in_any_order():
    for order in (STEPS, STEPS[::-1], STEPS + STEPS):
        decisions = [transitions.decide(1, *step) for step in order]
        assert decisions == [alone(*step) for step in order]


def test_a_decision_returned_earlier_does_not_change_with_later_ones():
    first = transitions.decide(1, *STEPS[0])
    kept = replace(first.state)
    for step in STEPS[1:]:
        transitions.decide(1, *step)
    assert first.state == kept and first.forced
    assert first.state is not transitions.decide(1, *STEPS[0]).state


def test_refusals_leave_nothing_behind_for_the_next_decision():
    with pytest.raises(GuardFailed, match="force_not_permitted"):
        transitions.decide(
            1,
            DELINQUENT,
            CustomerEvent.ACTIVATE,
            TransitionRequest("manual", "x", force=True, actor_role=Role.VIEWER),
            OWING,
        )
    with pytest.raises(TransitionNotAllowed):
        transitions.decide(
            1,
            LifecycleState("active", None),
            CustomerEvent.ACTIVATE,
            TransitionRequest("manual", None, force=False, actor_role=Role.OPERATOR),
            FACTS,
        )
    with pytest.raises(UnknownStoredStatus):
        transitions.decide(
            1,
            LifecycleState("frozen", None),
            CustomerEvent.ACTIVATE,
            TransitionRequest("manual", None, force=False, actor_role=Role.OPERATOR),
            FACTS,
        )
    assert [transitions.decide(1, *step) for step in STEPS] == [alone(*step) for step in STEPS]


def test_the_state_given_is_never_changed():
    before = replace(DELINQUENT)
    transitions.decide(1, before, *STEPS[0][1:])
    assert before == DELINQUENT


def test_threads_decide_on_machines_of_their_own():
    results, errors = {}, []

    def work(n: int) -> None:
        try:
            results[n] = [transitions.decide(1, *step) for step in STEPS * 20]
        except BaseException as error:  # noqa: BLE001 - surfaced below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    expected = [alone(*step) for step in STEPS * 20]
    assert all(decisions == expected for decisions in results.values()) and len(results) == 4


def test_the_thread_keeps_one_machine_and_replaces_it_when_the_class_changes(monkeypatch):
    # The class resolves its callbacks once, for the model type of its first machine: start from a
    # class whose first machine decides on LifecycleState, as in the service (other tests use other models).
    monkeypatch.delattr(CustomerLifecycle, "_resolved_callbacks", raising=False)
    monkeypatch.setattr(transitions._spare, "machine", None, raising=False)
    for step in STEPS[:2]:  # the first machine resolves the callbacks, the second is bound to them
        transitions.decide(1, *step)
    kept = transitions._spare.machine
    for step in STEPS:
        transitions.decide(1, *step)
    assert transitions._spare.machine is kept  # reused: not one machine per decision
    original = CustomerLifecycle.check_activation
    monkeypatch.setattr(
        CustomerLifecycle, "check_activation", lambda self, request, facts: original(self, request, facts)
    )
    assert not kept.callbacks_current()
    assert transitions.decide(1, *STEPS[0]) == alone(*STEPS[0])
    assert transitions._spare.machine is not kept  # a machine bound to the replaced method is not reused
