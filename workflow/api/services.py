"""/api/v1/services/{id}/suspend|resume|cancel: one service, outside the customer's lifecycle."""

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from ..domain.vocabulary import ServiceEvent
from ..usecases import customer_services
from .auth import Principal, can_write
from .customers import PROBLEMS
from .fields import RowId
from .idempotency import Idempotent, idempotent
from .schemas import ServiceOut, SuspendIn

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
