"""Services of a customer (plans, connections) and their own small lifecycle."""

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from statemachine.exceptions import TransitionNotAllowed as MachineRefused

from ..db.models import Service
from ..db.types import utcnow
from ..domain import limits
from ..domain.errors import (
    CustomerInactive,
    DuplicateExternalRef,
    InvalidInput,
    NotFound,
    TransitionNotAllowed,
)
from ..domain.service_machine import ServiceLifecycle
from ..domain.vocabulary import CustomerStatus, ServiceEvent, ServiceStatus, SuspensionCause
from .customer_locks import lock_customer
from .customers import get_customer


def add_service(session: Session, customer_id: int, name: str, external_ref: str | None = None) -> Service:
    # The customer row lock makes this wait for (and see) a concurrent inactivation.
    customer = lock_customer(session, customer_id)
    if customer.status != CustomerStatus.ACTIVE:
        raise CustomerInactive(
            f"customer {customer_id} is {customer.status}: an inactive customer cannot get a new service"
        )
    limits.check_text("name", name)
    limits.check_text("external_ref", external_ref)
    name = (name or "").strip()
    if not name:
        raise InvalidInput("service name must not be empty")
    ref = external_ref.strip() if external_ref and external_ref.strip() else None
    if ref and session.scalar(select(Service.id).where(Service.external_ref == ref)):
        raise DuplicateExternalRef(f"a service with external_ref {ref!r} already exists")
    now = utcnow()
    service = Service(
        customer_id=customer_id,
        name=name,
        external_ref=ref,
        status=ServiceStatus.ACTIVE.value,
        created_at=now,
        updated_at=now,
    )
    session.add(service)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise DuplicateExternalRef(f"a service with external_ref {ref!r} already exists") from None
    return service


def list_services(session: Session, customer_id: int) -> list[Service]:
    get_customer(session, customer_id)
    return list(session.scalars(select(Service).where(Service.customer_id == customer_id).order_by(Service.id)))


def change_service(session: Session, service_id: int, event: ServiceEvent, reason: str | None = None) -> Service:
    limits.check_text("reason", reason, multiline=True)
    service = session.get(Service, service_id)
    if service is None:
        raise NotFound(f"service {service_id} does not exist")
    # Lock the owner first (same order as customer transitions), then re-read the service.
    customer = lock_customer(session, service.customer_id)
    session.refresh(service)
    machine = ServiceLifecycle(service)
    kwargs: dict = {}
    if event is ServiceEvent.SUSPEND:
        kwargs = {"cause": SuspensionCause.MANUAL, "note": reason}
    elif event is ServiceEvent.RESUME:
        kwargs = {"customer_active": customer.status == CustomerStatus.ACTIVE}
    previous = service.status
    try:
        machine.send(event.value, **kwargs)
    except MachineRefused:
        raise TransitionNotAllowed(
            f"service {service_id} is {previous}; '{event}' is not allowed and nothing was changed"
        ) from None
    now = utcnow()
    service.updated_at = now
    if event is ServiceEvent.SUSPEND:
        service.suspended_at = now
    elif event is ServiceEvent.RESUME:
        service.suspended_at = None
    else:
        service.cancelled_at = now
    session.flush()
    return service
