"""A service of a customer (a plan, a connection): active ⇄ suspended, either → cancelled."""

from statemachine import State, StateMachine

from .errors import CustomerInactive, GuardFailed, UnknownStoredStatus
from .vocabulary import SuspensionCause


class ServiceLifecycle(StateMachine):
    active = State("Ativo", value="active", initial=True)
    suspended = State("Suspenso", value="suspended")
    cancelled = State("Cancelado", value="cancelled", final=True)

    suspend = active.to(suspended, validators="check_suspension")
    resume = suspended.to(active, validators="check_resume")
    cancel = active.to(cancelled) | suspended.to(cancelled)

    def __init__(self, service):
        if service.status not in self.states_map:
            raise UnknownStoredStatus(
                f"stored service status {service.status!r} is not one of: "
                f"{', '.join(map(str, self.states_map))}; fix the record before changing it"
            )
        super().__init__(model=service, state_field="status")

    def check_suspension(self, cause: SuspensionCause, note: str | None = None) -> None:
        if cause is SuspensionCause.MANUAL and not (note and note.strip()):
            raise GuardFailed("reason_required", "suspending a service needs a reason")

    def check_resume(self, customer_active: bool) -> None:
        if not customer_active:
            raise CustomerInactive("the customer is inactive: activate the customer to restore its services")

    def on_suspend(self, cause: SuspensionCause, note: str | None = None) -> None:
        self.model.suspension_cause = cause.value
        self.model.suspension_note = note.strip() if note else None

    def on_resume(self) -> None:
        self.model.suspension_cause = None
        self.model.suspension_note = None
