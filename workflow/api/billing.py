"""POST /api/v1/billing/events: the billing system's signed events (Standard Webhooks)."""

from decimal import Decimal
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from standardwebhooks import Webhook
from starlette.concurrency import run_in_threadpool

from ..db.models import BillingEvent
from ..domain import limits
from ..usecases import billing
from .customers import PROBLEMS
from .fields import IdValue, IsoDate, IsoDateTime, Line
from .problems import ApiProblem, problem_body, problem_response

router = APIRouter(prefix="/api/v1/billing", tags=["billing"])


class EventData(BaseModel):
    model_config = ConfigDict(extra="ignore")  # billing systems add fields; we read what we know

    invoice_id: Line = Field(min_length=1, max_length=100)
    customer_id: IdValue | None = None
    customer_ref: Line | None = Field(None, min_length=1, max_length=100)
    amount: Decimal | None = Field(None, ge=0, max_digits=14, decimal_places=2)
    due_date: IsoDate | None = None
    paid_at: IsoDateTime | None = None

    @model_validator(mode="after")
    def _has_customer(self):
        if self.customer_id is None and self.customer_ref is None:
            raise ValueError("customer_id or customer_ref is required")
        return self


class EventIn(BaseModel):
    type: Literal["invoice.created", "invoice.paid", "invoice.cancelled"]
    data: EventData

    def to_event(self, webhook_id: str) -> billing.InvoiceEvent:
        return billing.InvoiceEvent(
            webhook_id=webhook_id,
            type=self.type,
            invoice_id=self.data.invoice_id,
            customer_id=self.data.customer_id,
            customer_ref=self.data.customer_ref,
            amount=self.data.amount,
            due_date=self.data.due_date,
            paid_at=self.data.paid_at,
        )


def validation_detail(error: ValidationError, fallback: str) -> str:
    """Pydantic's errors as one line: `field.path: message; ...`."""
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()) or fallback


def is_json(request: Request) -> bool:
    """Standard Webhooks events are JSON: a text/plain or form body is refused, never parsed."""
    return request.headers.get("content-type", "").partition(";")[0].strip().lower() == "application/json"


def verify_signature(request: Request, raw: bytes) -> None:
    """Signature over the raw bytes, before parsing; any configured secret may match (rotation)."""
    secrets = request.app.state.settings.billing_inbound_secrets
    if not secrets:
        raise ApiProblem("unauthorized", "billing events are refused: ATIVA_BILLING_INBOUND_SECRET is not set")
    headers = {k: request.headers.get(k, "") for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
    if not all(headers.values()):
        raise ApiProblem("unauthorized", "missing webhook-id, webhook-timestamp or webhook-signature")
    for candidate in secrets:
        try:
            Webhook(candidate).verify(raw, headers, json_parse=False)
            return
        except Exception:  # noqa: BLE001, S112 - wrong secret, bad encoding, stale timestamp: try the next
            continue
    raise ApiProblem("unauthorized", "signature does not match, or the timestamp is outside ±5 minutes")


# A String(255) column; SQLAlchemy types a column's .type as the TypeEngine base, which has no length.
MAX_WEBHOOK_ID: int = BillingEvent.__table__.c.webhook_id.type.length  # type: ignore[attr-defined]


def checked_webhook_id(request: Request) -> str:
    """The deduplication key, refused before the database if its column could not hold it."""
    webhook_id = request.headers["webhook-id"]
    if len(webhook_id) > MAX_WEBHOOK_ID:
        raise ApiProblem("validation_error", f"webhook-id must be at most {MAX_WEBHOOK_ID} characters")
    bad = limits.forbidden_character(webhook_id)
    if bad:
        raise ApiProblem("validation_error", f"webhook-id must not contain control characters ({bad})")
    return webhook_id


def inlined_schema(schema: dict) -> dict:
    """A model's JSON schema with its $defs put in place, to stand alone inside an operation."""
    defs = schema.pop("$defs", {})

    def resolve(node):
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(defs[node["$ref"].rsplit("/", 1)[1]])
            return {key: resolve(value) for key, value in node.items()}
        return [resolve(item) for item in node] if isinstance(node, list) else node

    return resolve(schema)


# The body is read raw (the signature covers its bytes), so FastAPI cannot see it: declared here.
SIGNATURE_HEADERS = [
    {
        "name": "webhook-id",
        "in": "header",
        "required": True,
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_WEBHOOK_ID},
    },
    {"name": "webhook-timestamp", "in": "header", "required": True, "schema": {"type": "string"}},
    {"name": "webhook-signature", "in": "header", "required": True, "schema": {"type": "string"}},
]
SIGNED_EVENT = {
    "parameters": SIGNATURE_HEADERS,
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": inlined_schema(EventIn.model_json_schema())}},
    },
}


@router.post(
    "/events",
    status_code=202,
    openapi_extra=SIGNED_EVENT,
    responses={
        200: {"description": "duplicate"},
        401: {**PROBLEMS[401], "description": "bad or missing signature"},
        413: PROBLEMS[413],
        422: {**PROBLEMS[422], "description": "malformed body or unknown customer"},
    },
)
async def billing_event(request: Request):
    raw = await request.body()
    if not is_json(request):
        return problem_response(problem_body("validation_error", "content-type must be application/json"))
    verify_signature(request, raw)
    webhook_id = checked_webhook_id(request)
    try:
        body = EventIn.model_validate_json(raw)
    except ValidationError as error:
        return problem_response(problem_body("validation_error", validation_detail(error, "invalid event")))
    event = body.to_event(webhook_id)
    outcome = await run_in_threadpool(billing.apply_event, request.app.state.db, event)
    if outcome.duplicate:
        return JSONResponse({"status": "duplicate"}, status_code=200)
    return JSONResponse(
        {"status": "accepted", "invoice_status": outcome.invoice_status, "reactivated": outcome.reactivated},
        status_code=202,
    )
