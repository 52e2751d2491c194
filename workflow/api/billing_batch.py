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
    EventIn,
    checked_webhook_id,
    inlined_schema,
    is_json,
    validation_detail,
    verify_signature,
)
from .customers import PROBLEMS
from .fields import Line
from .problems import ApiProblem, problem_body, problem_response

router = APIRouter(prefix="/api/v1/billing", tags=["billing"])


class BatchEventIn(EventIn):
    id: Line = Field(min_length=1, max_length=MAX_WEBHOOK_ID, description="Deduplication key (as a webhook-id).")


class BatchIn(BaseModel):
    events: list[BatchEventIn] = Field(
        min_length=1, description="At least one event; at most ATIVA_BILLING_BATCH_MAX (1,000 by default)."
    )


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


class _IdOnly(BaseModel):
    id: Line = Field(min_length=1, max_length=MAX_WEBHOOK_ID)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _events(raw: bytes, most: int) -> list[billing.InvoiceEvent | billing_batch.Refused]:
    """The batch's events, each parsed or refused alone; ApiProblem for anything but UTF-8 JSON
    {"events": [...]} with 1..`most` entries (the whole batch refused)."""
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise ApiProblem("validation_error", "body: cannot be parsed; send UTF-8 JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise ApiProblem("validation_error", 'body must be an object {"events": [...]}')
    entries = body["events"]
    if not entries:
        raise ApiProblem("validation_error", "events: a batch needs at least one event")
    if len(entries) > most:
        raise ApiProblem(
            "payload_too_large", f"a batch holds at most {most} events (ATIVA_BILLING_BATCH_MAX), not {len(entries)}"
        )
    return [_event(entry) for entry in entries]


def _event(value: Any) -> billing.InvoiceEvent | billing_batch.Refused:
    try:
        parsed = BatchEventIn.model_validate(value)
    except ValidationError as error:
        return billing_batch.Refused(_usable_id(value), validation_detail(error, "invalid event"))
    return parsed.to_event(parsed.id)


def _usable_id(value: Any) -> str | None:
    """A refused event's id, echoed only if it is a valid one (never a lone surrogate or a NUL,
    which the answer could not carry or the client could mistake)."""
    if not isinstance(value, dict):
        return None
    try:
        return _IdOnly.model_validate({"id": value.get("id")}).id
    except ValidationError:
        return None


def _apply(raw: bytes, most: int, db) -> list[billing_batch.EventResult]:
    # Parsing 1,000 events takes tens of milliseconds: off the event loop, with the database work.
    return billing_batch.apply_batch(db, _events(raw, most))


@router.post(
    "/events/batch",
    openapi_extra=SIGNED_BATCH,
    response_model=BatchResultOut,
    summary="A batch of billing events (a bank's return file)",
    responses={
        200: {"description": "Each event's outcome, in input order (accepted, duplicate or rejected)."},
        401: {**PROBLEMS[401], "description": "bad or missing signature"},
        413: {**PROBLEMS[413], "description": "more events than ATIVA_BILLING_BATCH_MAX, or a body too large"},
        422: {**PROBLEMS[422], "description": 'malformed envelope (not UTF-8 JSON {"events": [...]}, no events)'},
    },
)
async def billing_event_batch(request: Request):
    raw = await request.body()
    if not is_json(request):
        return problem_response(problem_body("validation_error", "content-type must be application/json"))
    verify_signature(request, raw)
    checked_webhook_id(request)  # the batch's own id: signed over, never stored
    most = request.app.state.settings.billing_batch_max
    results = await run_in_threadpool(_apply, raw, most, request.app.state.db)
    return JSONResponse(
        {
            "results": [
                {"id": r.id, "status": r.status, "reactivated": r.reactivated, "problem": r.problem} for r in results
            ]
        }
    )
