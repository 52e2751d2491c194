"""/api/v1/plans: speed plans (each a FreeRADIUS group). Every role reads them; admins change them."""

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from ..usecases import plans
from .auth import Principal, can_read, is_admin
from .customers import PROBLEMS
from .fields import RowId
from .idempotency import Idempotent, idempotent
from .schemas import PlanIn, PlanOut, PlanPage, PlanPatch

router = APIRouter(prefix="/api/v1/plans", tags=["plans"])


def _db(request: Request):
    return request.app.state.db


@router.post("", status_code=201, response_model=PlanOut, responses=PROBLEMS)
def create_plan(body: PlanIn, _: Principal = Depends(is_admin), idem: Idempotent = Depends(idempotent)):
    def handler(session: Session) -> dict:
        plan = plans.create_plan(session, body.name, body.download_kbps, body.upload_kbps)
        return PlanOut.of(plan, 0).model_dump(mode="json")

    return idem.run(201, handler)


@router.get("", response_model=PlanPage, responses=PROBLEMS)
def list_plans(request: Request, _: Principal = Depends(can_read)):
    with _db(request).read() as session:
        return PlanPage(items=[PlanOut.of(plan, used) for plan, used in plans.list_plans(session)])


@router.get("/{plan_id}", response_model=PlanOut, responses=PROBLEMS)
def get_plan(plan_id: RowId, request: Request, _: Principal = Depends(can_read)):
    with _db(request).read() as session:
        plan = plans.get_plan(session, plan_id)
        return PlanOut.of(plan, plans.services_on(session, [plan.id]).get(plan.id, 0))


@router.patch("/{plan_id}", response_model=PlanOut, responses=PROBLEMS)
def update_plan(plan_id: RowId, body: PlanPatch, request: Request, _: Principal = Depends(is_admin)):
    """Rename, change the rates (live sessions get them by CoA) or retire/unretire a plan."""
    with _db(request).write() as session:
        plan = plans.update_plan(session, plan_id, plans.PlanChanges(**body.model_dump(exclude_unset=True)))
        return PlanOut.of(plan, plans.services_on(session, [plan.id]).get(plan.id, 0))


@router.delete("/{plan_id}", status_code=204, responses=PROBLEMS)
def delete_plan(plan_id: RowId, request: Request, _: Principal = Depends(is_admin)) -> Response:
    """Only a plan no service (of any status) uses; otherwise 409 in_use: retire it instead."""
    with _db(request).write() as session:
        plans.delete_plan(session, plan_id)
    return Response(status_code=204)
