"""/api/v1/services/{id}: one service, outside the customer's lifecycle: suspend, resume, cancel,
and a new plan or RADIUS password (PATCH)."""

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from ..domain.vocabulary import ServiceEvent
from ..usecases import customer_services
from .auth import Principal, can_write
from .customers import PROBLEMS
from .fields import RowId
from .idempotency import Idempotent, idempotent
from .schemas import ServiceOut, ServicePatch, SuspendIn

router = APIRouter(prefix="/api/v1/services", tags=["services"])


def _change(service_id: int, event: ServiceEvent, idem: Idempotent, reason: str | None = None):
    def handler(session: Session) -> dict:
        service = customer_services.change_service(session, service_id, event, reason)
        return ServiceOut.of(service).model_dump(mode="json")

    return idem.run(200, handler)


@router.post("/{service_id}/suspend", response_model=ServiceOut, responses=PROBLEMS)
def suspend(
    service_id: RowId,
    body: SuspendIn,
    _: Principal = Depends(can_write),
    idem: Idempotent = Depends(idempotent),
):
    return _change(service_id, ServiceEvent.SUSPEND, idem, body.reason)


@router.post("/{service_id}/resume", response_model=ServiceOut, responses=PROBLEMS)
def resume(
    service_id: RowId,
    _: Principal = Depends(can_write),
    idem: Idempotent = Depends(idempotent),
):
    return _change(service_id, ServiceEvent.RESUME, idem)


@router.post("/{service_id}/cancel", response_model=ServiceOut, responses=PROBLEMS)
def cancel(
    service_id: RowId,
    _: Principal = Depends(can_write),
    idem: Idempotent = Depends(idempotent),
):
    return _change(service_id, ServiceEvent.CANCEL, idem)


@router.patch("/{service_id}", response_model=ServiceOut, responses=PROBLEMS)
def update_service(
    service_id: RowId, body: ServicePatch, request: Request, _: Principal = Depends(can_write)
) -> ServiceOut:
    """A new plan (live sessions get its rates by CoA) and/or a new password (they are dropped)."""
    with request.app.state.db.write() as session:
        service = customer_services.update_service(session, service_id, plan_id=body.plan_id, password=body.password)
        return ServiceOut.of(service)
