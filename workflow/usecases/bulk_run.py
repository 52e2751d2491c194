"""Running a confirmed bulk job: the machine asked once per group of customers alike, each batch in
one transaction (run_batch), the job finished by whichever batch ends last, cancelled between
batches, its stalled batches queued again (see usecases/bulk.py).
"""

import logging
from dataclasses import astuple, dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Connection, and_, bindparam, exists, func, or_, select, update

from ..db.bulk import id_list
from ..db.engine import Database
from ..db.models import BulkJob, BulkJobItem
from ..db.types import utcnow
from ..domain.bulk import (
    OPEN_STATES,
    BulkJobState,
    Conflict,
    ItemOutcome,
    PreviewOutcome,
)
from ..domain.customer_machine import TransitionRequest
from ..domain.delinquency import NOTHING_OVERDUE, Overdue
from ..domain.errors import AtivaError, GuardFailed, NotFound, TransitionNotAllowed
from ..domain.vocabulary import (
    CustomerEvent,
    CustomerStatus,
    Role,
    Source,
)
from ..settings import get_settings
from . import sweep_dispatch
from .batch_writes import Decided, write_decided
from .bulk_selection import _CHUNK
from .bulk_views import JobView, _checked_id, _counts, job_view
from .business_day import provider_today
from .customer_locks import lock_customers_in_id_order
from .delinquency import overdue_by_customer
from .effect_bus import publish_groups_after_commit
from .transitions import Actor, Decision, decide, guard_facts, history_row, state_of

log = logging.getLogger(__name__)

_jobs = BulkJob.__table__
_items = BulkJobItem.__table__

_TARGET = {CustomerEvent.ACTIVATE: CustomerStatus.ACTIVE, CustomerEvent.INACTIVATE: CustomerStatus.INACTIVE}


@dataclass
class BatchRun:
    job_id: int
    batch: int
    done: list[int] = field(default_factory=list)  # customer ids changed
    refused: dict[int, str] = field(default_factory=dict)  # customer id -> why (refused or unchanged)
    skipped_why: str | None = None  # why the batch did nothing (cancelled, done, not confirmed)
    finished: bool = False  # the job became done with this batch


# -- asking the machine --


def _decide_each(
    rows: list,
    overdue: dict[int, Overdue],
    event: CustomerEvent,
    request: TransitionRequest,
    today: date,
    now: datetime,
) -> dict[int, Decision | AtivaError]:
    """The machine's answer for each customer row. It decides once per group of customers alike:
    an activation or an inactivation reads the prior lifecycle state and whether anything is past
    due, never the amount, and the request is the job's. A refused group is asked customer by
    customer, so each refusal carries the machine's own words."""
    groups: dict[tuple, list] = {}
    for row in rows:
        owes = overdue.get(row.id, NOTHING_OVERDUE).invoices > 0
        groups.setdefault((astuple(state_of(row)), owes), []).append(row)
    answers: dict[int, Decision | AtivaError] = {}

    def ask(row) -> Decision:
        facts = guard_facts(overdue.get(row.id, NOTHING_OVERDUE).invoices, now, today)
        return decide(row.id, state_of(row), event, request, facts)

    for members in groups.values():
        try:
            decision = ask(members[0])
        except AtivaError:
            for row in members:
                try:
                    answers[row.id] = ask(row)
                except AtivaError as refused:
                    answers[row.id] = refused
            continue
        answers.update((row.id, decision) for row in members)
    return answers


def _refusal(row, refused: AtivaError, event: CustomerEvent) -> tuple[str, str | None, str]:
    """(unchanged | refused, the rule, the machine's words) of a refused customer."""
    if isinstance(refused, TransitionNotAllowed) and row.status == _TARGET[event]:
        return PreviewOutcome.UNCHANGED.value, refused.code, refused.detail
    rule = refused.rule if isinstance(refused, GuardFailed) else refused.code
    return PreviewOutcome.REFUSED.value, rule, refused.detail


# FOR NO KEY UPDATE: a batch's history rows point at the job (a foreign key, whose check takes a
# KEY SHARE lock on its row), so a cancellation holding the row while it waits for the batch's
# items must not block that check, or the two would wait for each other.
_LOCK_JOB = select(_jobs).where(_jobs.c.id == bindparam("job_id")).with_for_update(key_share=True)

_READ_JOB = select(_jobs).where(_jobs.c.id == bindparam("job_id"))


def _locked_job(conn: Connection, job_id: int):
    limits_checked = _checked_id(job_id)
    job = conn.execute(_LOCK_JOB, {"job_id": limits_checked}).one_or_none()
    if job is None:
        raise NotFound(f"bulk job {job_id} does not exist")
    return job


def _why_not(conn: Connection, job, what: str) -> Conflict:
    counts = _counts(conn, job.id, _items.c.outcome)
    said = ", ".join(f"{count} {outcome}" for outcome, count in sorted(counts.items()))
    match job.state:
        case BulkJobState.DONE:
            return Conflict(f"bulk job {job.id} is done ({said}): it cannot {what} again; nothing was changed")
        case BulkJobState.CANCELLED:
            return Conflict(f"bulk job {job.id} was cancelled ({said}): it cannot {what}; nothing was changed")
        case _:
            return Conflict(f"bulk job {job.id} is {job.state} ({said}): it cannot {what} now; nothing was changed")


def dispatch_confirmed(db: Database, job_id: int, dispatch: sweep_dispatch.BulkDispatcher) -> bool:
    """Hand a just-confirmed job's batches to the workers. The job is committed `queued` already:
    a dispatch that fails (the broker down) is not the caller's error; the job is marked never
    dispatched, which the stall check (redispatch_stalled) queues at its next tick. False then."""
    try:
        dispatch_batches(db, job_id, dispatch)
    except Exception:
        log.warning("bulk job %s: its batches could not be queued; the stall check queues them", job_id, exc_info=True)
        with db.write() as session:
            session.execute(update(_jobs).where(_jobs.c.id == job_id).values(dispatched_at=None))
        return False
    return True


def _pending_batches(conn: Connection, job_id: int) -> list[int]:
    query = (
        select(_items.c.batch)
        .where(_items.c.job_id == job_id, _items.c.outcome == ItemOutcome.PENDING)
        .distinct()
        .order_by(_items.c.batch)
    )
    return list(conn.scalars(query))


def next_batches(db: Database, job_id: int) -> list[int]:
    """The batches of the job with items still pending, in order (what is left to run)."""
    with db.read() as session:
        return _pending_batches(session.connection(), _checked_id(job_id))


def dispatch_batches(db: Database, job_id: int, dispatch: sweep_dispatch.BulkDispatcher) -> list[int]:
    """Queue every batch with items still pending (each checks the job's state when it runs)."""
    batches = next_batches(db, job_id)
    for batch in batches:
        dispatch(job_id, batch)
    return batches


_START = (
    update(_jobs)
    .where(_jobs.c.id == bindparam("job_id"), _jobs.c.state == BulkJobState.QUEUED.value)
    .values(state=BulkJobState.RUNNING.value)
)

_PENDING_OF_BATCH = (
    select(_items.c.id, _items.c.customer_id)
    .where(
        _items.c.job_id == bindparam("job_id"),
        _items.c.outcome == ItemOutcome.PENDING.value,
        _items.c.batch == bindparam("batch"),
    )
    .order_by(_items.c.customer_id)
    .with_for_update()
)

# Each changed customer's item points at the history row the batch wrote for it.
_MARK_DONE = (
    update(_items)
    .where(_items.c.id == bindparam("item_id"))
    .values(outcome=ItemOutcome.DONE.value, transition_id=bindparam("change_id"), updated_at=bindparam("now"))
)

_MARK_ONE = (
    update(_items)
    .where(_items.c.id == bindparam("item_id"))
    .values(
        outcome=bindparam("new_outcome"),
        rule=bindparam("new_rule"),
        detail=bindparam("new_detail"),
        updated_at=bindparam("now"),
    )
)


def run_batch(db: Database, job_id: int, batch_no: int) -> BatchRun:
    """Run one batch of a confirmed job in one transaction; a batch already run (delivered twice)
    or of a job cancelled meanwhile writes nothing."""
    settings = get_settings()
    today = provider_today(settings.timezone)
    run = BatchRun(job_id, batch_no)
    # queued -> running by the first batch, in a transaction of its own: the job's row is locked
    # only while it changes, never for a whole batch. Batches run side by side on several workers,
    # and a cancellation never waits behind a stream of them. What keeps a cancelled job's batches
    # from running is their items: the cancellation turns every pending item `skipped` (waiting
    # for the items of the batches under way, which it locks in the same order), and a batch runs
    # pending items only.
    with db.write() as session:
        session.connection().execute(_START, {"job_id": job_id})
    with db.write() as session:
        conn = session.connection()
        job = conn.execute(_READ_JOB, {"job_id": job_id}).one_or_none()
        if job is None or job.state != BulkJobState.RUNNING:
            run.skipped_why = "no such job" if job is None else f"the job is {job.state}"
            return run
        pending = list(conn.execute(_PENDING_OF_BATCH, {"job_id": job_id, "batch": batch_no}))
        if pending:
            _run_locked(session, conn, job, pending, today, run)
        else:
            run.skipped_why = "the batch has run already"
    run.finished = finish_if_complete(db, job_id)
    return run


def _run_locked(session, conn: Connection, job, pending: list, today: date, run: BatchRun) -> None:
    event = CustomerEvent(job.action)
    request = TransitionRequest(job.reason, job.note, force=job.force, actor_role=Role(job.actor_role))
    actor = Actor(job.confirmed_by or job.created_by, Role(job.actor_role))
    source = Source(job.source)
    item_of = {item.customer_id: item.id for item in pending}
    locked = {row.id: row for row in lock_customers_in_id_order(conn, sorted(item_of))}
    # A statement of its own after the locks: one that waited for a lock keeps its old snapshot.
    overdue = overdue_by_customer(conn, sorted(locked), today) if locked else {}
    now = utcnow()
    answers = _decide_each(list(locked.values()), overdue, event, request, today, now)
    decided: list[Decided] = []
    marks: list[dict] = []
    for customer_id, item_id in item_of.items():
        row = locked.get(customer_id)
        answer = answers.get(customer_id)
        if row is None or answer is None:
            marks.append(
                _mark(item_id, ItemOutcome.REFUSED, "not_found", f"customer {customer_id} does not exist", now)
            )
            continue
        if isinstance(answer, Decision):
            change = history_row(
                row.id, row.version + 1, event, row.status, answer, request, actor, source, now, bulk_job_id=job.id
            )
            decided.append(Decided(row, answer, change))
            continue
        outcome, rule, detail = _refusal(row, answer, event)
        marks.append(_mark(item_id, ItemOutcome(outcome), rule, detail, now))
        run.refused[customer_id] = detail
    written = write_decided(conn, decided, now)
    publish_groups_after_commit(session, written.effect_groups)
    if decided:
        run.done = [one.row.id for one in decided]
        conn.execute(
            _MARK_DONE,
            [
                {"item_id": item_of[customer_id], "change_id": written.change_ids[customer_id], "now": now}
                for customer_id in run.done
            ],
        )
    if marks:
        conn.execute(_MARK_ONE, marks)


def _mark(item_id: int, outcome: ItemOutcome, rule: str | None, detail: str | None, now: datetime) -> dict:
    return {"item_id": item_id, "new_outcome": outcome.value, "new_rule": rule, "new_detail": detail, "now": now}


_ANY_PENDING = exists().where(_items.c.job_id == bindparam("job_id"), _items.c.outcome == ItemOutcome.PENDING.value)


def finish_if_complete(db: Database, job_id: int) -> bool:
    """A running job with nothing pending is done (whichever batch ends last says so)."""
    with db.read() as session:
        if session.connection().scalar(select(_ANY_PENDING), {"job_id": job_id}):
            return False
    with db.write() as session:
        conn = session.connection()
        job = conn.execute(_LOCK_JOB, {"job_id": job_id}).one_or_none()
        if job is None or job.state != BulkJobState.RUNNING or conn.scalar(select(_ANY_PENDING), {"job_id": job_id}):
            return False
        conn.execute(
            update(_jobs).where(_jobs.c.id == job_id).values(state=BulkJobState.DONE.value, finished_at=utcnow())
        )
    return True


# A cancellation's lock on the pending items: in (batch, customer) order, the order in which each
# batch locks its own (_PENDING_OF_BATCH), so the two never wait for each other in a circle.
_PENDING_IN_LOCK_ORDER = (
    select(_items.c.id)
    .where(_items.c.job_id == bindparam("job_id"), _items.c.outcome == ItemOutcome.PENDING.value)
    .order_by(_items.c.batch, _items.c.customer_id)
    .with_for_update()
)


def cancel_job(db: Database, job_id: int, actor: Actor) -> JobView:
    """Stop a job between batches: the batches under way end first (the cancellation waits for
    their items), those not run yet are left `skipped`. A preview is dropped the same way. A
    finished job is a Conflict."""
    with db.write() as session:
        conn = session.connection()
        job = _locked_job(conn, job_id)
        if job.state in (BulkJobState.DONE, BulkJobState.CANCELLED):
            raise _why_not(conn, job, "be cancelled")
        now = utcnow()
        pending = list(conn.scalars(_PENDING_IN_LOCK_ORDER, {"job_id": job.id}))
        for start in range(0, len(pending), _CHUNK):
            conn.execute(
                update(_items)
                .where(_items.c.id.in_(id_list("items", pending[start : start + _CHUNK])))
                .values(
                    outcome=ItemOutcome.SKIPPED.value,
                    detail=f"the job was cancelled by {actor.name} before this batch ran",
                    updated_at=now,
                )
            )
        conn.execute(
            update(_jobs)
            .where(_jobs.c.id == job.id)
            .values(state=BulkJobState.CANCELLED.value, cancelled_by=actor.name, finished_at=now)
        )
    return job_view(db, job_id)


# A job that stays stalled is queued again less and less often: the wait doubles each time, up to
# this many stall periods (its batches may sit behind a long queue rather than be lost).
MAX_STALL_BACKOFF = 64


def _due_again(job, stalled_after: timedelta, now: datetime) -> bool:
    """Whether a stalled job is due to be queued again. The wait since the last hand-out is as long
    as the job had been stalled at that hand-out (at least one stall period): 1, 2, 4... periods
    while nothing moves, with no counter to keep; progress (or the confirmation) starts it over."""
    if job.dispatched_at is None:  # never handed out (dispatch_confirmed failed): at once
        return True
    stalled_since = max(moment for moment in (job.last_progress, job.confirmed_at) if moment is not None)
    wait = min(max(stalled_after, job.dispatched_at - stalled_since), stalled_after * MAX_STALL_BACKOFF)
    return now - job.dispatched_at >= wait


def redispatch_stalled(
    db: Database, stalled_after: timedelta, dispatch: sweep_dispatch.BulkDispatcher
) -> dict[int, list[int]]:
    """Queue again the pending batches of confirmed jobs that made no progress for `stalled_after`
    (a worker died with its batch, a broker lost the message), backing off while they stay stalled
    (_due_again); a batch that ran meanwhile finds nothing pending. A running job with nothing
    pending lost its last batch's worker between the batch's commit and finish_if_complete: it is
    finished here. Returns job id -> the batches queued again (jobs finished here are left out)."""
    now = utcnow()
    cutoff = now - stalled_after
    last_progress = select(func.max(_items.c.updated_at)).where(_items.c.job_id == _jobs.c.id).scalar_subquery()
    stalled = (
        select(_jobs.c.id, _jobs.c.dispatched_at, _jobs.c.confirmed_at, last_progress.label("last_progress"))
        .where(
            _jobs.c.state.in_([state.value for state in OPEN_STATES]),
            or_(_jobs.c.dispatched_at.is_(None), and_(_jobs.c.dispatched_at < cutoff, last_progress < cutoff)),
        )
        .order_by(_jobs.c.id)
    )
    queued: dict[int, list[int]] = {}
    with db.write() as session:
        conn = session.connection()
        for job in conn.execute(stalled).all():
            if _due_again(job, stalled_after, now):
                queued[job.id] = _pending_batches(conn, job.id)
                conn.execute(update(_jobs).where(_jobs.c.id == job.id).values(dispatched_at=now))
    for job_id in [job_id for job_id, batches in queued.items() if not batches]:
        if finish_if_complete(db, job_id):
            del queued[job_id]
    for job_id, batches in queued.items():
        for batch in batches:
            dispatch(job_id, batch)
    return queued
