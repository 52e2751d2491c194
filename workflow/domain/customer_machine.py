"""The customer's Ativo/Inativo lifecycle: which transitions exist, their guards, their effects.

The machine decides and records intents; it never saves nor calls anything. The use-case layer
(workflow/usecases/transitions.py) locks the row, feeds the machine the facts it needs, and writes
the history row and one outbox row per effect in the same transaction.
"""

from dataclasses import KW_ONLY, dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from statemachine import State, StateMachine

from . import limits
from .delinquency import FORCED_HOLD_MAX_DAYS, is_held, stage_rank
from .errors import GuardFailed, InvalidReason, UnknownStoredStatus
from .freeze import Freeze
from .machine_binding import ResolvedOnce
from .status_alignment import ALIGNMENT
from .vocabulary import (
    ActivationReason,
    CustomerEvent,
    CustomerStatus,
    DelinquencyStage,
    Effect,
    InactivationReason,
    Role,
)

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
    delinquency_stage: str = DelinquencyStage.NONE.value  # the collection ladder's step (active only)
    notice_snoozed_until: datetime | None = None  # the notice acknowledged: off the list until then


@dataclass(frozen=True)
class TransitionRequest:
    reason: str | None
    note: str | None
    _: KW_ONLY  # the rest by name: `TransitionRequest(reason, note, force=True, actor_role=...)`
    force: bool = False
    actor_role: Role  # required: whether `force` is allowed depends on it
    days: int | None = None  # trust unlock: how long
    until: date | None = None  # suspension at the customer's request: the return date
    hold_until: date | None = None  # forced activation: no automatic cut through that day
    automatic: bool = False  # asked by the scheduler (sweep, timers), not by a person
    stage: str | None = None  # advance_stage: the stage the ladder's rule asks for


@dataclass(frozen=True)
class TrustUnlockLimits:
    max_days: int
    uses_per_episode: int


@dataclass(frozen=True)
class CustomerFacts:
    """What the guards need to know, gathered by the use-case layer under the row lock."""

    overdue_invoices: int
    now: datetime | None = None
    today: date | None = None
    trust: TrustUnlockLimits = TrustUnlockLimits(3, 1)
    default_hold_until: date | None = None  # a forced activation's hold when none is asked for
    stage_due: str | None = None  # the ladder's rule (Policy.stage_due) on the locked facts
    notice_snooze: timedelta = timedelta(hours=24)  # how long an acknowledged notice stays off
    frozen: Freeze | None = None  # a freeze of the automatic cuts holding today (domain/freeze.py)


def _clean_note(note: str | None) -> str | None:
    return note.strip() if note and note.strip() else None


class CustomerLifecycle(ResolvedOnce, StateMachine):
    # StateMachine (not StateChart) keeps the safe defaults: refused events raise, callback
    # errors propagate, and the status never passes through None mid-transition.
    active = State("Ativo", value="active", initial=True)
    inactive = State("Inativo", value="inactive")

    inactivate = active.to(inactive, validators="check_inactivation")
    activate = inactive.to(active, validators="check_activation")
    # Changes of the lifecycle that keep the status: recorded like any transition (history row,
    # version), with no effects, since services and invoicing already match the status.
    end_trust_unlock = active.to.itself(internal=True, validators="check_end_trust_unlock") | inactive.to.itself(
        internal=True, validators="check_end_trust_unlock"
    )
    end_forced_hold = active.to.itself(internal=True, validators="check_end_forced_hold")
    reschedule_return = inactive.to.itself(internal=True, validators="check_reschedule_return")
    # The collection ladder, while the customer stays Ativo (Inativo is the cut).
    advance_stage = active.to.itself(internal=True, validators="check_advance_stage")
    clear_stage = active.to.itself(internal=True, validators="check_clear_stage")
    acknowledge_notice = active.to.itself(internal=True, validators="check_acknowledge_notice")
    resume_notice = active.to.itself(internal=True, validators="check_resume_notice")

    def __init__(self, customer: LifecycleModel):
        ensure_known_status(customer.status)
        self.effects: list[Effect] = []
        self.forced = False
        super().__init__(model=customer, state_field="status")

    def restart(self, state: LifecycleState) -> None:
        """Ready this machine, after a decision it took, for the next one from `state` (copied into
        its own model): one machine per thread serves every transition, instead of one built per
        transition (a machine is a web of objects whose building and collection cost as much as
        its decision)."""
        ensure_known_status(state.status)
        vars(self.model).update(vars(state))
        self.effects = []
        self.forced = False

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
        if request.automatic:
            _check_not_frozen(facts)
        if request.automatic and facts.today is not None and is_held(self.model.forced_hold_until, facts.today):
            raise GuardFailed(
                "forced_activation_hold",
                f"a forced activation holds automatic cuts off through {self.model.forced_hold_until.isoformat()}",
            )
        if request.force:
            raise GuardFailed("force_not_applicable", "force applies only to activation")
        if request.days is not None:
            raise GuardFailed("days_only_for_trust_unlock", "days go with the reason 'trust_unlock'")
        if request.until is not None:
            if reason is not InactivationReason.CUSTOMER_REQUEST:
                raise GuardFailed(
                    "return_date_requires_customer_request", "a return date goes with the reason 'customer_request'"
                )
            self._check_return_date(request.until, facts)

    @staticmethod
    def _check_return_date(until: date, facts: CustomerFacts) -> None:
        """A suspension's return date, set with it or changed later: after today, within a year."""
        if facts.today is None or until <= facts.today:
            raise GuardFailed("return_date_not_in_future", "the return date must be after today")
        limits.check_return_date("until", until, facts.today)

    def check_activation(self, request: TransitionRequest, facts: CustomerFacts) -> None:
        reason = _parse_reason(ActivationReason, request.reason, CustomerEvent.ACTIVATE)
        delinquent = self.model.inactivation_reason == InactivationReason.DELINQUENCY
        if request.until is not None:
            raise GuardFailed("until_only_for_suspension", "a return date goes with an inactivation")
        if reason is ActivationReason.TRUST_UNLOCK:
            if request.hold_until is not None:
                raise GuardFailed(
                    "hold_requires_forced_activation", "a trust unlock has its own deadline (days), not hold_until"
                )
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
            self._check_hold(request.hold_until, facts, forced=self._overrides_debts(request, facts))

    def _overrides_debts(self, request: TransitionRequest, facts: CustomerFacts) -> bool:
        """Forced only when force overrode something: a plain activation sent with force stays plain."""
        delinquent = self.model.inactivation_reason == InactivationReason.DELINQUENCY
        return bool(request.force and delinquent and facts.overdue_invoices)

    @staticmethod
    def _check_hold(hold_until: date, facts: CustomerFacts, *, forced: bool) -> None:
        """The hold goes with a forced activation only: it records a person's decision about the
        debts that force overrode."""
        if not forced:
            raise GuardFailed(
                "hold_requires_forced_activation",
                "hold_until goes with a forced activation (force, with a note) of a customer "
                "inactive for delinquency with invoices past due",
            )
        if facts.today is None or hold_until <= facts.today:
            raise GuardFailed("hold_not_in_future", "hold_until must be after today")
        if (hold_until - facts.today).days > FORCED_HOLD_MAX_DAYS:
            raise GuardFailed("hold_too_long", f"hold_until may be at most {FORCED_HOLD_MAX_DAYS} days after today")

    def _check_trust_unlock(self, request: TransitionRequest, facts: CustomerFacts) -> None:
        """Desbloqueio de confiança: a time-boxed release while a payment settles."""
        if self.model.inactivation_reason != InactivationReason.DELINQUENCY:
            raise GuardFailed(
                "trust_unlock_not_delinquent", "a trust unlock is only for a customer inactive for delinquency"
            )
        if request.days is None or request.days < 1:
            raise GuardFailed("trust_unlock_days_required", "a trust unlock needs a number of days (1 or more)")
        if request.days > facts.trust.max_days:
            raise GuardFailed("trust_unlock_too_long", f"a trust unlock lasts at most {facts.trust.max_days} day(s)")
        if self.model.trust_unlocks_used >= facts.trust.uses_per_episode:
            raise GuardFailed(
                "trust_unlock_used",
                f"the customer already had {self.model.trust_unlocks_used} trust unlock(s) "
                f"for this debt (limit {facts.trust.uses_per_episode}); it comes back on payment",
            )
        if facts.now is None:
            raise GuardFailed("trust_unlock_clock", "a trust unlock needs the current time")

    # -- the changes that keep the status --

    def check_end_trust_unlock(self, request: TransitionRequest, facts: CustomerFacts) -> None:
        """A trust unlock ends at its deadline. An active customer with an invoice still past due is
        inactivated then instead, unless a forced activation holds the automatic cuts off."""
        _check_kept_status_request(request, CustomerEvent.END_TRUST_UNLOCK)
        until = self.model.trust_unlock_until
        if until is None:
            raise GuardFailed("no_trust_unlock", "the customer has no trust unlock to end")
        if facts.now is None or until > facts.now:
            raise GuardFailed("trust_unlock_not_over", f"the trust unlock lasts until {until.isoformat()}")
        if self.model.status == CustomerStatus.ACTIVE and facts.overdue_invoices and not self._held(facts):
            raise GuardFailed(
                "trust_unlock_debt_unpaid",
                f"{facts.overdue_invoices} open invoice(s) still past due: the end of the "
                "trust unlock inactivates the customer",
            )

    def check_end_forced_hold(self, request: TransitionRequest, facts: CustomerFacts) -> None:
        """A forced activation's hold was a decision about the debts of that moment: it ends once
        nothing is past due, and a later debt follows the normal rule."""
        _check_kept_status_request(request, CustomerEvent.END_FORCED_HOLD)
        if self.model.forced_hold_until is None:
            raise GuardFailed("no_forced_hold", "no forced activation holds the customer")
        if facts.overdue_invoices:
            raise GuardFailed(
                "forced_hold_debt_unpaid", f"{facts.overdue_invoices} open invoice(s) still past due: the hold stands"
            )

    def check_reschedule_return(self, request: TransitionRequest, facts: CustomerFacts) -> None:
        """Change (a date) or clear (None) the return date of a suspension at the customer's request."""
        if self.model.inactivation_reason != InactivationReason.CUSTOMER_REQUEST:
            raise GuardFailed(
                "return_date_requires_customer_request",
                "only a customer suspended at their own request has a return date",
            )
        _check_kept_status_request(request, CustomerEvent.RESCHEDULE_RETURN)
        if request.until is not None:
            self._check_return_date(request.until, facts)

    # -- the collection ladder --

    def check_advance_stage(self, request: TransitionRequest, facts: CustomerFacts) -> None:
        """A later step of the ladder, and only the one its rule asks for on the locked facts: an
        old request (the debt paid since, or a later step taken) is refused."""
        _check_kept_status_request(request, CustomerEvent.ADVANCE_STAGE)
        if not request.automatic:
            raise GuardFailed("stage_is_automatic", "the ladder's steps are taken by the scheduler only")
        _check_not_frozen(facts)
        try:
            wanted = DelinquencyStage(request.stage or "")
        except ValueError:
            raise GuardFailed("stage_unknown", f"unknown delinquency stage {request.stage!r}") from None
        if wanted is DelinquencyStage.NONE or stage_rank(wanted) <= stage_rank(self.model.delinquency_stage):
            raise GuardFailed(
                "stage_not_later",
                f"the customer is at stage {self.model.delinquency_stage}; {wanted} is not a later step",
            )
        if facts.stage_due != wanted:
            raise GuardFailed(
                "stage_not_due", f"the ladder's rule asks for stage {facts.stage_due or 'none'}, not {wanted}"
            )

    def check_clear_stage(self, request: TransitionRequest, facts: CustomerFacts) -> None:
        """Back to the plan: a payment that leaves nothing past due (reason payment_received), or
        the rule no longer asking for any step (exempt, a hold, less than the minimum; reason
        delinquency)."""
        _check_kept_status_request(request, CustomerEvent.CLEAR_STAGE)
        if self.model.delinquency_stage == DelinquencyStage.NONE:
            raise GuardFailed("no_stage", "the customer is at no stage of the ladder")
        if request.reason == ActivationReason.PAYMENT_RECEIVED:
            if facts.overdue_invoices:
                raise GuardFailed(
                    "stage_debt_unpaid", f"{facts.overdue_invoices} open invoice(s) still past due: the stage stands"
                )
        elif facts.stage_due != DelinquencyStage.NONE:
            raise GuardFailed("stage_still_due", f"the ladder's rule still asks for stage {facts.stage_due}")

    def check_acknowledge_notice(self, request: TransitionRequest, facts: CustomerFacts) -> None:
        """ "Continuar navegando": the notice stage's login leaves the list for a while."""
        _check_kept_status_request(request, CustomerEvent.ACKNOWLEDGE_NOTICE)
        if self.model.delinquency_stage != DelinquencyStage.NOTICE:
            raise GuardFailed("not_on_notice", "the customer is not at the notice stage")
        if facts.now is None:
            raise GuardFailed("notice_clock", "an acknowledgement needs the current time")
        snoozed = self.model.notice_snoozed_until
        if snoozed is not None:  # off the list until resume_notice puts it back, as profile_for reads it
            raise GuardFailed("notice_already_acknowledged", f"the notice is off until {snoozed.isoformat()}")

    def check_resume_notice(self, request: TransitionRequest, facts: CustomerFacts) -> None:
        _check_kept_status_request(request, CustomerEvent.RESUME_NOTICE)
        snoozed = self.model.notice_snoozed_until
        if snoozed is None:
            raise GuardFailed("notice_not_acknowledged", "the notice was not acknowledged")
        if facts.now is None or snoozed > facts.now:
            raise GuardFailed("notice_snooze_not_over", f"the notice stays off until {snoozed.isoformat()}")

    def _held(self, facts: CustomerFacts) -> bool:
        return facts.today is not None and is_held(self.model.forced_hold_until, facts.today)

    # -- actions: record intents and update the model's own fields, no I/O --

    def _leave_the_ladder(self) -> None:
        self.model.delinquency_stage = DelinquencyStage.NONE.value
        self.model.notice_snoozed_until = None

    def on_inactivate(self, request: TransitionRequest) -> None:
        self._leave_the_ladder()  # the cut is the ladder's last step; an activation starts afresh
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
        self._leave_the_ladder()
        self.effects = list(EFFECTS[CustomerEvent.ACTIVATE])

    def on_end_trust_unlock(self, facts: CustomerFacts) -> None:
        self.model.trust_unlock_until = None
        if self.model.status == CustomerStatus.ACTIVE and not facts.overdue_invoices:
            self.model.trust_unlocks_used = 0  # paid during the unlock: the episode is over

    def on_end_forced_hold(self) -> None:
        self.model.forced_hold_until = None

    def on_reschedule_return(self, request: TransitionRequest) -> None:
        self.model.return_on = request.until

    def on_advance_stage(self, request: TransitionRequest) -> None:
        self.model.delinquency_stage = DelinquencyStage(request.stage or "").value
        self.model.notice_snoozed_until = None  # an acknowledgement was for the step it leaves
        self.effects = list(EFFECTS[CustomerEvent.ADVANCE_STAGE])

    def on_clear_stage(self) -> None:
        self._leave_the_ladder()
        self.effects = list(EFFECTS[CustomerEvent.CLEAR_STAGE])

    def on_acknowledge_notice(self, facts: CustomerFacts) -> None:
        if facts.now is None:  # check_acknowledge_notice requires it
            raise ValueError("an acknowledgement needs the current time")
        self.model.notice_snoozed_until = facts.now + facts.notice_snooze

    def on_resume_notice(self) -> None:
        self.model.notice_snoozed_until = None


# The one reason each change that keeps the status is recorded with (its history row's `reason`).
KEPT_STATUS_REASONS: dict[CustomerEvent, str] = {
    CustomerEvent.END_TRUST_UNLOCK: ActivationReason.TRUST_UNLOCK.value,  # what ends
    CustomerEvent.END_FORCED_HOLD: ActivationReason.PAYMENT_RECEIVED.value,  # a payment or cancellation
    CustomerEvent.RESCHEDULE_RETURN: InactivationReason.CUSTOMER_REQUEST.value,  # the suspension it changes
    CustomerEvent.ADVANCE_STAGE: InactivationReason.DELINQUENCY.value,
    CustomerEvent.CLEAR_STAGE: ActivationReason.PAYMENT_RECEIVED.value,  # or delinquency: ALSO_RECORDED_WITH
    CustomerEvent.ACKNOWLEDGE_NOTICE: InactivationReason.DELINQUENCY.value,
    CustomerEvent.RESUME_NOTICE: InactivationReason.DELINQUENCY.value,
}
# A step back to the plan that is not a payment: the rule stopped asking for it (exempt, a hold).
ALSO_RECORDED_WITH: dict[CustomerEvent, frozenset[str]] = {
    CustomerEvent.CLEAR_STAGE: frozenset({InactivationReason.DELINQUENCY.value}),
}


def _check_not_frozen(facts: CustomerFacts) -> None:
    """No automatic cut, and no step of the ladder, while a freeze holds; people and payments
    are not frozen."""
    if facts.frozen is not None:
        raise GuardFailed("cuts_frozen", facts.frozen.describe())


def _check_kept_status_request(request: TransitionRequest, event: CustomerEvent) -> None:
    expected = KEPT_STATUS_REASONS[event]
    if request.reason != expected and request.reason not in ALSO_RECORDED_WITH.get(event, ()):
        raise InvalidReason(f"'{event}' is recorded with the reason {expected!r}, not {request.reason!r}")
    if request.stage is not None and event is not CustomerEvent.ADVANCE_STAGE:
        raise GuardFailed("stage_only_for_advance", "a stage goes with advance_stage")
    if request.force:
        raise GuardFailed("force_not_applicable", "force applies only to activation")
    if request.days is not None:
        raise GuardFailed("days_only_for_trust_unlock", "days go with the reason 'trust_unlock'")
    if request.hold_until is not None:
        raise GuardFailed("hold_requires_forced_activation", "hold_until goes with a forced activation")
    if request.until is not None and event is not CustomerEvent.RESCHEDULE_RETURN:
        raise GuardFailed("until_only_for_suspension", "a return date goes with a suspension")


# A step of the ladder tells billing; the customer's logins follow every change of the ladder
# (usecases/ladder.py moves them to the stage's group in the same transaction).
LADDER_STEPS = frozenset({CustomerEvent.ADVANCE_STAGE, CustomerEvent.CLEAR_STAGE})
LADDER_EVENTS = LADDER_STEPS | {CustomerEvent.ACKNOWLEDGE_NOTICE, CustomerEvent.RESUME_NOTICE}


def _effects_of(transition, event: CustomerEvent) -> tuple[Effect, ...]:
    """A change of status brings services and invoicing in line with the new status (the local
    effects ALIGNMENT names for it, services first), then tells billing; a change that keeps the
    status has nothing to bring in line, and a step of the ladder only tells billing."""
    if transition.target is transition.source:
        return (Effect.NOTIFY_STAGE,) if event in LADDER_STEPS else ()
    return (*ALIGNMENT[CustomerStatus(transition.target.value)].local_effects, Effect.NOTIFY_BILLING)


# The effects each event queues, derived from the machine's transitions and the domain's ALIGNMENT.
EFFECTS: dict[CustomerEvent, tuple[Effect, ...]] = {
    CustomerEvent(event): _effects_of(transition, CustomerEvent(event))
    for state in CustomerLifecycle.states
    for transition in state.transitions
    for event in transition.events
}
# The events that keep the customer's status (no change of status_changed_at).
KEEPS_STATUS = frozenset(
    CustomerEvent(event)
    for state in CustomerLifecycle.states
    for transition in state.transitions
    if transition.target is transition.source
    for event in transition.events
)


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
            f"stored status {value!r} is not a lifecycle state ({known}); fix the record before changing it"
        )


def mermaid_diagram() -> str:
    return format(CustomerLifecycle, "mermaid").rstrip() + "\n"
