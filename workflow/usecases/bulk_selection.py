"""A bulk job's request and selection: the request checked (and a preset made whole) before anything
is read, then the customers it names, in order: a list (ids, references or CPF/CNPJ), a filter, or
the sweep's cuts of a day (see usecases/bulk.py).
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, exists, select
from sqlalchemy.orm import aliased

from ..db.bulk import id_list
from ..db.models import Customer, StatusChange
from ..domain import brazilian, limits
from ..domain.bulk import (
    BULK_REASONS,
    MAX_CUSTOMERS,
    REASONS_NEEDING_A_NOTE,
    Match,
    NothingSelected,
    TooManyCustomers,
    read_entries,
    unknown_entries,
)
from ..domain.customer_machine import TransitionRequest
from ..domain.errors import InvalidInput
from ..domain.vocabulary import (
    ActivationReason,
    CustomerEvent,
    CustomerStatus,
    DelinquencyStage,
    InactivationReason,
    Source,
)
from .transitions import Actor

_customers = Customer.__table__
_changes = StatusChange.__table__


UNDO_CUTS = "undo_cuts"

MAX_NOTE_LENGTH = 2000

_CHUNK = 5000  # ids per lookup statement (SQLite binds at most 32766 parameters)


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
