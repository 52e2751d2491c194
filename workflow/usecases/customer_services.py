"""Services of a customer (plans, connections) and their own small lifecycle. A service with a
RADIUS login keeps FreeRADIUS in line in the same transaction (radius/enforcement.py)."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from statemachine.exceptions import TransitionNotAllowed as MachineRefused

from ..db.models import Plan, Service
from ..db.types import utcnow
from ..domain import limits, radius
from ..domain.errors import (
    CustomerInactive,
    DuplicateExternalRef,
    DuplicateLogin,
    InvalidInput,
    NotFound,
    TransitionNotAllowed,
)
from ..domain.service_machine import ServiceLifecycle
from ..domain.vocabulary import CustomerStatus, Effect, ServiceEvent, ServiceStatus, SuspensionCause
from ..settings import get_settings
from .customer_locks import lock_customer
from .customers import get_customer
from .effect_bus import publish_after_commit
from .radius.enforcement import services_changed


@dataclass(frozen=True)
class Access:
    """A service's RADIUS access as given: a login needs a plan and a password. Never logged."""

    login: str | None = None
    password: str | None = None
    plan_id: int | None = None

    def __repr__(self) -> str:
        return f"Access(login={self.login!r}, plan_id={self.plan_id!r})"


def add_service(
    session: Session, customer_id: int, name: str, external_ref: str | None = None, access: Access | None = None
) -> Service:
    access = access or Access()
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
    _check_access(session, access)
    now = utcnow()
    service = Service(
        customer_id=customer_id,
        name=name,
        external_ref=ref,
        status=ServiceStatus.ACTIVE.value,
        login=access.login,
        login_key=access.login.lower() if access.login else None,
        radius_password=access.password,
        plan_id=access.plan_id,
        created_at=now,
        updated_at=now,
    )
    try:
        # Added inside the savepoint: begin_nested() flushes what is pending before it starts, and a
        # failed insert there would break the whole transaction instead of the savepoint.
        with session.begin_nested():
            session.add(service)
            session.flush()
    except IntegrityError:
        # A race the checks above could not see: the same login or reference added at once, or
        # the plan deleted meanwhile (its row lock made this insert wait for the delete).
        if access.plan_id is not None and session.scalar(select(Plan.id).where(Plan.id == access.plan_id)) is None:
            raise InvalidInput(f"plan {access.plan_id} does not exist") from None
        if access.login and _login_holder(session, access.login) is not None:
            raise DuplicateLogin(f"login {access.login!r} is already taken (logins ignore letter case)") from None
        raise DuplicateExternalRef(f"a service with external_ref {ref!r} already exists") from None
    _enforce(session, service)
    return service


def _check_access(session: Session, access: Access) -> None:
    if access.login is None:
        if access.password is not None:
            raise InvalidInput("a password needs a login")
        if access.plan_id is not None:
            _usable_plan(session, access.plan_id)
        return
    radius.check_login(access.login)
    if access.password is None or access.plan_id is None:
        raise InvalidInput("a service with a login needs a password and a plan_id")
    radius.check_password(access.password)
    _usable_plan(session, access.plan_id)
    if _login_holder(session, access.login) is not None:
        raise DuplicateLogin(f"login {access.login!r} is already taken (logins ignore letter case)")


def _login_holder(session: Session, login: str) -> int | None:
    return session.scalar(select(Service.id).where(Service.login_key == login.lower()))


def _usable_plan(session: Session, plan_id: int) -> Plan:
    plan = session.get(Plan, plan_id) if 1 <= plan_id <= limits.MAX_ROW_ID else None
    if plan is None:
        raise InvalidInput(f"plan {plan_id} does not exist")
    if plan.retired_at is not None:
        raise InvalidInput(f"plan {plan_id} ({plan.name}) is retired: choose another plan")
    return plan


def _enforce(session: Session, service: Service, effect: Effect = Effect.RADIUS_DISCONNECT) -> None:
    """FreeRADIUS's rows for the service's login in this transaction, and its session effect."""
    queued = services_changed(session.connection(), get_settings(), [service.id], effect, origin="service")
    publish_after_commit(session, [effect_id for effect_id, _ in queued])


def list_services(session: Session, customer_id: int) -> list[Service]:
    get_customer(session, customer_id)
    return list(session.scalars(select(Service).where(Service.customer_id == customer_id).order_by(Service.id)))


def _locked_service(session: Session, service_id: int, customer_id: int | None = None):
    """The service and its owner, locked; `customer_id` given: only a service of that customer
    (a forged address naming another customer's service finds nothing)."""
    service = session.get(Service, service_id)
    if service is None or (customer_id is not None and service.customer_id != customer_id):
        raise NotFound(f"service {service_id} does not exist")
    # Lock the owner first (same order as customer transitions), then re-read the service.
    customer = lock_customer(session, service.customer_id)
    session.refresh(service)
    return service, customer


def change_service(
    session: Session,
    service_id: int,
    event: ServiceEvent,
    reason: str | None = None,
    *,
    customer_id: int | None = None,
) -> Service:
    """Suspend, resume or cancel a service (of `customer_id`'s services only, when given)."""
    limits.check_text("reason", reason, multiline=True)
    service, customer = _locked_service(session, service_id, customer_id)
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
    _enforce(session, service)
    return service


def update_service(
    session: Session, service_id: int, *, plan_id: int | None = None, password: str | None = None
) -> Service:
    """A new plan (its live sessions get the new rate by CoA) or a new password (they are dropped,
    so the customer's router logs in again with it)."""
    if plan_id is None and password is None:
        raise InvalidInput("nothing to change: give plan_id and/or password")
    service, _ = _locked_service(session, service_id)
    if service.status == ServiceStatus.CANCELLED:
        raise TransitionNotAllowed(f"service {service_id} is cancelled; it cannot be changed")
    if password is not None:
        if service.login is None:
            raise InvalidInput("this service has no login: a password needs one")
        radius.check_password(password)
    plan_changed = plan_id is not None and plan_id != service.plan_id
    if plan_id is not None:
        _usable_plan(session, plan_id)
    password_changed = password is not None and password != service.radius_password
    if not (plan_changed or password_changed):
        return service
    try:
        with session.begin_nested():  # the changes inside it: a plan deleted meanwhile fails here alone
            if plan_changed:
                service.plan_id = plan_id
            if password_changed:
                service.radius_password = password
            service.updated_at = utcnow()
            session.flush()
    except IntegrityError:
        raise InvalidInput(f"plan {plan_id} does not exist") from None
    # A new password drops the session (it was authenticated with the old one); a new plan alone
    # only needs the new rate.
    _enforce(session, service, Effect.RADIUS_DISCONNECT if password_changed else Effect.RADIUS_COA)
    return service
