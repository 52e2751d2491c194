"""POST /api/v1/billing/events: the billing system's signed events (Standard Webhooks)."""

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from standardwebhooks import Webhook
from starlette.concurrency import run_in_threadpool

from ..services import billing
from .problems import ApiProblem, problem_body, problem_response

router = APIRouter(prefix="/api/v1/billing", tags=["billing"])


class EventData(BaseModel):
    model_config = ConfigDict(extra="ignore")  # billing systems add fields; we read what we know

    invoice_id: str = Field(min_length=1, max_length=100)
    customer_id: int | None = Field(None, ge=1, le=2**31 - 1)
    customer_ref: str | None = Field(None, min_length=1, max_length=100)
    amount: Decimal | None = Field(None, ge=0, max_digits=14, decimal_places=2)
    # Strict: a date is an ISO string, never a number of seconds (0 would be 1970-01-01).
    due_date: date | None = Field(None, strict=True)
    paid_at: datetime | None = Field(None, strict=True)

    @model_validator(mode="after")
    def _has_customer(self):
        if self.customer_id is None and self.customer_ref is None:
            raise ValueError("customer_id or customer_ref is required")
        return self


class EventIn(BaseModel):
    type: Literal["invoice.created", "invoice.paid", "invoice.cancelled"]
    data: EventData


def _verify(request: Request, raw: bytes) -> None:
    """Signature over the raw bytes, before parsing; any configured secret may match (rotation)."""
    secret = request.app.state.settings.billing_inbound_secret
    secrets = [s.strip() for s in (secret.get_secret_value() if secret else "").split(",") if s.strip()]
    if not secrets:
        raise ApiProblem("unauthorized", "billing events are refused: ATIVA_BILLING_INBOUND_SECRET is not set")
    headers = {k: request.headers.get(k, "") for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
    if not all(headers.values()):
        raise ApiProblem("unauthorized", "missing webhook-id, webhook-timestamp or webhook-signature")
    for candidate in secrets:
        try:
            Webhook(candidate).verify(raw, headers, json_parse=False)
            return
        except Exception:  # noqa: BLE001 - wrong secret, bad encoding, stale timestamp: try the next
            continue
    raise ApiProblem("unauthorized", "signature does not match, or the timestamp is outside ±5 minutes")


def _inlined_schema(model: type[BaseModel]) -> dict:
    """The model's JSON schema with its nested models written in place (the document has no
    `$defs` for a body FastAPI does not parse itself)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node):
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return inline(schema)


def _problem(description: str) -> dict:
    return {"description": description, "content": {"application/problem+json": {}}}


# The body is read raw (the signature covers its bytes), so the document is written here: the
# event's schema, the Standard Webhooks headers and its own security scheme instead of the bearer.
EVENT_DOCUMENT = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": _inlined_schema(EventIn)}}},
    "parameters": [
        {"name": "webhook-id", "in": "header", "required": True,
         "schema": {"type": "string", "minLength": 1, "maxLength": 255},
         "description": "The event's id; a repeated id is a duplicate"},
        {"name": "webhook-timestamp", "in": "header", "required": True,
         "schema": {"type": "string", "pattern": "^[0-9]{1,12}$"},
         "description": "Unix seconds; refused outside ±5 minutes"},
    ],
    "security": [{"webhookSignature": []}],
}


@router.post(
    "/events",
    status_code=202,
    responses={200: {"description": "duplicate"}, 401: _problem("bad signature"),
               413: _problem("body too large"), 422: _problem("malformed body or unknown customer")},
    openapi_extra=EVENT_DOCUMENT,
)
async def billing_event(request: Request):
    raw = await request.body()
    _verify(request, raw)
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        return problem_response(problem_body(
            "validation_error", f"content-type must be application/json, not {media_type or 'missing'}"))
    try:
        body = EventIn.model_validate_json(raw)
    except ValidationError as error:
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        return problem_response(problem_body("validation_error", detail or "invalid event"))
    event = billing.InvoiceEvent(
        webhook_id=request.headers["webhook-id"], type=body.type, invoice_id=body.data.invoice_id,
        customer_id=body.data.customer_id, customer_ref=body.data.customer_ref,
        amount=body.data.amount, due_date=body.data.due_date, paid_at=body.data.paid_at,
    )
    outcome = await run_in_threadpool(billing.apply_event, request.app.state.db, event)
    if outcome.duplicate:
        return JSONResponse({"status": "duplicate"}, status_code=200)
    return JSONResponse(
        {"status": "accepted", "invoice_status": outcome.invoice_status, "reactivated": outcome.reactivated},
        status_code=202,
    )
