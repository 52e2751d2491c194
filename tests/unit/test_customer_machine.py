"""Every guard of the customer lifecycle, table-driven, with no database."""

from dataclasses import dataclass
from datetime import UTC
from datetime import date as _date
from datetime import datetime as _datetime
from datetime import timedelta as _timedelta

import pytest
from statemachine.exceptions import TransitionNotAllowed

from workflow.domain.customer_machine import (
    EFFECTS,
    KEEPS_STATUS,
    KEPT_STATUS_REASONS,
    CustomerFacts,
    CustomerLifecycle,
    LifecycleState,
    TransitionRequest,
    TrustUnlockLimits,
)
from workflow.domain.errors import GuardFailed, InvalidInput, UnknownStoredStatus
from workflow.domain.vocabulary import CustomerEvent, Effect, Role


@dataclass
class Customer:
    status: str = "active"
    inactivation_reason: str | None = None


NONE_OVERDUE = CustomerFacts(overdue_invoices=0)
ONE_OVERDUE = CustomerFacts(overdue_invoices=1)


def send(customer, event, reason, note=None, force=False, role=Role.OPERATOR, facts=NONE_OVERDUE):
    machine = CustomerLifecycle(customer)
    machine.send(event, request=TransitionRequest(reason, note, force=force, actor_role=role), facts=facts)
    return machine


INACTIVATION_CASES = [
    # reason, note, facts, force, expected rule (None = allowed)
    ("customer_request", None, NONE_OVERDUE, False, None),
    ("contract_termination", None, NONE_OVERDUE, False, None),
    ("other", "moved abroad", NONE_OVERDUE, False, None),
    ("other", None, NONE_OVERDUE, False, "note_required"),
    ("other", "   ", NONE_OVERDUE, False, "note_required"),
    ("delinquency", None, ONE_OVERDUE, False, None),
    ("delinquency", None, NONE_OVERDUE, False, "no_overdue_invoice"),
    (None, None, NONE_OVERDUE, False, "reason_required"),
    ("", None, NONE_OVERDUE, False, "reason_required"),
    ("customer_request", "x", NONE_OVERDUE, True, "force_not_applicable"),
]


@pytest.mark.parametrize("reason, note, facts, force, rule", INACTIVATION_CASES)
def test_inactivation_guards(reason, note, facts, force, rule):
    customer = Customer()
    if rule is None:
        machine = send(customer, "inactivate", reason, note, force, facts=facts)
        assert customer.status == "inactive"
        assert customer.inactivation_reason == reason
        assert machine.effects == [Effect.SUSPEND_SERVICES, Effect.PAUSE_INVOICING, Effect.NOTIFY_BILLING]
    else:
        with pytest.raises(GuardFailed) as refused:
            send(customer, "inactivate", reason, note, force, facts=facts)
        assert refused.value.rule == rule
        assert customer == Customer()  # a refusal changes nothing


ACTIVATION_CASES = [
    # previous reason, activation reason, note, force, role, facts, expected rule, forced
    ("customer_request", "customer_return", None, False, Role.OPERATOR, NONE_OVERDUE, None, False),
    ("customer_request", "manual", None, False, Role.OPERATOR, ONE_OVERDUE, None, False),
    ("delinquency", "payment_received", None, False, Role.OPERATOR, NONE_OVERDUE, None, False),
    ("delinquency", "payment_received", None, False, Role.OPERATOR, ONE_OVERDUE, "overdue_invoices", False),
    ("delinquency", "manual", None, True, Role.OPERATOR, ONE_OVERDUE, "note_required", False),
    ("delinquency", "manual", "promised to pay", True, Role.OPERATOR, ONE_OVERDUE, None, True),
    ("delinquency", "manual", "promised to pay", True, Role.ADMIN, ONE_OVERDUE, None, True),
    ("delinquency", "manual", "promised to pay", True, Role.BILLING, ONE_OVERDUE, "force_not_permitted", False),
    ("delinquency", "manual", "promised to pay", True, Role.VIEWER, ONE_OVERDUE, "force_not_permitted", False),
    # force sent where nothing needed overriding: allowed, and not recorded as forced
    ("delinquency", "manual", "n", True, Role.OPERATOR, NONE_OVERDUE, None, False),
    ("other", None, None, False, Role.OPERATOR, NONE_OVERDUE, "reason_required", False),
]


@pytest.mark.parametrize("previous, reason, note, force, role, facts, rule, forced", ACTIVATION_CASES)
def test_activation_guards(previous, reason, note, force, role, facts, rule, forced):
    customer = Customer("inactive", previous)
    if rule is None:
        machine = send(customer, "activate", reason, note, force, role, facts)
        assert customer.status == "active"
        assert customer.inactivation_reason is None
        assert machine.forced is forced
        assert machine.effects == list(EFFECTS[CustomerEvent.ACTIVATE])
    else:
        with pytest.raises(GuardFailed) as refused:
            send(customer, "activate", reason, note, force, role, facts)
        assert refused.value.rule == rule
        assert customer == Customer("inactive", previous)


@pytest.mark.parametrize(
    "event, reason", [("inactivate", "delinquency"), ("activate", "customer_request"), ("activate", "bogus")]
)
def test_a_reason_of_the_wrong_event_is_invalid_input(event, reason):
    customer = Customer("active" if event == "inactivate" else "inactive")
    with pytest.raises((InvalidInput, GuardFailed)) as refused:
        send(customer, event, reason, facts=NONE_OVERDUE)
    if event == "inactivate":  # delinquency is a valid reason, refused by its guard
        assert refused.value.rule == "no_overdue_invoice"
    else:
        assert isinstance(refused.value, InvalidInput)
        assert "payment_received" in refused.value.detail


@pytest.mark.parametrize("status, event", [("active", "activate"), ("inactive", "inactivate")])
def test_a_transition_to_the_current_state_is_refused(status, event):
    customer = Customer(status, "customer_request" if status == "inactive" else None)
    with pytest.raises(TransitionNotAllowed):
        send(customer, event, "manual" if event == "activate" else "customer_request")
    assert customer.status == status


@pytest.mark.parametrize("stored", ["frozen", None, "", "ACTIVE"])
def test_an_unknown_stored_status_is_refused_before_anything_runs(stored):
    with pytest.raises(UnknownStoredStatus) as refused:
        CustomerLifecycle(Customer(stored))
    assert repr(stored) in refused.value.detail


def test_effects_of_each_event():
    assert EFFECTS[CustomerEvent.INACTIVATE] == (Effect.SUSPEND_SERVICES, Effect.PAUSE_INVOICING, Effect.NOTIFY_BILLING)
    assert EFFECTS[CustomerEvent.ACTIVATE] == (Effect.RESTORE_SERVICES, Effect.RESUME_INVOICING, Effect.NOTIFY_BILLING)


def test_machine_uses_the_safe_settings():
    assert CustomerLifecycle.allow_event_without_transition is False
    assert CustomerLifecycle.catch_errors_as_events is False
    assert CustomerLifecycle.atomic_configuration_update is True
    assert CustomerLifecycle.enable_self_transition_entries is False


NOW = _datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TODAY = _date(2026, 12, 1)
LIMITS = TrustUnlockLimits(max_days=3, uses_per_episode=1)


@pytest.mark.parametrize(
    "reason, used, days, rule",
    [
        ("delinquency", 0, 3, None),
        ("delinquency", 0, 1, None),
        ("delinquency", 0, 4, "trust_unlock_too_long"),
        ("delinquency", 0, None, "trust_unlock_days_required"),
        ("delinquency", 0, 0, "trust_unlock_days_required"),
        ("delinquency", 1, 2, "trust_unlock_used"),
        ("customer_request", 0, 2, "trust_unlock_not_delinquent"),
        ("other", 0, 2, "trust_unlock_not_delinquent"),
    ],
)
def test_trust_unlock_guards(reason, used, days, rule):
    state = LifecycleState("inactive", reason, None, used, None)
    machine = CustomerLifecycle(state)
    request = TransitionRequest("trust_unlock", None, actor_role=Role.OPERATOR, days=days)
    facts = CustomerFacts(2, now=NOW, today=TODAY, trust=LIMITS)
    if rule is None:
        machine.send("activate", request=request, facts=facts)
        assert (state.status, state.trust_unlock_until, state.trust_unlocks_used) == (
            "active",
            NOW + _timedelta(days=days),
            used + 1,
        )
        assert machine.forced is False
    else:
        with pytest.raises(GuardFailed) as refused:
            machine.send("activate", request=request, facts=facts)
        assert refused.value.rule == rule
        assert state == LifecycleState("inactive", reason, None, used, None)


def test_payment_ends_the_episode_and_any_activation_ends_a_trust_unlock():
    state = LifecycleState("inactive", "delinquency", None, 1, None)
    CustomerLifecycle(state).send(
        "activate",
        request=TransitionRequest("payment_received", None, actor_role=Role.BILLING),
        facts=CustomerFacts(0, now=NOW, today=TODAY),
    )
    assert (state.trust_unlocks_used, state.trust_unlock_until) == (0, None)


@pytest.mark.parametrize(
    "reason, until, rule",
    [
        ("customer_request", TODAY + _timedelta(days=1), None),
        ("customer_request", TODAY, "return_date_not_in_future"),
        ("delinquency", TODAY + _timedelta(days=1), "return_date_requires_customer_request"),
    ],
)
def test_return_date_guards(reason, until, rule):
    state = LifecycleState("active", None)
    machine = CustomerLifecycle(state)
    request = TransitionRequest(reason, None, actor_role=Role.OPERATOR, until=until)
    facts = CustomerFacts(1, now=NOW, today=TODAY)
    if rule is None:
        machine.send("inactivate", request=request, facts=facts)
        assert (state.status, state.return_on) == ("inactive", until)
    else:
        with pytest.raises(GuardFailed) as refused:
            machine.send("inactivate", request=request, facts=facts)
        assert refused.value.rule == rule
        assert state.status == "active"


# -- the hold of a forced activation ------------------------------------------------------------

DEFAULT_HOLD = TODAY + _timedelta(days=10)
HOLD_FACTS = CustomerFacts(2, now=NOW, today=TODAY, default_hold_until=DEFAULT_HOLD)


@pytest.mark.parametrize(
    "reason, force, note, hold_until, facts, rule, held",
    [
        ("manual", True, "Gerente autorizou", None, HOLD_FACTS, None, DEFAULT_HOLD),
        (
            "manual",
            True,
            "Gerente autorizou",
            TODAY + _timedelta(days=14),
            HOLD_FACTS,
            None,
            TODAY + _timedelta(days=14),
        ),
        ("manual", True, "ok", TODAY + _timedelta(days=90), HOLD_FACTS, None, TODAY + _timedelta(days=90)),
        ("manual", True, "ok", TODAY + _timedelta(days=91), HOLD_FACTS, "hold_too_long", None),
        ("manual", True, "ok", TODAY, HOLD_FACTS, "hold_not_in_future", None),
        ("manual", False, "ok", TODAY + _timedelta(days=5), HOLD_FACTS, "overdue_invoices", None),
        # Nothing overdue: force overrides nothing, so there is nothing to hold.
        (
            "manual",
            True,
            "ok",
            TODAY + _timedelta(days=5),
            CustomerFacts(0, now=NOW, today=TODAY),
            "hold_requires_forced_activation",
            None,
        ),
        (
            "manual",
            True,
            "ok",
            None,
            CustomerFacts(0, now=NOW, today=TODAY, default_hold_until=DEFAULT_HOLD),
            None,
            None,
        ),
        ("trust_unlock", False, None, TODAY + _timedelta(days=2), HOLD_FACTS, "hold_requires_forced_activation", None),
        # ATIVA_FORCED_ACTIVATION_HOLD_DAYS=0: no default hold.
        ("manual", True, "ok", None, CustomerFacts(2, now=NOW, today=TODAY), None, None),
    ],
)
def test_a_forced_activation_holds_the_automatic_cuts(reason, force, note, hold_until, facts, rule, held):
    state = LifecycleState("inactive", "delinquency", None, 0, None)
    request = TransitionRequest(
        reason,
        note,
        force=force,
        actor_role=Role.OPERATOR,
        days=2 if reason == "trust_unlock" else None,
        hold_until=hold_until,
    )
    machine = CustomerLifecycle(state)
    if rule is None:
        machine.send("activate", request=request, facts=facts)
        assert (state.status, state.forced_hold_until) == ("active", held)
    else:
        with pytest.raises(GuardFailed) as refused:
            machine.send("activate", request=request, facts=facts)
        assert refused.value.rule == rule
        assert (state.status, state.forced_hold_until) == ("inactive", None)


def test_a_hold_goes_only_with_a_delinquent_customer_and_any_inactivation_ends_it():
    other = LifecycleState("inactive", "other", None, 0, None)
    with pytest.raises(GuardFailed) as refused:
        CustomerLifecycle(other).send(
            "activate",
            request=TransitionRequest(
                "manual", "ok", force=True, actor_role=Role.OPERATOR, hold_until=TODAY + _timedelta(days=3)
            ),
            facts=HOLD_FACTS,
        )
    assert refused.value.rule == "hold_requires_forced_activation"
    held = LifecycleState("active", None, forced_hold_until=DEFAULT_HOLD)
    CustomerLifecycle(held).send(
        "inactivate", request=TransitionRequest("customer_request", None, actor_role=Role.OPERATOR), facts=HOLD_FACTS
    )
    assert held.forced_hold_until is None


@pytest.mark.parametrize(
    "hold_until, automatic, refused",
    [
        (TODAY, True, True),  # held through today: the scheduler may not cut
        (TODAY + _timedelta(days=5), True, True),
        (TODAY - _timedelta(days=1), True, False),  # the hold has passed: the normal rule applies
        (None, True, False),
        (TODAY + _timedelta(days=5), False, False),  # a person may still inactivate by hand
    ],
)
def test_the_machine_refuses_an_automatic_cut_while_a_forced_activation_holds(hold_until, automatic, refused):
    held = LifecycleState("active", None, forced_hold_until=hold_until)
    request = TransitionRequest("delinquency", "Corte automático", actor_role=Role.ADMIN, automatic=automatic)
    if refused:
        with pytest.raises(GuardFailed) as error:
            CustomerLifecycle(held).send("inactivate", request=request, facts=HOLD_FACTS)
        assert error.value.rule == "forced_activation_hold"
        assert (held.status, held.forced_hold_until) == ("active", hold_until)
    else:
        CustomerLifecycle(held).send("inactivate", request=request, facts=HOLD_FACTS)
        assert (held.status, held.forced_hold_until) == ("inactive", None)


# -- changes that keep the status (issue 11): recorded like any transition, no effects ------------


PASSED = NOW - _timedelta(seconds=1)


def kept(event, state, facts, until=None):
    machine = CustomerLifecycle(state)
    machine.send(
        event,
        request=TransitionRequest(KEPT_STATUS_REASONS[CustomerEvent(event)], "n", actor_role=Role.ADMIN, until=until),
        facts=facts,
    )
    return machine


@pytest.mark.parametrize(
    "state, facts, after",
    [
        # paid during the unlock: it ends, and so does the episode
        (LifecycleState("active", None, PASSED, 1), CustomerFacts(0, now=NOW, today=TODAY), (None, 1 - 1)),
        # a forced activation holds the cut: it ends, the debt (and its count) stays
        (
            LifecycleState("active", None, PASSED, 1, forced_hold_until=TODAY),
            CustomerFacts(2, now=NOW, today=TODAY),
            (None, 1),
        ),
        # a stale deadline on an inactive customer
        (LifecycleState("inactive", "delinquency", PASSED, 1), CustomerFacts(2, now=NOW, today=TODAY), (None, 1)),
    ],
)
def test_a_trust_unlock_ends_at_its_deadline(state, facts, after):
    status = state.status
    machine = kept("end_trust_unlock", state, facts)
    assert (state.status, machine.effects, machine.forced) == (status, [], False)
    assert (state.trust_unlock_until, state.trust_unlocks_used) == after


@pytest.mark.parametrize(
    "state, facts, rule",
    [
        (LifecycleState("active", None, PASSED, 1), CustomerFacts(1, now=NOW, today=TODAY), "trust_unlock_debt_unpaid"),
        (
            LifecycleState("active", None, NOW + _timedelta(hours=1), 1),
            CustomerFacts(0, now=NOW, today=TODAY),
            "trust_unlock_not_over",
        ),
        (LifecycleState("active", None, None, 1), CustomerFacts(0, now=NOW, today=TODAY), "no_trust_unlock"),
        # the hold has passed: the normal rule applies, the customer is cut instead
        (
            LifecycleState("active", None, PASSED, 1, forced_hold_until=TODAY - _timedelta(days=1)),
            CustomerFacts(1, now=NOW, today=TODAY),
            "trust_unlock_debt_unpaid",
        ),
    ],
)
def test_a_trust_unlock_that_may_not_end_yet_is_refused(state, facts, rule):
    before = LifecycleState(**vars(state))
    with pytest.raises(GuardFailed) as refused:
        kept("end_trust_unlock", state, facts)
    assert refused.value.rule == rule and state == before


def test_a_forced_activations_hold_ends_when_nothing_is_past_due():
    held = LifecycleState("active", None, forced_hold_until=DEFAULT_HOLD)
    with pytest.raises(GuardFailed) as refused:
        kept("end_forced_hold", held, CustomerFacts(1, now=NOW, today=TODAY))
    assert refused.value.rule == "forced_hold_debt_unpaid" and held.forced_hold_until == DEFAULT_HOLD
    machine = kept("end_forced_hold", held, CustomerFacts(0, now=NOW, today=TODAY))
    assert (held.status, held.forced_hold_until, machine.effects) == ("active", None, [])
    with pytest.raises(GuardFailed) as refused:
        kept("end_forced_hold", held, CustomerFacts(0, now=NOW, today=TODAY))
    assert refused.value.rule == "no_forced_hold"
    with pytest.raises(TransitionNotAllowed):
        kept("end_forced_hold", LifecycleState("inactive", "delinquency"), CustomerFacts(0, now=NOW, today=TODAY))


@pytest.mark.parametrize(
    "reason, until, rule",
    [
        ("customer_request", TODAY + _timedelta(days=3), None),
        ("customer_request", None, None),  # cleared
        ("customer_request", TODAY, "return_date_not_in_future"),  # the same rule as with an inactivation
        ("customer_request", TODAY - _timedelta(days=1), "return_date_not_in_future"),
        ("delinquency", TODAY + _timedelta(days=3), "return_date_requires_customer_request"),
    ],
)
def test_a_return_date_is_rescheduled_by_the_machines_rule(reason, until, rule):
    state = LifecycleState("inactive", reason, return_on=TODAY + _timedelta(days=1))
    facts = CustomerFacts(0, now=NOW, today=TODAY)
    if rule is None:
        machine = kept("reschedule_return", state, facts, until=until)
        assert (state.status, state.inactivation_reason, state.return_on, machine.effects) == (
            "inactive",
            reason,
            until,
            [],
        )
    else:
        with pytest.raises(GuardFailed) as refused:
            kept("reschedule_return", state, facts, until=until)
        assert refused.value.rule == rule and state.return_on == TODAY + _timedelta(days=1)


def test_a_return_date_years_ahead_is_out_of_range_and_an_active_customer_has_none():
    with pytest.raises(InvalidInput):
        kept(
            "reschedule_return",
            LifecycleState("inactive", "customer_request"),
            CustomerFacts(0, now=NOW, today=TODAY),
            until=TODAY + _timedelta(days=400),
        )
    with pytest.raises(TransitionNotAllowed):
        kept(
            "reschedule_return",
            LifecycleState("active", None),
            CustomerFacts(0, now=NOW, today=TODAY),
            until=TODAY + _timedelta(days=3),
        )


@pytest.mark.parametrize("event", sorted(KEEPS_STATUS))
def test_a_change_that_keeps_the_status_has_one_reason_and_no_extras(event):
    state = LifecycleState(
        "active" if event != "reschedule_return" else "inactive",
        "customer_request" if event == "reschedule_return" else None,
        PASSED,
        0,
        forced_hold_until=DEFAULT_HOLD,
    )
    facts = CustomerFacts(0, now=NOW, today=TODAY)
    with pytest.raises(InvalidInput):
        CustomerLifecycle(state).send(
            event, request=TransitionRequest("manual", None, actor_role=Role.ADMIN), facts=facts
        )
    with pytest.raises(GuardFailed) as refused:
        CustomerLifecycle(state).send(
            event,
            request=TransitionRequest(KEPT_STATUS_REASONS[event], "n", force=True, actor_role=Role.ADMIN),
            facts=facts,
        )
    assert refused.value.rule == "force_not_applicable"
