"""The one table of what each status means for services and invoicing (domain/status_alignment.py)
and the machine's EFFECTS agree: each transition queues the local effects of the status it leads to."""

from workflow.domain.customer_machine import EFFECTS, CustomerLifecycle
from workflow.domain.status_alignment import ALIGNMENT, LOCAL_EFFECTS, SERVES
from workflow.domain.vocabulary import CustomerEvent, CustomerStatus, Effect


def _target_of(event: CustomerEvent) -> CustomerStatus:
    (target,) = {t.target.value for s in CustomerLifecycle.states for t in s.transitions if event in t.events}
    return CustomerStatus(target)


def test_every_status_of_the_machine_has_an_alignment():
    assert {CustomerStatus(s.value) for s in CustomerLifecycle.states} == set(ALIGNMENT)


def test_each_transition_queues_the_local_effects_of_the_status_it_leads_to():
    for event, effects in EFFECTS.items():
        local = [effect for effect in effects if effect in LOCAL_EFFECTS]
        assert local == list(ALIGNMENT[_target_of(event)].local_effects), event


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
