"""How customers, transitions, services and effects read outside the use-case layer: one definition
of their JSON shape, shared by the API's responses and the CLI's `--json` output."""

from collections.abc import Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, WithJsonSchema

from ..db.models import Customer, OutboxEffect, Service, StatusChange
from ..domain.vocabulary import (
    ActivationReason,
    CustomerEvent,
    CustomerStatus,
    Effect,
    EffectState,
    InactivationReason,
    ServiceStatus,
    Source,
    SuspensionCause,
)
from .written_rows import CustomerRow, OutboxEffectRow, StatusChangeRow


def one_of(*enums: type[StrEnum]) -> WithJsonSchema:
    """For `Annotated[str, one_of(...)]`: a response field documented with the domain's enum(s), yet
    read as stored: a row holding an unknown value (which the writes refuse as `unknown_status`) is
    still shown, never a 500."""
    values = [member.value for enum in enums for member in enum]
    return WithJsonSchema({"type": "string", "enum": values})


class CustomerOut(BaseModel):
    id: int
    name: str
    document: str
    document_type: Literal["cpf", "cnpj"]
    email: str | None
    phone: str | None
    external_ref: str | None
    status: Annotated[str, one_of(CustomerStatus)]
    inactivation_reason: Annotated[str, one_of(InactivationReason)] | None
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
    def of(cls, c: Customer | CustomerRow) -> "CustomerOut":
        return cls.model_validate(c, from_attributes=True)


class EffectOut(BaseModel):
    id: int
    name: Annotated[str, one_of(Effect)]
    state: Annotated[str, one_of(EffectState)]
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


class TransitionOut(BaseModel):
    id: int
    customer_id: int
    customer_version: int
    event: Annotated[str, one_of(CustomerEvent)]
    from_status: Annotated[str, one_of(CustomerStatus)]
    to_status: Annotated[str, one_of(CustomerStatus)]
    reason: Annotated[str, one_of(InactivationReason, ActivationReason)]
    note: str | None
    forced: bool
    hold_until: date | None = None
    actor: str
    source: Annotated[str, one_of(Source)]
    created_at: datetime
    effects: list[EffectOut]

    @classmethod
    def of(
        cls, t: StatusChange | StatusChangeRow, effects: Sequence[OutboxEffect | OutboxEffectRow]
    ) -> "TransitionOut":
        data = {k: getattr(t, k) for k in cls.model_fields if k != "effects"}
        return cls(**data, effects=[EffectOut.of(e) for e in effects])


class ServiceOut(BaseModel):
    id: int
    customer_id: int
    name: str
    external_ref: str | None
    status: Annotated[str, one_of(ServiceStatus)]
    suspension_cause: Annotated[str, one_of(SuspensionCause)] | None
    suspension_note: str | None
    suspended_at: datetime | None
    cancelled_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, s: Service) -> "ServiceOut":
        return cls.model_validate(s, from_attributes=True)
