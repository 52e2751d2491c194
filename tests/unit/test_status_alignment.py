"""The one table of what each status means for services and invoicing (domain/status_alignment.py)
and the machine's EFFECTS, derived from it: each change of status queues the local effects of the
status it leads to, services first, then the billing notification; a change that keeps the status
queues nothing. The effects pipeline relies on that order (local effects of one customer run
together, then the outbound calls)."""

from workflow.domain.customer_machine import EFFECTS, KEEPS_STATUS, CustomerLifecycle
from workflow.domain.status_alignment import ALIGNMENT, LOCAL_EFFECTS, SERVES
from workflow.domain.vocabulary import CustomerEvent, CustomerStatus, Effect


def _transitions_of(event: CustomerEvent) -> list[tuple[CustomerStatus, CustomerStatus]]:
    return [
        (CustomerStatus(t.source.value), CustomerStatus(t.target.value))
        for s in CustomerLifecycle.states
        for t in s.transitions
        if event in t.events
    ]


def test_every_status_of_the_machine_has_an_alignment():
    assert {CustomerStatus(s.value) for s in CustomerLifecycle.states} == set(ALIGNMENT)


def test_every_event_has_its_effects():
    assert set(EFFECTS) == set(CustomerEvent)


def test_each_change_of_status_queues_the_local_effects_of_its_target_then_notifies_billing():
    changes = {event for event in CustomerEvent if any(a != b for a, b in _transitions_of(event))}
    assert changes == {CustomerEvent.INACTIVATE, CustomerEvent.ACTIVATE}
    for event in changes:
        ((_, target),) = _transitions_of(event)
        services, invoicing = ALIGNMENT[target].services.effect, ALIGNMENT[target].invoicing.effect
        assert EFFECTS[event] == (services, invoicing, Effect.NOTIFY_BILLING), event
        assert [e for e in EFFECTS[event] if e in LOCAL_EFFECTS] == list(ALIGNMENT[target].local_effects)
        assert all(SERVES[e] is target for e in EFFECTS[event] if e in LOCAL_EFFECTS)


def test_a_change_that_keeps_the_status_queues_nothing_but_a_ladder_steps_notice():
    assert {
        CustomerEvent.END_TRUST_UNLOCK,
        CustomerEvent.END_FORCED_HOLD,
        CustomerEvent.RESCHEDULE_RETURN,
        CustomerEvent.ADVANCE_STAGE,
        CustomerEvent.CLEAR_STAGE,
        CustomerEvent.ACKNOWLEDGE_NOTICE,
        CustomerEvent.RESUME_NOTICE,
    } == KEEPS_STATUS
    for event in KEEPS_STATUS:
        assert all(source == target for source, target in _transitions_of(event)), event
        # No service or invoicing changes: a step of the ladder only tells billing (its logins
        # follow in the use case, usecases/ladder.py).
        steps = {CustomerEvent.ADVANCE_STAGE, CustomerEvent.CLEAR_STAGE}
        assert EFFECTS[event] == ((Effect.NOTIFY_STAGE,) if event in steps else ()), event


def test_each_local_effect_serves_one_status_and_settles_what_it_changes():
    assert len(SERVES) == 2 * len(ALIGNMENT)  # no effect serves two statuses
    for status, alignment in ALIGNMENT.items():
        line = alignment.services
        assert line.out_of_line != line.becomes  # done once, nothing is out of line any more
        assert SERVES[line.effect] is status and SERVES[alignment.invoicing.effect] is status
        assert line.provisioning in (Effect.PROVISION_SUSPEND, Effect.PROVISION_RESTORE)
    inactive, active = ALIGNMENT[CustomerStatus.INACTIVE], ALIGNMENT[CustomerStatus.ACTIVE]
    assert inactive.invoicing.enabled is False and active.invoicing.enabled is True
    # Activation restores what inactivation suspended, and only that (not a manual suspension).
    assert active.services.out_of_line == inactive.services.becomes
    assert active.services.becomes == inactive.services.out_of_line
    assert active.services.out_of_line_cause == "customer_inactive"
