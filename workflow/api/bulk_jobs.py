"""/api/v1/bulk-jobs: activate or inactivate many customers, previewed first (admin only).

POST creates the job as a dry run (each customer and what the machine would do); /run confirms it
and hands its batches to the workers; GET shows its progress and a result per customer.
"""

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import ConfigDict, Field, StrictInt, StrictStr, TypeAdapter
from sqlalchemy.orm import Session

from ..domain.bulk import MAX_CUSTOMERS
from ..domain.vocabulary import CustomerStatus, DelinquencyStage, InactivationReason, Source
from ..usecases import bulk, sweep_dispatch
from .auth import Principal, is_admin
from .customers import PROBLEMS
from .fields import IsoDate, Line, RowId, Text
from .idempotency import Idempotent, idempotent
from .schemas import Strict

router = APIRouter(prefix="/api/v1/bulk-jobs", tags=["bulk jobs"])

_JOB = TypeAdapter(bulk.JobView)


class BulkFilterIn(Strict):
    status: CustomerStatus | None = None
    inactivation_reason: InactivationReason | None = None
    source: Source | None = Field(None, description="Of the customer's latest status change")
    cut_date: IsoDate | None = Field(None, description="Inactive since a change on that day (provider time)")
    delinquency_stage: DelinquencyStage | None = None


class BulkJobIn(Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    action: Literal["activate", "inactivate"] | None = Field(None, description="Set by a preset")
    reason: Line | None = Field(None, max_length=40, description="A reason of the action (the preset: manual)")
    note: Text | None = Field(None, max_length=2000)
    force: bool = Field(False, description="Activation of customers who still owe (recorded as forced)")
    # No max_length here: more than MAX_CUSTOMERS is the domain's 413 payload_too_large, as for a
    # filter or a preset that matches too many (the body limit bounds what is parsed).
    customers: list[StrictInt | StrictStr] | None = Field(
        None, description=f"Ids, external refs or CPF/CNPJ, as `match` says; at most {MAX_CUSTOMERS} (413 beyond)"
    )
    match: Literal["id", "external_ref", "document"] | None = Field(
        None, description="What the entries of `customers` are (integers alone: ids)"
    )
    filter: BulkFilterIn | None = None
    preset: Literal["undo_cuts"] | None = Field(
        None, description="undo_cuts: activate everyone the sweep cut on `date` who is still inactive from it"
    )
    day: IsoDate | None = Field(None, alias="date", description="The preset's day (provider time)")
    batch_size: int | None = Field(None, ge=1, le=5000)


def _request(body: BulkJobIn) -> bulk.BulkRequest:
    return bulk.BulkRequest(
        action=body.action,
        reason=body.reason,
        note=body.note,
        force=body.force,
        customers=body.customers,
        match=body.match,
        filter=bulk.BulkFilter(**body.filter.model_dump()) if body.filter else None,
        preset=body.preset,
        preset_date=body.day,
        batch_size=body.batch_size,
    )


@router.post("", status_code=201, response_model=bulk.JobView, responses=PROBLEMS)
def create_job(
    request: Request,
    body: BulkJobIn,
    principal: Principal = Depends(is_admin),
    idem: Idempotent = Depends(idempotent),
):
    """The job as a dry run (`dry_run: true`): nothing changes until POST /{id}/run."""

    def handler(session: Session) -> dict:  # the job and the Idempotency-Key's record commit together
        view = bulk.create_job_in(session, _request(body), principal.actor, Source.API)
        return _JOB.dump_python(view, mode="json")

    return idem.run(201, handler)


@router.post("/{job_id}/run", status_code=202, response_model=bulk.JobView, responses=PROBLEMS)
def run_job(
    request: Request,
    job_id: RowId,
    principal: Principal = Depends(is_admin),
    idem: Idempotent = Depends(idempotent),
):
    """Confirms the preview and hands its batches to the workers; a job that ran, runs or was
    cancelled answers 409. Without workers connected: 503, nothing changed. A broker that fails
    once the job is confirmed still answers 202 `queued`: the stall check queues the batches."""
    dispatch = sweep_dispatch.installed_bulk_dispatcher()  # refused before anything changes
    confirmed: list[bool] = []

    def handler(session: Session) -> dict:  # the confirmation and the Idempotency-Key's record commit together
        view = bulk.confirm_job_in(session, job_id, principal.actor)
        confirmed.append(True)
        return _JOB.dump_python(view, mode="json")

    answer = idem.run(202, handler)
    if confirmed and answer.status_code == 202:  # committed by this request (a replay dispatches nothing)
        bulk.dispatch_confirmed(request.app.state.db, job_id, dispatch)
    return answer


@router.post("/{job_id}/cancel", response_model=bulk.JobView, responses=PROBLEMS)
def cancel_job(
    request: Request,
    job_id: RowId,
    principal: Principal = Depends(is_admin),
    idem: Idempotent = Depends(idempotent),
):
    """Stops the job between batches: those not run yet are left `skipped`."""

    def handler(_session: Session) -> dict:
        return _JOB.dump_python(bulk.cancel_job(request.app.state.db, job_id, principal.actor), mode="json")

    return idem.run(200, handler)


@router.get("/{job_id}", response_model=bulk.JobView, responses=PROBLEMS)
def get_job(
    request: Request,
    job_id: RowId,
    items_offset: int = Query(0, ge=0, le=MAX_CUSTOMERS),
    items_limit: int = Query(100, ge=0, le=bulk.MAX_ITEMS_PAGE),
    _: Principal = Depends(is_admin),
):
    return bulk.job_view(request.app.state.db, job_id, items_offset, items_limit)


@router.get("", response_model=list[bulk.JobView], responses=PROBLEMS)
def list_jobs(
    request: Request,
    offset: int = Query(0, ge=0, le=1_000_000),
    limit: int = Query(50, ge=1, le=500),
    _: Principal = Depends(is_admin),
):
    return bulk.list_jobs(request.app.state.db, offset, limit)
