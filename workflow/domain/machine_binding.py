"""Fresh state machines at a fraction of the cost: callbacks resolved once per class.

python-statemachine resolves a new machine's callbacks from scratch: it lists the attributes of
the machine and of its model (dir()), walks every state's and transition's callback specs to
match names, checks them, and wraps each one found. For a machine whose callbacks are its own
methods that is the same answer every time, and it was most of what building a machine per
transition cost. `ResolvedOnce` lets the library resolve the first machine of a class, keeps what
it found (which method serves which callback slot, in which order, under which condition), and
gives every later machine the same slots bound to its own methods: each unit of work still has a
fresh machine of its own, with nothing shared but the class-level structure.

Whatever this module does not recognise (a callback found on the model or a listener, a boolean
expression, a plain callable, a coroutine, a model of another type) is left to the library.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from statemachine.callbacks import CallbackSpec, CallbacksRegistry, CallbackWrapper, SpecReference
from statemachine.dispatcher import callable_method


@dataclass(frozen=True)
class _Slot:
    key: str  # the registry key: a callback group of one state's or transition's spec list
    method: str  # the machine's method that serves it
    meta: CallbackSpec  # class-level
    condition: Callable[..., Any]  # when it runs: always, or only for its event (class-level)


@dataclass(frozen=True)
class _Plan:
    model_type: type
    slots: tuple[_Slot, ...]

    def bind(self, machine) -> CallbacksRegistry:
        registry = CallbacksRegistry()
        suffix = f"@{id(machine)}"
        for slot in self.slots:
            executor = registry[slot.key]
            unique_key = slot.method + suffix
            executor.items.append(
                CallbackWrapper(
                    callback=callable_method(getattr(machine, slot.method)),
                    condition=slot.condition,
                    meta=slot.meta,
                    unique_key=unique_key,
                )
            )
            executor.items_already_seen.add(unique_key)
        return registry


_UNSUPPORTED = _Plan(type(None), ())


def _plan_of(machine) -> _Plan:
    """What the library resolved for `machine`, if every callback is one of its own methods."""
    machine_class = type(machine)
    suffix = f"@{id(machine)}"
    slots = []
    for key, executor in machine._callbacks._registry.items():
        for wrapper in executor:
            unique_key = wrapper.unique_key
            method = unique_key[: -len(suffix)] if unique_key.endswith(suffix) else None
            if (
                method is None
                or wrapper.meta.reference is not SpecReference.NAME
                or wrapper.meta.attr_name != method
                or not inspect.isfunction(getattr(machine_class, method, None))
                or getattr(wrapper._callback, "is_coroutine", True)
            ):
                return _UNSUPPORTED
            slots.append(_Slot(key, method, wrapper.meta, wrapper.condition))
    return _Plan(type(machine.model), tuple(slots))


class ResolvedOnce:
    """Mix into a StateChart/StateMachine subclass (before it) to build its machines cheaply."""

    model: Any  # the machine's model, as the StateChart this is mixed into holds it
    _callbacks: CallbacksRegistry
    _resolved_callbacks: ClassVar[_Plan]  # set on each concrete class by its first machine

    def _register_callbacks(self, listeners: list[object]) -> None:
        machine_class = type(self)
        plan = machine_class.__dict__.get("_resolved_callbacks")
        if plan is not None and plan is not _UNSUPPORTED and not listeners and type(self.model) is plan.model_type:
            self._callbacks = plan.bind(self)
            self._bound_functions: tuple[tuple[str, object], ...] | None = tuple(
                (slot.method, getattr(machine_class, slot.method)) for slot in plan.slots
            )
            return
        super()._register_callbacks(listeners)  # type: ignore[misc]
        if plan is None and not listeners:
            machine_class._resolved_callbacks = _plan_of(self)
        self._bound_functions = None

    def callbacks_current(self) -> bool:
        """Whether this machine's callbacks are still the class's methods, so that it may decide
        again: a class whose methods were replaced since (tests do) needs a new machine. False for
        a machine whose callbacks the library resolved."""
        machine_class = type(self)
        return self._bound_functions is not None and all(
            getattr(machine_class, name) is function for name, function in self._bound_functions
        )
