"""How customers, transitions, services and effects read outside the use-case layer: one definition
of their JSON shape, shared by the API's responses and the CLI's `--json` output."""

from collections.abc import Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field, WithJsonSchema
from sqlalchemy.orm import object_session

from ..db.models import Customer, OutboxEffect, Plan, Router, Service, StatusChange
from ..domain import radius
from ..domain.vocabulary import (
    ActivationReason,
    CustomerEvent,
    CustomerStatus,
    DelinquencyStage,
    Effect,
    EffectState,
    InactivationReason,
    RouterVendor,
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
    delinquency_stage: Annotated[str, one_of(DelinquencyStage)] = Field(
        DelinquencyStage.NONE.value,
        description="The step of the collection ladder while active (none, notice, reduced); an inactive "
        "customer is none (a cut shows as status inactive, reason delinquency)",
    )
    notice_snoozed_until: datetime | None = Field(
        None, description="At the notice stage: acknowledged on the notice page, off the notice list until then"
    )
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
    delinquency_stage: Annotated[str, one_of(DelinquencyStage)] | None = Field(
        None, description="The ladder's stage a step of the collection ladder led to (ladder events only)"
    )
    actor: str
    source: Annotated[str, one_of(Source)]
    created_at: datetime
    bulk_job_id: int | None = Field(None, description="The bulk job this change was part of (its number)")
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
    login: str | None = Field(None, description="PPPoE/IPoE user name FreeRADIUS authenticates")
    plan_id: int | None = None
    radius_group: str | None = Field(None, description="The FreeRADIUS group Ativa keeps the login in")
    created_at: datetime

    @classmethod
    def of(cls, s: Service) -> "ServiceOut":
        # Named fields only: the RADIUS password never leaves the use-case layer.
        data = {name: getattr(s, name) for name in cls.model_fields if name != "radius_group"}
        if s.login is not None and s.plan_id is not None:
            data["radius_group"] = radius.group_for(s.status, s.plan_id, _profile_of_owner(s))
        return cls(**data)


def _profile_of_owner(s: Service) -> radius.Profile:
    """The ladder's profile of the service's customer (usually in the session already)."""
    session = object_session(s)
    owner = session.get(Customer, s.customer_id) if session is not None else None
    if owner is None:
        return radius.Profile.PLAN
    return radius.profile_for(owner.delinquency_stage, owner.notice_snoozed_until)


class PlanOut(BaseModel):
    id: int
    name: str
    download_kbps: int
    upload_kbps: int
    retired: bool
    retired_at: datetime | None
    radius_group: str
    in_use: int = Field(description="Services (any status, cancelled included) on this plan")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, p: Plan, in_use: int) -> "PlanOut":
        return cls(
            id=p.id,
            name=p.name,
            download_kbps=p.download_kbps,
            upload_kbps=p.upload_kbps,
            retired=p.retired_at is not None,
            retired_at=p.retired_at,
            radius_group=radius.plan_group(p.id),
            in_use=in_use,
            created_at=p.created_at,
            updated_at=p.updated_at,
        )


class RouterOut(BaseModel):
    """A router as shown: never its secret."""

    id: int
    name: str
    address: str
    coa_port: int
    vendor: Annotated[str, one_of(RouterVendor)]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, r: Router) -> "RouterOut":
        return cls(
            id=r.id,
            name=r.name,
            address=r.address,
            coa_port=r.coa_port,
            vendor=r.vendor,
            created_at=r.created_at,
            updated_at=r.updated_at,
        )
