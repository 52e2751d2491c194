"""/api/v1/nas: the routers (NAS) FreeRADIUS serves and Ativa sends CoA/Disconnect to. Admins
change them; every role reads them. The secret is write-only: no response carries it."""

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from ..usecases import routers
from .auth import Principal, can_read, is_admin
from .customers import PROBLEMS
from .fields import RowId
from .idempotency import Idempotent, idempotent
from .schemas import RouterIn, RouterOut, RouterPage, RouterPatch

router = APIRouter(prefix="/api/v1/nas", tags=["nas"])


def _db(request: Request):
    return request.app.state.db


@router.post("", status_code=201, response_model=RouterOut, responses=PROBLEMS)
def create_router(body: RouterIn, _: Principal = Depends(is_admin), idem: Idempotent = Depends(idempotent)):
    def handler(session: Session) -> dict:
        draft = routers.RouterDraft(**body.model_dump(mode="json"))
        return RouterOut.of(routers.create_router(session, draft)).model_dump(mode="json")

    return idem.run(201, handler)


@router.get("", response_model=RouterPage, responses=PROBLEMS)
def list_routers(request: Request, _: Principal = Depends(can_read)):
    with _db(request).read() as session:
        return RouterPage(items=[RouterOut.of(r) for r in routers.list_routers(session)])


@router.get("/{router_id}", response_model=RouterOut, responses=PROBLEMS)
def get_router(router_id: RowId, request: Request, _: Principal = Depends(can_read)):
    with _db(request).read() as session:
        return RouterOut.of(routers.get_router(session, router_id))


@router.patch("/{router_id}", response_model=RouterOut, responses=PROBLEMS)
def update_router(router_id: RowId, body: RouterPatch, request: Request, _: Principal = Depends(is_admin)):
    changes = routers.RouterChanges(**body.model_dump(mode="json", exclude_unset=True))
    with _db(request).write() as session:
        return RouterOut.of(routers.update_router(session, router_id, changes))


@router.delete("/{router_id}", status_code=204, responses=PROBLEMS)
def delete_router(router_id: RowId, request: Request, _: Principal = Depends(is_admin)) -> Response:
    with _db(request).write() as session:
        routers.delete_router(session, router_id)
    return Response(status_code=204)
