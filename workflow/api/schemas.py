"""Request and response bodies. Unknown fields are refused so typos do not pass silently."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from ..db.models import ApiToken
from ..domain.vocabulary import ActivationReason, CustomerStatus, InactivationReason, Role

# The response bodies the CLI's --json prints too live in the use-case layer.
from ..usecases.representations import CustomerOut, EffectDetail, ServiceOut, TransitionOut, one_of
from .fields import IdValue, IsoDate, Line, Text


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CustomerIn(Strict):
    name: Line = Field(min_length=1, max_length=200)
    document: Line = Field(min_length=1, max_length=32, description="CPF or CNPJ, punctuation allowed")
    email: Line | None = Field(None, max_length=254)
    phone: Line | None = Field(None, max_length=32)
    external_ref: Line | None = Field(None, max_length=100)
    auto_block_exempt: bool = Field(False, description="The delinquency sweep never cuts this customer")


class CustomerPatch(Strict):
    name: Line | None = Field(None, min_length=1, max_length=200)
    document: Line | None = Field(None, min_length=1, max_length=32)
    email: Line | None = Field(None, max_length=254)
    phone: Line | None = Field(None, max_length=32)
    external_ref: Line | None = Field(None, max_length=100)
    auto_block_exempt: bool | None = None
    status: CustomerStatus | None = None
    reason: InactivationReason | ActivationReason | None = None
    note: Text | None = Field(None, max_length=2000)
    force: bool = False
    hold_until: IsoDate | None = Field(None, description="Forced activation: no automatic cut through this date")
    version: IdValue | None = Field(None, description="Refuse the save if the customer changed since")


class InactivateIn(Strict):
    reason: InactivationReason
    note: Text | None = Field(None, max_length=2000)
    force: bool = False
    until: IsoDate | None = Field(None, description="customer_request: the customer comes back that day")


class ActivateIn(Strict):
    reason: ActivationReason
    note: Text | None = Field(None, max_length=2000)
    force: bool = False
    days: int | None = Field(None, ge=1, le=365, description="trust_unlock: how many days")
    hold_until: IsoDate | None = Field(
        None,
        description="Forced activation: no automatic cut through this date (default: "
        "ATIVA_FORCED_ACTIVATION_HOLD_DAYS days from today)",
    )


class ReturnDateIn(Strict):
    until: IsoDate | None = Field(description="The new return date, or null to clear it")


class ServiceIn(Strict):
    name: Line = Field(min_length=1, max_length=200)
    external_ref: Line | None = Field(None, max_length=100)


class SuspendIn(Strict):
    reason: Text = Field(min_length=1, max_length=2000)


class EffectPage(BaseModel):
    items: list[EffectDetail]


class TransitionResult(BaseModel):
    customer: CustomerOut
    transition: TransitionOut


class EditResult(BaseModel):
    customer: CustomerOut
    transition: TransitionOut | None = Field(None, description="Set when the save changed Ativo")


class CustomerPage(BaseModel):
    items: list[CustomerOut]
    next_cursor: str | None


class HistoryPage(BaseModel):
    items: list[TransitionOut]


class ServicePage(BaseModel):
    items: list[ServiceOut]


class TokenOut(BaseModel):
    id: int
    name: str
    role: Annotated[str, one_of(Role)]
    prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, t: ApiToken) -> "TokenOut":
        return cls.model_validate(t, from_attributes=True)
