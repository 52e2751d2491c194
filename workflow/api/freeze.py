"""/api/v1/freeze: the freeze of automatic cuts. Anyone signed in reads it; admins freeze and lift."""

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from ..domain.vocabulary import Source
from ..usecases import freeze, freeze_views
from .auth import Principal, can_read, is_admin
from .customers import PROBLEMS
from .fields import IsoDate, Text
from .schemas import Strict

router = APIRouter(prefix="/api/v1/freeze", tags=["freeze"])


class FreezeIn(Strict):
    reason: Text = Field(min_length=1, max_length=freeze.REASON_MAX_CHARS, description="Why the cuts are frozen")
    until: IsoDate | None = Field(
        None, description="The last day the freeze holds (provider's date, today or later); omitted: until lifted"
    )


class LiftOut(freeze_views.FreezeStateOut):
    lifted: bool = Field(description="A freeze was lifted now; false: there was none (nothing was recorded)")


@router.get("", response_model=freeze_views.FreezeStateOut, responses=PROBLEMS)
def show(request: Request, _: Principal = Depends(can_read)):
    """Whether automatic cuts (the sweep, the end of a trust unlock, the ladder's steps) are frozen,
    by whom and why, and the last changes."""
    return freeze_views.current_state(request.app.state.db)


@router.put("", response_model=freeze_views.FreezeStateOut, responses=PROBLEMS)
def freeze_cuts(request: Request, body: FreezeIn, principal: Principal = Depends(is_admin)):
    """Freeze the automatic cuts, or change the reason or last day of the freeze. People still
    inactivate by hand and payments still reactivate. Sending the same freeze again records nothing."""
    db = request.app.state.db
    freeze.freeze_cuts(db, body.reason, body.until, principal.actor.name, Source.API)
    return freeze_views.current_state(db)


@router.delete("", response_model=LiftOut, responses=PROBLEMS)
def lift(request: Request, principal: Principal = Depends(is_admin)):
    """Lift the freeze: the next sweep cuts as usual."""
    db = request.app.state.db
    lifted = freeze.lift_freeze(db, principal.actor.name, Source.API) is not None
    return LiftOut(**freeze_views.current_state(db).model_dump(), lifted=lifted)
