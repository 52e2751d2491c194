"""What a customer's status means for its services and invoicing, and which local effect brings
each in line with it: the one table the local effects apply, the reconciler checks drift against,
and the machine's EFFECTS are derived from (domain/customer_machine.py: a change of status queues the
local effects of the status it leads to, then the billing notification)."""

from dataclasses import dataclass

from .vocabulary import CustomerStatus, Effect, ServiceStatus, SuspensionCause


@dataclass(frozen=True)
class ServicesInLine:
    """The customer's services that disagree with its status, and what they become."""

    effect: Effect  # the local effect that changes them
    out_of_line: ServiceStatus  # a service in this status disagrees ...
    out_of_line_cause: SuspensionCause | None  # ... when suspended for this cause (None: any)
    becomes: ServiceStatus
    provisioning: Effect  # the call that tells the provisioning system, one per service changed


@dataclass(frozen=True)
class InvoicingInLine:
    effect: Effect  # the local effect that sets it
    enabled: bool


@dataclass(frozen=True)
class StatusAlignment:
    services: ServicesInLine
    invoicing: InvoicingInLine

    @property
    def local_effects(self) -> tuple[Effect, Effect]:
        return self.services.effect, self.invoicing.effect


ALIGNMENT: dict[CustomerStatus, StatusAlignment] = {
    # Inactive: every active service suspended (because of the customer), invoicing paused.
    CustomerStatus.INACTIVE: StatusAlignment(
        ServicesInLine(
            Effect.SUSPEND_SERVICES, ServiceStatus.ACTIVE, None, ServiceStatus.SUSPENDED, Effect.PROVISION_SUSPEND
        ),
        InvoicingInLine(Effect.PAUSE_INVOICING, enabled=False),
    ),
    # Active: the services its inactivation suspended restored (not those an operator suspended
    # by hand), invoicing on.
    CustomerStatus.ACTIVE: StatusAlignment(
        ServicesInLine(
            Effect.RESTORE_SERVICES,
            ServiceStatus.SUSPENDED,
            SuspensionCause.CUSTOMER_INACTIVE,
            ServiceStatus.ACTIVE,
            Effect.PROVISION_RESTORE,
        ),
        InvoicingInLine(Effect.RESUME_INVOICING, enabled=True),
    ),
}

# The status each local effect serves: it acts only while the customer is still in it.
SERVES: dict[Effect, CustomerStatus] = {
    effect: status for status, alignment in ALIGNMENT.items() for effect in alignment.local_effects
}
LOCAL_EFFECTS = frozenset(SERVES)


def alignment_for(status: str) -> StatusAlignment | None:
    """None for a stored value that is not a lifecycle status (the machine refuses it too)."""
    try:
        return ALIGNMENT[CustomerStatus(status)]
    except ValueError:
        return None
