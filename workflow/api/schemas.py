"""Request and response bodies. Unknown fields are refused so typos do not pass silently."""

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..db.models import ApiToken, Customer, OutboxEffect, Service, StatusChange
from ..domain.vocabulary import (
    ActivationReason,
    CustomerEvent,
    CustomerStatus,
    Effect,
    EffectState,
    InactivationReason,
    Role,
    ServiceStatus,
    Source,
    SuspensionCause,
)
from .fields import IdValue, IsoDate, Line, Text, one_of


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
        None, description="Forced activation: no automatic cut through this date (default: "
        "ATIVA_FORCED_ACTIVATION_HOLD_DAYS days from today)")


class ReturnDateIn(Strict):
    until: IsoDate | None = Field(description="The new return date, or null to clear it")


class ServiceIn(Strict):
    name: Line = Field(min_length=1, max_length=200)
    external_ref: Line | None = Field(None, max_length=100)


class SuspendIn(Strict):
    reason: Text = Field(min_length=1, max_length=2000)


class CustomerOut(BaseModel):
    id: int
    name: str
    document: str
    document_type: Literal["cpf", "cnpj"]
    email: str | None
    phone: str | None
    external_ref: str | None
    status: one_of(CustomerStatus)
    inactivation_reason: one_of(InactivationReason) | None
    status_changed_at: datetime
    invoicing_enabled: bool
    auto_block_exempt: bool
    trust_unlock_until: datetime | None = None
    trust_unlocks_used: int = 0
    return_on: date | None = None
    forced_hold_until: date | None = None
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, c: Customer) -> "CustomerOut":
        return cls.model_validate(c, from_attributes=True)


class EffectOut(BaseModel):
    id: int
    name: one_of(Effect)
    state: one_of(EffectState)
    attempts: int
    last_error: str | None
    note: str | None
    completed_at: datetime | None

    @classmethod
    def of(cls, e) -> "EffectOut":
        return cls.model_validate(e, from_attributes=True)


class EffectDetail(EffectOut):
    customer_id: int
    transition_id: int | None
    service_id: int | None
    origin: str
    created_at: datetime
    next_attempt_at: datetime | None

    @classmethod
    def of(cls, e) -> "EffectDetail":
        return cls.model_validate(e, from_attributes=True)


class EffectPage(BaseModel):
    items: list[EffectDetail]


class TransitionOut(BaseModel):
    id: int
    customer_id: int
    customer_version: int
    event: one_of(CustomerEvent)
    from_status: one_of(CustomerStatus)
    to_status: one_of(CustomerStatus)
    reason: one_of(InactivationReason, ActivationReason)
    note: str | None
    forced: bool
    hold_until: date | None = None
    actor: str
    source: one_of(Source)
    created_at: datetime
    effects: list[EffectOut]

    @classmethod
    def of(cls, t: StatusChange, effects: list[OutboxEffect]) -> "TransitionOut":
        data = {k: getattr(t, k) for k in cls.model_fields if k != "effects"}
        return cls(**data, effects=[EffectOut.of(e) for e in effects])


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


class ServiceOut(BaseModel):
    id: int
    customer_id: int
    name: str
    external_ref: str | None
    status: one_of(ServiceStatus)
    suspension_cause: one_of(SuspensionCause) | None
    suspension_note: str | None
    suspended_at: datetime | None
    cancelled_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, s: Service) -> "ServiceOut":
        return cls.model_validate(s, from_attributes=True)


class ServicePage(BaseModel):
    items: list[ServiceOut]


class TokenOut(BaseModel):
    id: int
    name: str
    role: one_of(Role)
    prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, t: ApiToken) -> "TokenOut":
        return cls.model_validate(t, from_attributes=True)
