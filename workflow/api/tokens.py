"""/api/v1/tokens: admins list and revoke API tokens.

Creation stays in the CLI (`ativa tokens create`): a token is shown once, and an API replay
of its creation would have to store it.
"""

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from ..usecases import tokens
from .auth import Principal, is_admin
from .customers import PROBLEMS
from .fields import RowId
from .idempotency import Idempotent, idempotent
from .schemas import TokenOut

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])


@router.get("", response_model=dict[str, list[TokenOut]], responses=PROBLEMS)
def list_tokens(request: Request, _: Principal = Depends(is_admin)):
    with request.app.state.db.read() as session:
        return {"items": [TokenOut.of(t) for t in tokens.list_tokens(session)]}


@router.post("/{token_id}/revoke", response_model=TokenOut, responses=PROBLEMS)
def revoke_token(token_id: RowId, _: Principal = Depends(is_admin), idem: Idempotent = Depends(idempotent)):
    def handler(session: Session) -> dict:
        return TokenOut.of(tokens.revoke_token(session, token_id)).model_dump(mode="json")

    return idem.run(200, handler)
