"""/api/v1/customers: the register, its transitions, history and services."""

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session

from ..domain.customer_machine import TransitionRequest
from ..domain.vocabulary import CustomerEvent, CustomerStatus, Source
from ..usecases import customer_services, customers, history, standing, timers, transitions
from ..usecases.business_day import provider_today
from .auth import Principal, can_read, can_write
from .fields import Line, RowId
from .idempotency import Idempotent, idempotent
from .schemas import (
    ActivateIn,
    CustomerIn,
    CustomerOut,
    CustomerPage,
    CustomerPatch,
    EditResult,
    HistoryPage,
    InactivateIn,
    ReturnDateIn,
    ServiceIn,
    ServiceOut,
    ServicePage,
    StandingOut,
    TransitionOut,
    TransitionResult,
)

router = APIRouter(prefix="/api/v1/customers", tags=["customers"])

CustomerId = RowId

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": "problem+json", "content": {"application/problem+json": {}}}
    for status in (401, 403, 404, 409, 413, 422)
}


def _db(request: Request):
    return request.app.state.db


@router.post("", status_code=201, response_model=CustomerOut, responses=PROBLEMS)
def create_customer(
    body: CustomerIn,
    _: Principal = Depends(can_write),
    idem: Idempotent = Depends(idempotent),
):
    def handler(session: Session) -> dict:
        customer = customers.create_customer(session, customers.CustomerDraft(**body.model_dump()))
        return CustomerOut.of(customer).model_dump(mode="json")

    return idem.run(201, handler)


@router.get("", response_model=CustomerPage, responses=PROBLEMS)
def list_customers(
    request: Request,
    status: CustomerStatus | None = Query(None),
    delinquency_stage: Literal["none", "notice", "reduced", "cut"] | None = Query(
        None, description="The collection ladder's stage, as standing gives it (cut: inactive for delinquency)"
    ),
    q: Line | None = Query(None, max_length=200, description="name, CPF/CNPJ, external_ref or e-mail"),
    limit: int = Query(50, ge=1, le=customers.MAX_PAGE),
    cursor: Line | None = Query(None, max_length=100),
    _: Principal = Depends(can_read),
):
    with _db(request).read() as session:
        items, next_cursor = customers.list_customers(
            session,
            status=status.value if status else None,
            q=q,
            limit=limit,
            cursor=cursor,
            stage=delinquency_stage,
        )
        return CustomerPage(items=[CustomerOut.of(c) for c in items], next_cursor=next_cursor)


@router.get("/{customer_id}", response_model=CustomerOut, responses=PROBLEMS)
def get_customer(customer_id: CustomerId, request: Request, _: Principal = Depends(can_read)):
    with _db(request).read() as session:
        return CustomerOut.of(customers.get_customer(session, customer_id))


@router.patch("/{customer_id}", response_model=EditResult, responses=PROBLEMS)
def edit_customer(
    customer_id: CustomerId, body: CustomerPatch, request: Request, principal: Principal = Depends(can_write)
):
    fields = body.model_dump(exclude_unset=True, include=set(customers.EDITABLE_FIELDS))
    edit = customers.CustomerEdit(
        changes=fields,
        status=body.status.value if body.status else None,
        reason=body.reason.value if body.reason else None,
        note=body.note,
        force=body.force,
        version=body.version,
        hold_until=body.hold_until,
    )
    with _db(request).write() as session:
        outcome = customers.edit_customer(session, customer_id, edit, principal.actor, Source.API)
        transition = (
            TransitionOut.of(outcome.transition.transition, outcome.transition.effects) if outcome.transition else None
        )
        return EditResult(customer=CustomerOut.of(outcome.customer), transition=transition)


def _transition(customer_id: int, event: CustomerEvent, body, principal: Principal, idem: Idempotent):
    request = TransitionRequest(
        body.reason.value,
        body.note,
        force=body.force,
        actor_role=principal.role,
        days=getattr(body, "days", None),
        until=getattr(body, "until", None),
        hold_until=getattr(body, "hold_until", None),
    )

    def handler(session: Session) -> dict:
        outcome = transitions.transition_customer(session, customer_id, event, request, principal.actor, Source.API)
        return TransitionResult(
            customer=CustomerOut.of(outcome.customer),
            transition=TransitionOut.of(outcome.transition, outcome.effects),
        ).model_dump(mode="json")

    return idem.run(200, handler)


@router.post("/{customer_id}/inactivate", response_model=TransitionResult, responses=PROBLEMS)
def inactivate(
    customer_id: CustomerId,
    body: InactivateIn,
    principal: Principal = Depends(can_write),
    idem: Idempotent = Depends(idempotent),
):
    return _transition(customer_id, CustomerEvent.INACTIVATE, body, principal, idem)


@router.post("/{customer_id}/activate", response_model=TransitionResult, responses=PROBLEMS)
def activate(
    customer_id: CustomerId,
    body: ActivateIn,
    principal: Principal = Depends(can_write),
    idem: Idempotent = Depends(idempotent),
):
    return _transition(customer_id, CustomerEvent.ACTIVATE, body, principal, idem)


@router.get("/{customer_id}/standing", response_model=StandingOut, responses=PROBLEMS)
def customer_standing(customer_id: CustomerId, request: Request, _: Principal = Depends(can_read)):
    """Status and why, overdue invoices, the next automatic action, whether a trust unlock is allowed."""
    settings = request.app.state.settings
    with _db(request).read() as session:
        return standing.standing(session, customer_id, settings, provider_today(settings.timezone))


@router.post("/{customer_id}/return-date", response_model=CustomerOut, responses=PROBLEMS)
def change_return_date(
    customer_id: CustomerId,
    body: ReturnDateIn,
    request: Request,
    principal: Principal = Depends(can_write),
    idem: Idempotent = Depends(idempotent),
):
    """Change or clear (`until: null`) the return date of a suspension at the customer's request."""
    today = provider_today(request.app.state.settings.timezone)

    def handler(session: Session) -> dict:
        customer = timers.set_return_date(session, customer_id, body.until, today, principal.actor, Source.API)
        return CustomerOut.of(customer).model_dump(mode="json")

    return idem.run(200, handler)


@router.get("/{customer_id}/history", response_model=HistoryPage, responses=PROBLEMS)
def customer_history(
    customer_id: CustomerId,
    request: Request,
    limit: int = Query(100, ge=1, le=500),
    _: Principal = Depends(can_read),
):
    with _db(request).read() as session:
        rows = history.customer_history(session, customer_id, limit)
        return HistoryPage(items=[TransitionOut.of(t, t.effects) for t in rows])


@router.post("/{customer_id}/services", status_code=201, response_model=ServiceOut, responses=PROBLEMS)
def add_service(
    customer_id: CustomerId,
    body: ServiceIn,
    _: Principal = Depends(can_write),
    idem: Idempotent = Depends(idempotent),
):
    def handler(session: Session) -> dict:
        access = customer_services.Access(body.login, body.password, body.plan_id)
        service = customer_services.add_service(session, customer_id, body.name, body.external_ref, access)
        return ServiceOut.of(service).model_dump(mode="json")

    return idem.run(201, handler)


@router.get("/{customer_id}/services", response_model=ServicePage, responses=PROBLEMS)
def list_services(customer_id: CustomerId, request: Request, _: Principal = Depends(can_read)):
    with _db(request).read() as session:
        items = customer_services.list_services(session, customer_id)
        return ServicePage(items=[ServiceOut.of(s) for s in items])
