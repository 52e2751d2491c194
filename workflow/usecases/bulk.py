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
"""

import logging
from dataclasses import astuple, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session, aliased

from ..db.bulk import id_list, insert_rows
from ..db.engine import Database
from ..db.models import BulkJob, BulkJobItem, Customer, StatusChange
from ..db.types import utcnow
from ..domain import brazilian, limits
from ..domain.bulk import (
    BULK_REASONS,
    MAX_CUSTOMERS,
    OPEN_STATES,
    REASONS_NEEDING_A_NOTE,
    BulkJobState,
    Conflict,
    ItemOutcome,
    Match,
    NothingSelected,
    PreviewOutcome,
    TooManyCustomers,
    read_entries,
    unknown_entries,
)
from ..domain.customer_machine import TransitionRequest
from ..domain.delinquency import NOTHING_OVERDUE, Overdue
from ..domain.errors import AtivaError, GuardFailed, InvalidInput, NotFound, TransitionNotAllowed
from ..domain.vocabulary import (
    ActivationReason,
    CustomerEvent,
    CustomerStatus,
    DelinquencyStage,
    InactivationReason,
    Role,
    Source,
)
from ..settings import get_settings
from . import sweep_dispatch
from .batch_writes import Decided, write_decided
from .business_day import provider_today
from .customer_locks import lock_customers_in_id_order
from .delinquency import overdue_by_customer
from .effect_bus import publish_after_commit
from .transitions import Actor, Decision, decide, guard_facts, history_row, state_of

log = logging.getLogger(__name__)

_jobs = BulkJob.__table__
_items = BulkJobItem.__table__
_customers = Customer.__table__
_changes = StatusChange.__table__

UNDO_CUTS = "undo_cuts"
MAX_NOTE_LENGTH = 2000
MAX_ITEMS_PAGE = 1000
_CHUNK = 5000  # ids per lookup statement (SQLite binds at most 32766 parameters)
_TARGET = {CustomerEvent.ACTIVATE: CustomerStatus.ACTIVE, CustomerEvent.INACTIVATE: CustomerStatus.INACTIVE}


@dataclass(frozen=True)
class BulkFilter:
    """Customers by what they are now; every criterion given must hold."""

    status: str | None = None
    inactivation_reason: str | None = None
    source: str | None = None  # of the customer's latest status change
    cut_date: date | None = None  # inactive since a change on that provider-local day
    delinquency_stage: str | None = None

    def given(self) -> dict:
        return {name: value for name, value in vars(self).items() if value is not None}


@dataclass(frozen=True)
class BulkRequest:
    action: str | None  # activate | inactivate (the preset sets it)
    reason: str | None = None
    note: str | None = None
    force: bool = False
    customers: list | None = None  # ids, external refs or CPF/CNPJ, as `match` says
    match: str | None = None  # id | external_ref | document
    filter: BulkFilter | None = None
    preset: str | None = None  # undo_cuts
    preset_date: date | None = None
    batch_size: int | None = None  # default ATIVA_SWEEP_BATCH_SIZE


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


@dataclass
class BatchRun:
    job_id: int
    batch: int
    done: list[int] = field(default_factory=list)  # customer ids changed
    refused: dict[int, str] = field(default_factory=dict)  # customer id -> why (refused or unchanged)
    skipped_why: str | None = None  # why the batch did nothing (cancelled, done, not confirmed)
    finished: bool = False  # the job became done with this batch


# -- the request --


def _checked(request: BulkRequest, actor: Actor, today: date) -> tuple[BulkRequest, CustomerEvent, TransitionRequest]:
    """The request made whole (a preset fills in its action, reason and force) and the machine's
    request every customer is asked with; bad input is refused before anything is read."""
    note = limits.check_text("note", request.note, multiline=True)
    if note is not None and len(note) > MAX_NOTE_LENGTH:
        raise InvalidInput(f"note is longer than {MAX_NOTE_LENGTH} characters")
    if request.batch_size is not None and not 1 <= request.batch_size <= 5000:
        raise InvalidInput("batch_size must be between 1 and 5000")
    given = [name for name in ("customers", "filter", "preset") if getattr(request, name) is not None]
    if len(given) != 1:
        raise InvalidInput("give exactly one of customers, filter or preset")
    if request.preset is not None:
        request = _preset_request(request, today)
    if request.action not in (CustomerEvent.ACTIVATE, CustomerEvent.INACTIVATE):
        raise InvalidInput(f"action {request.action!r} is unknown: use activate or inactivate")
    event = CustomerEvent(request.action)
    reasons = BULK_REASONS[event]
    if request.reason not in reasons:
        why = (
            " (a trust unlock is given one customer at a time, with its days)"
            if request.reason == "trust_unlock"
            else ""
        )
        raise InvalidInput(
            f"reason {request.reason!r} does not go with {event} in a bulk job: use one of {', '.join(reasons)}{why}"
        )
    if request.reason in REASONS_NEEDING_A_NOTE and not (note and note.strip()):
        raise InvalidInput(f"reason {request.reason!r} needs a note explaining it")
    if request.force and event is CustomerEvent.INACTIVATE:
        raise InvalidInput("force applies only to activation")
    if request.match is not None and request.customers is None:
        raise InvalidInput("match goes with a list of customers")
    return request, event, TransitionRequest(request.reason, note, force=request.force, actor_role=actor.role)


def _preset_request(request: BulkRequest, today: date) -> BulkRequest:
    if request.preset != UNDO_CUTS:
        raise InvalidInput(f"preset {request.preset!r} is unknown: the one preset is {UNDO_CUTS}")
    if request.action not in (None, CustomerEvent.ACTIVATE.value):
        raise InvalidInput(f"the {UNDO_CUTS} preset activates; action {request.action!r} does not go with it")
    if request.reason not in (None, ActivationReason.MANUAL.value):
        raise InvalidInput(f"the {UNDO_CUTS} preset's reason is manual, not {request.reason!r}")
    if not (request.note and request.note.strip()):
        raise InvalidInput(f"the {UNDO_CUTS} preset needs a note saying why the cuts are undone")
    if request.preset_date is None:
        raise InvalidInput(f"the {UNDO_CUTS} preset needs the date of the cuts to undo")
    limits.check_date("date", request.preset_date, today)
    # They still owe (the bank failed, not them): force, which sets the forced activation's hold.
    return BulkRequest(
        action=CustomerEvent.ACTIVATE.value,
        reason=ActivationReason.MANUAL.value,
        note=request.note,
        force=True,
        preset=UNDO_CUTS,
        preset_date=request.preset_date,
        batch_size=request.batch_size,
    )


# -- the selection --


@dataclass(frozen=True)
class _Chosen:
    customer_id: int
    position: int
    given: str | None


def _day_bounds(day: date, timezone: str) -> tuple[datetime, datetime]:
    """The instants a provider-local day starts and ends, in UTC."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(day, time(), zone).astimezone(UTC)
    return start, datetime.combine(day + timedelta(days=1), time(), zone).astimezone(UTC)


def _select(conn: Connection, request: BulkRequest, timezone: str, today: date) -> tuple[dict, list[_Chosen]]:
    """What was asked (the job's `selection`) and the customers it names, in order."""
    if request.customers is not None:
        return _listed(conn, request.customers, request.match)
    if request.filter is not None:
        _checked_filter(request.filter, today)
        return _filtered(conn, request.filter, timezone)
    if request.preset_date is None:  # _preset_request requires it
        raise InvalidInput("the preset needs a date")
    return _cuts_of_the_day(conn, request.preset_date, timezone)


_LOOKUP = {
    Match.ID: _customers.c.id,
    Match.EXTERNAL_REF: _customers.c.external_ref,
    Match.DOCUMENT: _customers.c.document,
}


def _listed(conn: Connection, customers: list, match: str | None) -> tuple[dict, list[_Chosen]]:
    kind, entries = read_entries(customers, match)
    column = _LOOKUP[kind]
    found: dict[int | str, int] = {}
    keys = [entry.key for entry in entries]
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        wanted = column.in_(id_list("keys", chunk)) if kind is Match.ID else column.in_(chunk)
        found.update(
            (key, customer_id) for key, customer_id in conn.execute(select(column, _customers.c.id).where(wanted))
        )
    refused = unknown_entries(entries, set(found))
    if refused is not None:
        raise refused
    chosen: list[_Chosen] = []
    seen: set[int] = set()
    for entry in entries:
        customer_id = found[entry.key]
        if customer_id not in seen:  # a customer named twice (by two spellings of a document, say)
            seen.add(customer_id)
            chosen.append(_Chosen(customer_id, entry.position, entry.given))
    return {"customers": len(customers), "match": kind.value}, chosen


def _checked_filter(wanted: BulkFilter, today: date) -> None:
    vocabularies = {
        "status": CustomerStatus,
        "inactivation_reason": InactivationReason,
        "source": Source,
        "delinquency_stage": DelinquencyStage,
    }
    if not wanted.given():
        raise InvalidInput("the filter is empty: give at least one criterion")
    for name, vocabulary in vocabularies.items():
        value = getattr(wanted, name)
        if value is not None and value not in {member.value for member in vocabulary}:
            raise InvalidInput(f"filter {name} {value!r} is unknown: use one of {', '.join(vocabulary)}")
    limits.check_date("cut_date", wanted.cut_date, today)


def _filtered(conn: Connection, wanted: BulkFilter, timezone: str) -> tuple[dict, list[_Chosen]]:
    query = select(_customers.c.id)
    if wanted.status is not None:
        query = query.where(_customers.c.status == wanted.status)
    if wanted.inactivation_reason is not None:
        query = query.where(_customers.c.inactivation_reason == wanted.inactivation_reason)
    if wanted.delinquency_stage is not None:
        query = query.where(_customers.c.delinquency_stage == wanted.delinquency_stage)
    if wanted.cut_date is not None:
        start, end = _day_bounds(wanted.cut_date, timezone)
        query = query.where(
            _customers.c.status == CustomerStatus.INACTIVE,
            _customers.c.status_changed_at >= start,
            _customers.c.status_changed_at < end,
        )
    if wanted.source is not None:
        # The customer's latest change is of that source: no later change of theirs exists (the
        # index on customer_id answers each; no grouping over the whole history).
        later = aliased(StatusChange)
        query = query.join(_changes, _changes.c.customer_id == _customers.c.id).where(
            _changes.c.source == wanted.source,
            ~exists().where(later.customer_id == _changes.c.customer_id, later.id > _changes.c.id),
        )
    ids = list(conn.scalars(query.order_by(_customers.c.id).limit(MAX_CUSTOMERS + 1)))
    selection = {"filter": {k: v.isoformat() if isinstance(v, date) else v for k, v in wanted.given().items()}}
    if not ids:
        raise NothingSelected(f"the filter {selection['filter']} matches no customer; nothing was created")
    return selection, _in_id_order(ids)


def _in_id_order(ids: list[int]) -> list[_Chosen]:
    if len(ids) > MAX_CUSTOMERS:
        raise TooManyCustomers(f"a job holds at most {MAX_CUSTOMERS} customers; the selection matches more")
    return [_Chosen(customer_id, position, None) for position, customer_id in enumerate(ids, start=1)]


def sweep_cuts_of(conn: Connection, day: date, timezone: str) -> list[int]:
    """Customers the sweep cut on the provider-local `day` who are still inactive from that cut
    (no later change of any kind), in id order."""
    start, end = _day_bounds(day, timezone)
    later = aliased(StatusChange)
    query = (
        select(_changes.c.customer_id)
        .join(_customers, _customers.c.id == _changes.c.customer_id)
        .where(
            _changes.c.event == CustomerEvent.INACTIVATE,
            _changes.c.source == Source.SCHEDULER,
            _changes.c.reason == InactivationReason.DELINQUENCY,
            _changes.c.created_at >= start,
            _changes.c.created_at < end,
            _customers.c.status == CustomerStatus.INACTIVE,
            ~exists().where(later.customer_id == _changes.c.customer_id, later.id > _changes.c.id),
        )
        .order_by(_changes.c.customer_id)
    )
    return list(conn.scalars(query.limit(MAX_CUSTOMERS + 1)))


def _cuts_of_the_day(conn: Connection, day: date, timezone: str) -> tuple[dict, list[_Chosen]]:
    ids = sweep_cuts_of(conn, day, timezone)
    if not ids:
        raise NothingSelected(
            f"nobody the sweep cut on {brazilian.day(day)} ({day.isoformat()}) is still inactive from that cut: "
            "no customer matches; nothing was created"
        )
    return {"preset": UNDO_CUTS, "date": day.isoformat()}, _in_id_order(ids)


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


def _checked_id(job_id: int) -> int:
    if not 1 <= job_id <= limits.MAX_ROW_ID:
        raise InvalidInput(f"job id must be between 1 and {limits.MAX_ROW_ID}")
    return job_id


def _counts(conn: Connection, job_id: int, column) -> dict[str, int]:
    query = select(column, func.count()).where(_items.c.job_id == job_id).group_by(column)
    return dict(conn.execute(query).tuples().all())


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
    publish_after_commit(session, written.effect_ids)
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
