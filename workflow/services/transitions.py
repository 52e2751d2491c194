"""What happens when a customer is inactivated or activated.

One call = one transaction (opened by the caller with Database.write()): lock the customer row,
let the machine decide, then append the history row and one outbox row per effect. Workers carry
the effects out after commit.
"""

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session
from statemachine.exceptions import TransitionNotAllowed as MachineRefused

from ..db.models import Customer, OutboxEffect, StatusChange
from ..db.types import utcnow
from ..domain.customer_machine import CustomerFacts, CustomerLifecycle, TransitionRequest
from ..domain.errors import NotFound, StaleVersion, TransitionNotAllowed
from ..domain.vocabulary import CustomerEvent, EffectState, Role, Source
from .clock import provider_today
from .invoices import count_overdue_invoices


@dataclass(frozen=True)
class Actor:
    name: str  # "token:ops-bot", "cli:maria", "user:joao"
    role: Role


@dataclass
class TransitionOutcome:
    customer: Customer
    transition: StatusChange
    effects: list[OutboxEffect]


def lock_customer(session: Session, customer_id: int) -> Customer:
    """Load the customer under a row lock (a no-op on SQLite, whose unit already holds the write lock)."""
    customer = session.scalar(
        select(Customer).where(Customer.id == customer_id).with_for_update()
    )
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist")
    return customer


def check_version(customer: Customer, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != customer.version:
        raise StaleVersion(
            f"customer {customer.id} is at version {customer.version}, not {expected_version}: "
            "someone saved it in between; reload and try again"
        )


def transition_customer(
    session: Session,
    customer_id: int,
    event: CustomerEvent,
    request: TransitionRequest,
    actor: Actor,
    source: Source,
    *,
    expected_version: int | None = None,
    today: date | None = None,
) -> TransitionOutcome:
    customer = lock_customer(session, customer_id)
    check_version(customer, expected_version)
    return apply_transition(session, customer, event, request, actor, source, today=today)


def apply_transition(
    session: Session,
    customer: Customer,
    event: CustomerEvent,
    request: TransitionRequest,
    actor: Actor,
    source: Source,
    *,
    today: date | None = None,
) -> TransitionOutcome:
    """Run the machine on a customer already locked by the caller, and record the result."""
    machine = CustomerLifecycle(customer)  # refuses an unknown stored status
    facts = CustomerFacts(
        overdue_invoices=count_overdue_invoices(session, customer.id, today or provider_today())
    )
    from_status = customer.status
    try:
        machine.send(event.value, request=request, facts=facts)
    except MachineRefused:
        raise TransitionNotAllowed(
            f"customer {customer.id} is already {from_status}; '{event}' is not allowed and "
            "nothing was changed"
        ) from None

    now = utcnow()
    customer.status_changed_at = now
    customer.updated_at = now
    customer.version += 1
    change = StatusChange(
        customer_id=customer.id,
        customer_version=customer.version,
        event=event.value,
        from_status=from_status,
        to_status=customer.status,
        reason=request.reason,
        note=request.note.strip() if request.note and request.note.strip() else None,
        forced=machine.forced,
        actor=actor.name,
        source=source.value,
        created_at=now,
    )
    session.add(change)
    session.flush()
    effects = [
        OutboxEffect(
            transition_id=change.id,
            customer_id=customer.id,
            name=effect.value,
            state=EffectState.PENDING.value,
            created_at=now,
        )
        for effect in machine.effects
    ]
    session.add_all(effects)
    session.flush()
    return TransitionOutcome(customer, change, effects)
