"""/api/v1/effects: admins see and retry effects."""

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session

from ..domain.vocabulary import EffectState
from ..usecases import effects
from .auth import Principal, is_admin
from .customers import PROBLEMS
from .fields import IdValue, RowId
from .idempotency import Idempotent, idempotent
from .schemas import EffectDetail, EffectPage

router = APIRouter(prefix="/api/v1/effects", tags=["effects"])


@router.get("", response_model=EffectPage, responses=PROBLEMS)
def list_effects(
    request: Request,
    state: EffectState | None = Query(None),
    customer_id: IdValue | None = Query(None),
    limit: int = Query(100, ge=1, le=1000),
    _: Principal = Depends(is_admin),
):
    with request.app.state.db.read() as session:
        items = effects.list_effects(session, state.value if state else None, customer_id, limit)
        return EffectPage(items=[EffectDetail.of(e) for e in items])


@router.post("/{effect_id}/retry", response_model=EffectDetail, responses=PROBLEMS)
def retry_effect(effect_id: RowId, principal: Principal = Depends(is_admin), idem: Idempotent = Depends(idempotent)):
    def handler(session: Session) -> dict:
        effect = effects.retry_effect(session, effect_id, principal.actor.name)
        return EffectDetail.of(effect).model_dump(mode="json")

    return idem.run(200, handler)
