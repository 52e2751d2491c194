"""Machines whose callbacks were resolved once per class behave as machines the library resolved."""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest
from statemachine import State, StateMachine

from workflow.domain.customer_machine import (
    CustomerFacts,
    CustomerLifecycle,
    LifecycleState,
    TransitionRequest,
)
from workflow.domain.errors import GuardFailed
from workflow.domain.machine_binding import ResolvedOnce
from workflow.domain.vocabulary import Effect, Role

FACTS = CustomerFacts(0, now=datetime(2026, 1, 5, tzinfo=UTC), today=date(2026, 1, 5))
LEAVE = TransitionRequest("customer_request", None, actor_role=Role.OPERATOR)


def _slots(machine) -> dict:
    suffix = f"@{id(machine)}"
    return {
        key: [(w.unique_key.removesuffix(suffix), w.meta, w.condition, w._callback.__name__) for w in executor]
        for key, executor in machine._callbacks._registry.items()
    }


def test_a_fresh_machine_gets_the_slots_the_library_would_resolve():
    class Lifecycle(CustomerLifecycle):  # a class of its own: its first machine is the library's
        pass

    by_library = Lifecycle(LifecycleState("active", None))
    fast = Lifecycle(LifecycleState("active", None))
    transitions = [t for state in Lifecycle.states for t in state.transitions]
    # A validator and an action per transition, self-transitions included.
    assert len(Lifecycle.__dict__["_resolved_callbacks"].slots) == 2 * len(transitions) == 20
    assert _slots(fast) == _slots(by_library)
    assert fast._callbacks is not by_library._callbacks


def test_each_machine_runs_its_own_callbacks_on_its_own_model():
    first_state, second_state = LifecycleState("active", None), LifecycleState("active", None)
    first, second = CustomerLifecycle(first_state), CustomerLifecycle(second_state)
    second.send("inactivate", request=LEAVE, facts=FACTS)
    assert (second.effects, second_state.status, second_state.inactivation_reason) == (
        [Effect.SUSPEND_SERVICES, Effect.PAUSE_INVOICING, Effect.NOTIFY_BILLING],
        "inactive",
        "customer_request",
    )
    assert (first.effects, first_state.status, first_state.inactivation_reason) == ([], "active", None)
    with pytest.raises(GuardFailed):  # the guard reads the second machine's request, not a stale one
        first.send("inactivate", request=TransitionRequest(None, None, actor_role=Role.OPERATOR), facts=FACTS)
    assert first_state.status == "active"


def test_a_model_of_another_type_is_resolved_by_the_library():
    CustomerLifecycle(LifecycleState("active", None))
    model = SimpleNamespace(
        status="active",
        inactivation_reason=None,
        trust_unlock_until=None,
        trust_unlocks_used=0,
        return_on=None,
        forced_hold_until=None,
    )
    machine = CustomerLifecycle(model)
    machine.send("inactivate", request=LEAVE, facts=FACTS)
    assert (model.status, machine.effects[0]) == ("inactive", Effect.SUSPEND_SERVICES)


@dataclass
class _Door:
    """A model that carries a callback of its own: it must run on each machine's own model."""

    state: str = "closed"
    opened_by: str | None = None

    def on_open(self, who: str) -> None:
        self.opened_by = who


class _DoorMachine(ResolvedOnce, StateMachine):
    closed = State(initial=True, value="closed")
    opened = State(value="opened", final=True)
    open = closed.to(opened)


def test_callbacks_found_on_the_model_are_left_to_the_library():
    doors = [_Door(), _Door(), _Door()]
    for n, door in enumerate(doors):
        _DoorMachine(door).send("open", who=f"person {n}")
    assert [door.opened_by for door in doors] == ["person 0", "person 1", "person 2"]
