"""How the freeze reads outside the use cases: the API's responses and `ativa freeze status --json`
(one schema for both), from what usecases/freeze.py stores."""

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, Field

from ..db.engine import Database
from ..domain.freeze import Freeze, FreezeAction
from .freeze import FreezeChangeView, FreezeState, history, read_state
from .representations import one_of

HISTORY_SHOWN = 20


class FreezeOut(BaseModel):
    """A freeze as recorded."""

    reason: str = Field(description="Why; `payment_silence` when the sweep tripped it by itself")
    until: date | None = Field(description="The last day it holds (provider's date); null: until lifted")
    since: datetime
    actor: str = Field(description="Who froze: `token:<name>`, `user:<name>`, `cli:<login>` or `scheduler`")
    source: str
    automatic: bool = Field(description="Tripped by a payment silence, not by a person")

    @classmethod
    def of(cls, freeze: Freeze | None) -> "FreezeOut | None":
        if freeze is None:
            return None
        return cls(
            reason=freeze.reason,
            until=freeze.until,
            since=freeze.since,
            actor=freeze.actor,
            source=freeze.source,
            automatic=freeze.automatic,
        )


class FreezeChangeOut(BaseModel):
    action: Annotated[str, one_of(FreezeAction)] = Field(
        description="on (frozen or changed by a person), off (lifted), tripped (payment silence), expired"
    )
    reason: str | None = Field(description="The freeze's reason; on `off`, the note given when lifting")
    until: date | None
    detail: str | None = Field(description="What tripped it: the payments counted")
    actor: str
    source: str
    at: datetime
    alert_state: str = Field(description="The `ativa.freeze` alert to billing: pending, done, failed or skipped")

    @classmethod
    def of(cls, change: FreezeChangeView) -> "FreezeChangeOut":
        return cls(
            action=change.action,
            reason=change.reason,
            until=change.until,
            detail=change.detail,
            actor=change.actor,
            source=change.source,
            at=change.created_at,
            alert_state=change.alert_state,
        )


class FreezeStateOut(BaseModel):
    frozen: bool = Field(description="A freeze is recorded (it may be past its last day until the timers end it)")
    holds: bool = Field(description="It stops automatic cuts today")
    automatic: bool = Field(description="Tripped by a payment silence")
    reason: str | None
    until: date | None
    since: datetime | None
    actor: str | None
    source: str | None
    history: list[FreezeChangeOut] = Field(description=f"The last {HISTORY_SHOWN} changes, newest first")


def state_out(state: FreezeState, changes: list[FreezeChangeView]) -> FreezeStateOut:
    freeze = state.freeze
    return FreezeStateOut(
        frozen=freeze is not None,
        holds=state.holds,
        automatic=freeze is not None and freeze.automatic,
        reason=freeze.reason if freeze else None,
        until=freeze.until if freeze else None,
        since=freeze.since if freeze else None,
        actor=freeze.actor if freeze else None,
        source=freeze.source if freeze else None,
        history=[FreezeChangeOut.of(change) for change in changes],
    )


def current_state(db: Database) -> FreezeStateOut:
    """The freeze and its last changes, read together."""
    with db.read() as session:
        return state_out(read_state(session), history(session, HISTORY_SHOWN))
