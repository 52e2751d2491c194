"""Request and response bodies. Unknown fields are refused so typos do not pass silently."""

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..db.models import ApiToken
from ..domain import radius
from ..domain.vocabulary import ActivationReason, CustomerStatus, InactivationReason, Role, RouterVendor

# The response bodies the CLI's --json prints too live in the use-case layer.
from ..usecases.representations import (
    CustomerOut,
    EffectDetail,
    PlanOut,
    RouterOut,
    ServiceOut,
    TransitionOut,
    one_of,
)
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


# Write-only: never in a response (a 422 names the field, never echoes what was sent).
WRITE_ONLY = {"writeOnly": True, "format": "password"}
Login = Annotated[str, Field(pattern=radius.LOGIN_PATTERN, description="PPPoE/IPoE user name")]
Password = Annotated[Line, Field(min_length=1, max_length=radius.PASSWORD_MAX, json_schema_extra=WRITE_ONLY)]
Rate = Annotated[int, Field(ge=1, le=radius.MAX_RATE_KBPS, description="kbit/s (at most 10 Gbit/s)")]
PlanId = Annotated[IdValue, Field(description="A plan from /api/v1/plans (not retired)")]


class ServiceIn(Strict):
    name: Line = Field(min_length=1, max_length=200)
    external_ref: Line | None = Field(None, max_length=100)
    login: Login | None = Field(None, description="RADIUS login; needs password and plan_id")
    password: Password | None = None
    plan_id: PlanId | None = None


class ServicePatch(Strict):
    plan_id: PlanId | None = Field(None, description="A new plan: live sessions get its rates by CoA")
    password: Password | None = Field(None, description="A new password: live sessions are dropped")


class PlanIn(Strict):
    name: Line = Field(min_length=1, max_length=100)
    download_kbps: Rate
    upload_kbps: Rate


class PlanPatch(Strict):
    name: Line | None = Field(None, min_length=1, max_length=100)
    download_kbps: Rate | None = None
    upload_kbps: Rate | None = None
    retired: bool | None = Field(None, description="true: no new service or plan change may choose it")


class PlanPage(BaseModel):
    items: list[PlanOut]


RouterSecret = Annotated[
    Line, Field(min_length=radius.SECRET_MIN, max_length=radius.SECRET_MAX, json_schema_extra=WRITE_ONLY)
]
RouterAddress = Annotated[Line, Field(min_length=1, max_length=45, description="IPv4 or IPv6 address")]
Port = Annotated[int, Field(ge=1, le=65535)]


class RouterIn(Strict):
    name: Line = Field(min_length=1, max_length=100)
    address: RouterAddress
    secret: RouterSecret
    coa_port: Port = 3799
    vendor: RouterVendor = RouterVendor.MIKROTIK


class RouterPatch(Strict):
    name: Line | None = Field(None, min_length=1, max_length=100)
    address: RouterAddress | None = None
    secret: RouterSecret | None = None
    coa_port: Port | None = None
    vendor: RouterVendor | None = None


class RouterPage(BaseModel):
    items: list[RouterOut]


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


class NextStageOut(BaseModel):
    stage: Literal["notice", "reduced", "cut"] = Field(description="A later step of the ladder, or the cut")
    on: date = Field(description="The day it comes if nothing is paid (the provider's business date)")
    why: str


class StandingOut(BaseModel):
    """GET /customers/{id}/standing. The ladder's fields are typed here; the others are documented
    in docs/api.md (they keep their shape when a field is added)."""

    model_config = ConfigDict(extra="allow")

    customer_id: int
    status: Annotated[str, one_of(CustomerStatus)]
    as_of: date
    delinquency_stage: Literal["none", "notice", "reduced", "cut"] = Field(
        description="none, notice or reduced while active; cut when inactive for delinquency"
    )
    notice_snoozed_until: datetime | None = Field(
        description="At the notice stage, acknowledged on the notice page: off the notice list until then"
    )
    next_stage: NextStageOut | None = Field(description="The next step if nothing is paid; null when none is ahead")
    next_action: dict[str, Any] | None
