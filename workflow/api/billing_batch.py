"""POST /api/v1/billing/events/batch: many signed billing events in one request (a bank's return file).

The batch is signed as one Standard Webhooks message (its own webhook-id); each event inside it is
deduplicated by its own `id`, in the key space of the single endpoint's webhook-id. A bad signature
or envelope refuses the whole batch and records nothing; a bad event is rejected on its own.
"""

import json
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from ..usecases import billing, billing_batch
from .billing import (
    MAX_WEBHOOK_ID,
    SIGNATURE_HEADERS,
    EventData,
    checked_webhook_id,
    inlined_schema,
    is_json,
    verify_signature,
)
from .customers import PROBLEMS
from .fields import Line
from .problems import ApiProblem, problem_body, problem_response

router = APIRouter(prefix="/api/v1/billing", tags=["billing"])


class BatchEventIn(BaseModel):
    id: Line = Field(min_length=1, max_length=MAX_WEBHOOK_ID, description="Deduplication key (as a webhook-id).")
    type: Literal["invoice.created", "invoice.paid", "invoice.cancelled"]
    data: EventData


class BatchIn(BaseModel):
    events: list[BatchEventIn]


class EventResultOut(BaseModel):
    id: str | None = Field(description="The event's id (null when it had no usable one).")
    status: Literal["accepted", "duplicate", "rejected"]
    reactivated: bool
    problem: str | None = Field(description="Why a rejected event was refused.")


class BatchResultOut(BaseModel):
    results: list[EventResultOut] = Field(description="One per event, in input order.")


SIGNED_BATCH = {
    "parameters": SIGNATURE_HEADERS,
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": inlined_schema(BatchIn.model_json_schema())}},
    },
}


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _envelope(raw: bytes, most: int) -> list[Any]:
    """The batch's events as parsed JSON values; ApiProblem for anything but {"events": [...]}
    with 1..`most` entries."""
    try:
        body = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise ApiProblem("validation_error", "body: cannot be parsed; send UTF-8 JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise ApiProblem("validation_error", 'body must be an object {"events": [...]}')
    events = body["events"]
    if not events:
        raise ApiProblem("validation_error", "events: a batch needs at least one event")
    if len(events) > most:
        raise ApiProblem(
            "payload_too_large", f"a batch holds at most {most} events (ATIVA_BILLING_BATCH_MAX), not {len(events)}"
        )
    return events


def _event(value: Any) -> billing.InvoiceEvent | billing_batch.Refused:
    """One entry of the batch as an event, or refused with the reason (its id kept when usable)."""
    try:
        parsed = BatchEventIn.model_validate(value)
    except ValidationError as error:
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        return billing_batch.Refused(_usable_id(value), detail or "invalid event")
    return billing.InvoiceEvent(
        webhook_id=parsed.id,
        type=parsed.type,
        invoice_id=parsed.data.invoice_id,
        customer_id=parsed.data.customer_id,
        customer_ref=parsed.data.customer_ref,
        amount=parsed.data.amount,
        due_date=parsed.data.due_date,
        paid_at=parsed.data.paid_at,
    )


def _usable_id(value: Any) -> str | None:
    """A refused event's id, echoed only if it is a valid one (never a lone surrogate or a NUL,
    which the answer could not carry or the client could mistake)."""
    if not isinstance(value, dict):
        return None
    try:
        return _IdOnly.model_validate({"id": value.get("id")}).id
    except ValidationError:
        return None


class _IdOnly(BaseModel):
    id: Line = Field(min_length=1, max_length=MAX_WEBHOOK_ID)


@router.post(
    "/events/batch",
    openapi_extra=SIGNED_BATCH,
    response_model=BatchResultOut,
    responses={
        401: {**PROBLEMS[401], "description": "bad or missing signature"},
        413: {**PROBLEMS[413], "description": "more events than ATIVA_BILLING_BATCH_MAX, or a body too large"},
        422: {**PROBLEMS[422], "description": 'malformed envelope (not {"events": [...]}, no events)'},
    },
)
async def billing_event_batch(request: Request):
    raw = await request.body()
    if not is_json(request):
        return problem_response(problem_body("validation_error", "content-type must be application/json"))
    verify_signature(request, raw)
    checked_webhook_id(request)  # the batch's own id: signed over, never stored
    entries = _envelope(raw, request.app.state.settings.billing_batch_max)
    items = [_event(entry) for entry in entries]
    results = await run_in_threadpool(billing_batch.apply_batch, request.app.state.db, items)
    return JSONResponse(
        {
            "results": [
                {"id": r.id, "status": r.status, "reactivated": r.reactivated, "problem": r.problem} for r in results
            ]
        }
    )
