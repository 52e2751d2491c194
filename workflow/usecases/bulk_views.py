"""Bulk jobs as they are read: the job, its counts per outcome, its progress and a page of its items
(see usecases/bulk.py).
"""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, func, select

from ..db.bulk import id_list
from ..db.engine import Database
from ..db.models import BulkJob, BulkJobItem, Customer
from ..domain import limits
from ..domain.bulk import (
    BulkJobState,
    ItemOutcome,
    PreviewOutcome,
)
from ..domain.errors import InvalidInput, NotFound

_jobs = BulkJob.__table__
_items = BulkJobItem.__table__
_customers = Customer.__table__

MAX_ITEMS_PAGE = 1000


@dataclass(frozen=True)
class ItemView:
    position: int
    customer_id: int
    name: str
    external_ref: str | None
    given: str | None
    batch: int
    preview: str
    preview_rule: str | None
    preview_detail: str | None
    outcome: str
    rule: str | None
    detail: str | None
    transition_id: int | None


@dataclass(frozen=True)
class Progress:
    done: int  # items whose batch has run (or was skipped)
    total: int


@dataclass(frozen=True)
class JobView:
    id: int
    action: str
    reason: str
    note: str | None
    force: bool
    selection: dict
    state: str
    dry_run: bool  # a preview: nothing has changed
    source: str
    created_by: str
    created_at: datetime
    confirmed_by: str | None
    confirmed_at: datetime | None
    cancelled_by: str | None
    finished_at: datetime | None
    total: int
    batches: int
    batch_size: int
    preview_counts: dict[str, int]  # change | refused | unchanged
    counts: dict[str, int]  # pending | done | refused | unchanged | skipped
    progress: Progress
    items: list[ItemView] = field(default_factory=list)
    items_offset: int = 0
    items_limit: int = 0


def _checked_id(job_id: int) -> int:
    if not 1 <= job_id <= limits.MAX_ROW_ID:
        raise InvalidInput(f"job id must be between 1 and {limits.MAX_ROW_ID}")
    return job_id


def _counts(conn: Connection, job_id: int, column) -> dict[str, int]:
    query = select(column, func.count()).where(_items.c.job_id == job_id).group_by(column)
    return dict(conn.execute(query).tuples().all())


# -- reading jobs --


def _view(job, counts: dict[str, int], preview_counts: dict[str, int]) -> JobView:
    pending = counts.get(ItemOutcome.PENDING.value, 0)
    return JobView(
        id=job.id,
        action=job.action,
        reason=job.reason,
        note=job.note,
        force=job.force,
        selection=job.selection,
        state=job.state,
        dry_run=job.state == BulkJobState.PREVIEW,
        source=job.source,
        created_by=job.created_by,
        created_at=job.created_at,
        confirmed_by=job.confirmed_by,
        confirmed_at=job.confirmed_at,
        cancelled_by=job.cancelled_by,
        finished_at=job.finished_at,
        total=job.total,
        batches=job.batches,
        batch_size=job.batch_size,
        preview_counts={outcome.value: preview_counts.get(outcome.value, 0) for outcome in PreviewOutcome},
        counts={outcome.value: counts.get(outcome.value, 0) for outcome in ItemOutcome},
        progress=Progress(done=job.total - pending, total=job.total),
    )


def job_view(db: Database, job_id: int, items_offset: int = 0, items_limit: int = 100) -> JobView:
    """The job, its counts per outcome, its progress and one page of its items (by position)."""
    _checked_id(job_id)
    if items_offset < 0 or not 0 <= items_limit <= MAX_ITEMS_PAGE:
        raise InvalidInput(f"items_offset must be 0 or more and items_limit between 0 and {MAX_ITEMS_PAGE}")
    with db.read() as session:
        return _read_view(session.connection(), job_id, items_offset, items_limit)


def _read_view(conn: Connection, job_id: int, items_offset: int = 0, items_limit: int = 100) -> JobView:
    job = conn.execute(select(_jobs).where(_jobs.c.id == job_id)).one_or_none()
    if job is None:
        raise NotFound(f"bulk job {job_id} does not exist")
    view = _view(job, _counts(conn, job_id, _items.c.outcome), _counts(conn, job_id, _items.c.preview))
    page = conn.execute(
        select(_items, _customers.c.name, _customers.c.external_ref)
        .join(_customers, _customers.c.id == _items.c.customer_id)
        .where(_items.c.job_id == job_id)
        .order_by(_items.c.position)
        .offset(items_offset)
        .limit(items_limit)
    )
    items = [
        ItemView(
            position=row.position,
            customer_id=row.customer_id,
            name=row.name,
            external_ref=row.external_ref,
            given=row.given,
            batch=row.batch,
            preview=row.preview,
            preview_rule=row.preview_rule,
            preview_detail=row.preview_detail,
            outcome=row.outcome,
            rule=row.rule,
            detail=row.detail,
            transition_id=row.transition_id,
        )
        for row in page
    ]
    return JobView(**{**vars(view), "items": items, "items_offset": items_offset, "items_limit": items_limit})


def list_jobs(db: Database, offset: int = 0, limit: int = 50) -> list[JobView]:
    """The latest jobs first, with their counts (no items)."""
    if offset < 0 or not 1 <= limit <= 500:
        raise InvalidInput("offset must be 0 or more and limit between 1 and 500")
    with db.read() as session:
        conn = session.connection()
        jobs = conn.execute(select(_jobs).order_by(_jobs.c.id.desc()).offset(offset).limit(limit)).all()
        ids = [job.id for job in jobs]
        counts: dict[int, dict[str, int]] = {job_id: {} for job_id in ids}
        previews: dict[int, dict[str, int]] = {job_id: {} for job_id in ids}
        if ids:
            for column, into in ((_items.c.outcome, counts), (_items.c.preview, previews)):
                query = (
                    select(_items.c.job_id, column, func.count())
                    .where(_items.c.job_id.in_(id_list("ids", ids)))
                    .group_by(_items.c.job_id, column)
                )
                for job_id, value, count in conn.execute(query):
                    into[job_id][value] = count
    return [_view(job, counts[job.id], previews[job.id]) for job in jobs]
