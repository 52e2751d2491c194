"""The customer's Ativo/Inativo lifecycle: which transitions exist, their guards, their effects.

The machine decides and records intents; it never saves nor calls anything. The service layer
(workflow/services/transitions.py) locks the row, feeds the machine the facts it needs, and writes
the history row and one outbox row per effect in the same transaction.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from statemachine import State, StateMachine

from . import limits
from .delinquency import FORCED_HOLD_MAX_DAYS, is_held
from .errors import GuardFailed, InvalidReason, UnknownStoredStatus
from .machine_binding import ResolvedOnce
from .vocabulary import (
    ActivationReason,
    CustomerEvent,
    Effect,
    InactivationReason,
    Role,
)

EFFECTS: dict[CustomerEvent, tuple[Effect, ...]] = {
    CustomerEvent.INACTIVATE: (
        Effect.SUSPEND_SERVICES,
        Effect.PAUSE_INVOICING,
        Effect.NOTIFY_BILLING,
    ),
    CustomerEvent.ACTIVATE: (
        Effect.RESTORE_SERVICES,
        Effect.RESUME_INVOICING,
        Effect.NOTIFY_BILLING,
    ),
}

FORCE_ROLES = frozenset({Role.OPERATOR, Role.ADMIN})


class LifecycleModel(Protocol):
    status: str
    inactivation_reason: str | None


@dataclass
class LifecycleState:
    """The part of a customer the machine reads and changes."""

    status: str
    inactivation_reason: str | None
    trust_unlock_until: datetime | None = None
    trust_unlocks_used: int = 0  # in the current delinquency episode; a payment resets it
    return_on: date | None = None  # a suspension at the customer's request ends that day
    forced_hold_until: date | None = None  # a forced activation: no automatic cut through that day


@dataclass(frozen=True)
class TransitionRequest:
    reason: str | None
    note: str | None
    force: bool
    actor_role: Role  # required: whether `force` is allowed depends on it
    days: int | None = None  # trust unlock: how long
    until: date | None = None  # suspension at the customer's request: the return date
    hold_until: date | None = None  # forced activation: no automatic cut through that day
    automatic: bool = False  # asked by the scheduler (sweep, timers), not by a person


@dataclass(frozen=True)
class TrustUnlockLimits:
    max_days: int
    uses_per_episode: int


@dataclass(frozen=True)
class CustomerFacts:
    """What the guards need to know, gathered by the service layer under the row lock."""

    overdue_invoices: int
    now: datetime | None = None
    today: date | None = None
    trust: TrustUnlockLimits = TrustUnlockLimits(3, 1)
    default_hold_until: date | None = None  # a forced activation's hold when none is asked for


def _clean_note(note: str | None) -> str | None:
    return note.strip() if note and note.strip() else None


class CustomerLifecycle(ResolvedOnce, StateMachine):
    # StateMachine (not StateChart) keeps the safe defaults: refused events raise, callback
    # errors propagate, and the status never passes through None mid-transition.
    active = State("Ativo", value="active", initial=True)
    inactive = State("Inativo", value="inactive")

    inactivate = active.to(inactive, validators="check_inactivation")
    activate = inactive.to(active, validators="check_activation")

    def __init__(self, customer: LifecycleModel):
        ensure_known_status(customer.status)
        self.effects: list[Effect] = []
        self.forced = False
        super().__init__(model=customer, state_field="status")

    # -- guards: raise GuardFailed naming the rule; the event is then refused, nothing changes --

    def check_inactivation(self, request: TransitionRequest, facts: CustomerFacts) -> None:
        reason = _parse_reason(InactivationReason, request.reason, CustomerEvent.INACTIVATE)
        if reason is InactivationReason.OTHER and not _clean_note(request.note):
            raise GuardFailed("note_required", "reason 'other' needs a note explaining it")
        if reason is InactivationReason.DELINQUENCY and facts.overdue_invoices == 0:
            raise GuardFailed(
                "no_overdue_invoice",
                "reason 'delinquency' needs an open invoice past its due date; the customer has none",
            )
        if request.automatic and facts.today is not None and is_held(self.model.forced_hold_until, facts.today):
            raise GuardFailed("forced_activation_hold",
                              f"a forced activation holds automatic cuts off through "
                              f"{self.model.forced_hold_until.isoformat()}")
        if request.force:
            raise GuardFailed("force_not_applicable", "force applies only to activation")
        if request.days is not None:
            raise GuardFailed("days_only_for_trust_unlock", "days go with the reason 'trust_unlock'")
        if request.until is not None:
            if reason is not InactivationReason.CUSTOMER_REQUEST:
                raise GuardFailed("return_date_requires_customer_request",
                                  "a return date goes with the reason 'customer_request'")
            if facts.today is None or request.until <= facts.today:
                raise GuardFailed("return_date_not_in_future", "the return date must be after today")
            limits.check_return_date("until", request.until, facts.today)

    def check_activation(self, request: TransitionRequest, facts: CustomerFacts) -> None:
        reason = _parse_reason(ActivationReason, request.reason, CustomerEvent.ACTIVATE)
        delinquent = self.model.inactivation_reason == InactivationReason.DELINQUENCY
        if request.until is not None:
            raise GuardFailed("until_only_for_suspension", "a return date goes with an inactivation")
        if reason is ActivationReason.TRUST_UNLOCK:
            if request.hold_until is not None:
                raise GuardFailed("hold_requires_forced_activation",
                                  "a trust unlock has its own deadline (days), not hold_until")
            return self._check_trust_unlock(request, facts)
        if request.days is not None:
            raise GuardFailed("days_only_for_trust_unlock", "days go with the reason 'trust_unlock'")
        if request.force:
            if request.actor_role not in FORCE_ROLES:
                raise GuardFailed("force_not_permitted", "only an operator or an admin may force")
            if not _clean_note(request.note):
                raise GuardFailed("note_required", "a forced activation needs a note")
        elif delinquent and facts.overdue_invoices:
            raise GuardFailed(
                "overdue_invoices",
                f"the customer was inactivated for delinquency and still has "
                f"{facts.overdue_invoices} open invoice(s) past due; "
                "an operator may send force with a note",
            )
        if request.hold_until is not None:
            self._check_hold(request.hold_until, self._overrides_debts(request, facts), facts)

    def _overrides_debts(self, request: TransitionRequest, facts: CustomerFacts) -> bool:
        """Forced only when force overrode something: a plain activation sent with force stays plain."""
        delinquent = self.model.inactivation_reason == InactivationReason.DELINQUENCY
        return bool(request.force and delinquent and facts.overdue_invoices)

    @staticmethod
    def _check_hold(hold_until: date, forced: bool, facts: CustomerFacts) -> None:
        """The hold goes with a forced activation only: it records a person's decision about the
        debts that force overrode."""
        if not forced:
            raise GuardFailed("hold_requires_forced_activation",
                              "hold_until goes with a forced activation (force, with a note) of a customer "
                              "inactive for delinquency with invoices past due")
        if facts.today is None or hold_until <= facts.today:
            raise GuardFailed("hold_not_in_future", "hold_until must be after today")
        if (hold_until - facts.today).days > FORCED_HOLD_MAX_DAYS:
            raise GuardFailed("hold_too_long",
                              f"hold_until may be at most {FORCED_HOLD_MAX_DAYS} days after today")

    def _check_trust_unlock(self, request: TransitionRequest, facts: CustomerFacts) -> None:
        """Desbloqueio de confiança: a time-boxed release while a payment settles."""
        if self.model.inactivation_reason != InactivationReason.DELINQUENCY:
            raise GuardFailed("trust_unlock_not_delinquent",
                              "a trust unlock is only for a customer inactive for delinquency")
        if request.days is None or request.days < 1:
            raise GuardFailed("trust_unlock_days_required", "a trust unlock needs a number of days (1 or more)")
        if request.days > facts.trust.max_days:
            raise GuardFailed("trust_unlock_too_long",
                              f"a trust unlock lasts at most {facts.trust.max_days} day(s)")
        if self.model.trust_unlocks_used >= facts.trust.uses_per_episode:
            raise GuardFailed("trust_unlock_used",
                              f"the customer already had {self.model.trust_unlocks_used} trust unlock(s) "
                              f"for this debt (limit {facts.trust.uses_per_episode}); it comes back on payment")
        if facts.now is None:
            raise GuardFailed("trust_unlock_clock", "a trust unlock needs the current time")

    # -- actions: record intents and update the model's own fields, no I/O --

    def on_inactivate(self, request: TransitionRequest) -> None:
        self.model.inactivation_reason = request.reason
        self.model.return_on = request.until
        self.model.trust_unlock_until = None
        self.model.forced_hold_until = None
        self.effects = list(EFFECTS[CustomerEvent.INACTIVATE])

    def on_activate(self, request: TransitionRequest, facts: CustomerFacts) -> None:
        self.forced = self._overrides_debts(request, facts)
        # A forced activation leaves the automatic cuts out until its hold date; any other
        # activation (a payment, a trust unlock with its own deadline) has no hold.
        holds = self.forced and request.reason != ActivationReason.TRUST_UNLOCK
        self.model.forced_hold_until = (request.hold_until or facts.default_hold_until) if holds else None
        if request.reason == ActivationReason.TRUST_UNLOCK:
            if facts.now is None or request.days is None:  # check_activation requires days; services give now
                raise ValueError("a trust unlock needs its days and the current time")
            self.model.trust_unlock_until = facts.now + timedelta(days=request.days)
            self.model.trust_unlocks_used += 1
        else:
            self.model.trust_unlock_until = None
            if request.reason == ActivationReason.PAYMENT_RECEIVED:
                self.model.trust_unlocks_used = 0  # the debt is settled: a new episode starts
        self.model.inactivation_reason = None
        self.model.return_on = None
        self.effects = list(EFFECTS[CustomerEvent.ACTIVATE])


def _parse_reason(kind, value: str | None, event: CustomerEvent):
    if not value:
        raise GuardFailed("reason_required", f"'{event}' needs a reason")
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(r.value for r in kind)
        raise InvalidReason(f"reason {value!r} is not valid for '{event}'; use one of: {allowed}") from None


def ensure_known_status(value: object) -> None:
    if value not in CustomerLifecycle.states_map:
        known = ", ".join(map(str, CustomerLifecycle.states_map))
        raise UnknownStoredStatus(
            f"stored status {value!r} is not a lifecycle state ({known}); "
            "fix the record before changing it"
        )


def mermaid_diagram() -> str:
    return format(CustomerLifecycle, "mermaid").rstrip() + "\n"
