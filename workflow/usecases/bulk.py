"""Bulk jobs: activate or inactivate many customers at once, previewed first, run by the workers a
batch at a time, cancellable between batches.

create_job resolves the selection (a list of ids, references or CPF/CNPJ; a filter; the preset
that undoes a day's cuts), asks the machine about every customer on its stored state (`decide`,
nothing written) and records the job in state `preview` with one item per customer: what would
happen, guard refusals with their rule and words. confirm_job queues it; the workers run each
batch with run_batch, the sweep's set-based way: ONE transaction per batch, the batch's pending
items and customers locked in id order, the machine deciding once per group of customers alike,
multi-row writes through batch_writes (the same row builders as a single transition), the items'
outcomes written in the same transaction. A batch delivered twice finds nothing pending the second
time and writes nothing. A cancelled job leaves the batches not yet run `skipped`.

The parts: bulk_selection (the request and the customers it names), bulk_run (the batches, the
end, cancellation, the stall check) and bulk_views (reading jobs). This module creates and
confirms jobs and is the one the entry points import: it names every public part.
"""

from datetime import date

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.orm import Session

from ..db.bulk import id_list, insert_rows
from ..db.engine import Database
from ..db.models import BulkJob, BulkJobItem, Customer
from ..db.types import utcnow
from ..domain.bulk import BulkJobState, ItemOutcome, PreviewOutcome
from ..domain.delinquency import Overdue
from ..domain.vocabulary import Source
from ..settings import get_settings
from . import sweep_dispatch
from .bulk_run import (
    MAX_STALL_BACKOFF,
    BatchRun,
    _decide_each,
    _locked_job,
    _refusal,
    _why_not,
    cancel_job,
    dispatch_batches,
    dispatch_confirmed,
    finish_if_complete,
    next_batches,
    redispatch_stalled,
    run_batch,
)
from .bulk_selection import (
    _CHUNK,
    MAX_NOTE_LENGTH,
    UNDO_CUTS,
    BulkFilter,
    BulkRequest,
    _checked,
    _select,
    sweep_cuts_of,
)
from .bulk_views import MAX_ITEMS_PAGE, ItemView, JobView, Progress, _read_view, job_view, list_jobs
from .business_day import provider_today
from .delinquency import overdue_by_customer
from .transitions import Actor, Decision

_jobs = BulkJob.__table__
_items = BulkJobItem.__table__
_customers = Customer.__table__


def _read_rows(conn: Connection, customer_ids: list[int]) -> dict[int, object]:
    rows: dict[int, object] = {}
    for start in range(0, len(customer_ids), _CHUNK):
        chunk = customer_ids[start : start + _CHUNK]
        rows.update(
            (row.id, row) for row in conn.execute(select(_customers).where(_customers.c.id.in_(id_list("ids", chunk))))
        )
    return rows


def _overdue_of(conn: Connection, customer_ids: list[int], today: date) -> dict[int, Overdue]:
    overdue: dict[int, Overdue] = {}
    for start in range(0, len(customer_ids), _CHUNK):
        overdue.update(overdue_by_customer(conn, customer_ids[start : start + _CHUNK], today))
    return overdue


# -- the job --


def create_job(db: Database, request: BulkRequest, actor: Actor, source: Source) -> JobView:
    """A dry run: the job in state `preview`, each customer with what the machine would do now."""
    with db.write() as session:
        job_id = create_job_in(session, request, actor, source).id
    return job_view(db, job_id)


def create_job_in(session: Session, request: BulkRequest, actor: Actor, source: Source) -> JobView:
    """create_job in the caller's transaction (the API's, which records its Idempotency-Key with
    it); the view is read in that transaction too."""
    settings = get_settings()
    today = provider_today(settings.timezone)
    request, event, transition = _checked(request, actor, today)
    batch_size = request.batch_size or settings.sweep_batch_size
    conn = session.connection()
    selection, chosen = _select(conn, request, settings.timezone, today)
    ids = [one.customer_id for one in chosen]
    rows = _read_rows(conn, ids)
    answers = _decide_each(list(rows.values()), _overdue_of(conn, ids, today), event, transition, today, utcnow())
    now = utcnow()
    job_id = conn.execute(
        insert(_jobs).returning(_jobs.c.id),
        {
            "action": event.value,
            "reason": transition.reason,
            "note": transition.note.strip() if transition.note and transition.note.strip() else None,
            "force": request.force,
            "selection": selection,
            "state": BulkJobState.PREVIEW.value,
            "source": source.value,
            "created_by": actor.name,
            "actor_role": actor.role.value,
            "created_at": now,
            "batch_size": batch_size,
            "batches": (len(chosen) + batch_size - 1) // batch_size,
            "total": len(chosen),
        },
    ).scalar_one()
    items = []
    for index, one in enumerate(chosen):
        answer = answers[one.customer_id]
        preview, rule, detail = (
            (PreviewOutcome.CHANGE.value, None, None)
            if isinstance(answer, Decision)
            else _refusal(rows[one.customer_id], answer, event)
        )
        items.append(
            {
                "job_id": job_id,
                "position": one.position,
                "customer_id": one.customer_id,
                "given": one.given,
                "batch": index // batch_size,
                "preview": preview,
                "preview_rule": rule,
                "preview_detail": detail,
                "outcome": ItemOutcome.PENDING.value,
                "rule": None,
                "detail": None,
                "transition_id": None,
                "updated_at": now,
            }
        )
    insert_rows(conn, _items, items)
    return _read_view(conn, job_id)


def confirm_job(db: Database, job_id: int, actor: Actor) -> JobView:
    """preview -> queued, by `actor` (whose name the history rows carry); any other state is a
    Conflict that changes nothing."""
    with db.write() as session:
        confirm_job_in(session, job_id, actor)
    return job_view(db, job_id)


def confirm_job_in(session: Session, job_id: int, actor: Actor) -> JobView:
    """confirm_job in the caller's transaction; the view is read in it too."""
    conn = session.connection()
    job = _locked_job(conn, job_id)
    if job.state != BulkJobState.PREVIEW:
        raise _why_not(conn, job, "run")
    now = utcnow()
    conn.execute(
        update(_jobs)
        .where(_jobs.c.id == job.id)
        .values(state=BulkJobState.QUEUED.value, confirmed_by=actor.name, confirmed_at=now, dispatched_at=now)
    )
    return _read_view(conn, job_id)


def run_job(db: Database, job_id: int, actor: Actor) -> JobView:
    """Confirm the job and hand its batches to the workers (through the installed dispatcher,
    refused before anything changes when there is none)."""
    dispatch = sweep_dispatch.installed_bulk_dispatcher()
    confirm_job(db, job_id, actor)
    dispatch_confirmed(db, job_id, dispatch)
    return job_view(db, job_id)


__all__ = [
    "MAX_ITEMS_PAGE",
    "MAX_NOTE_LENGTH",
    "MAX_STALL_BACKOFF",
    "UNDO_CUTS",
    "BatchRun",
    "BulkFilter",
    "BulkRequest",
    "ItemView",
    "JobView",
    "Progress",
    "cancel_job",
    "confirm_job",
    "confirm_job_in",
    "create_job",
    "create_job_in",
    "dispatch_batches",
    "dispatch_confirmed",
    "finish_if_complete",
    "job_view",
    "list_jobs",
    "next_batches",
    "redispatch_stalled",
    "run_batch",
    "run_job",
    "sweep_cuts_of",
]
