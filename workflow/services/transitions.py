"""What happens when a customer is inactivated or activated.

One call = one transaction (opened by the caller with Database.write()): lock the customer row,
let the machine decide, then append the history row and one outbox row per effect. Workers carry
the effects out after commit.

This is the hot path of every transition, so it speaks SQLAlchemy Core with prebuilt statements:
the ORM's unit of work cost four times the database work here (see bench/transitions.py).
"""

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from functools import lru_cache

from sqlalchemy import Connection, bindparam, func, insert, literal_column, null, select, text, update
from sqlalchemy.orm import Session
from statemachine.exceptions import TransitionNotAllowed as MachineRefused

from ..db.bulk import id_list
from ..db.models import Customer, Invoice, OutboxEffect, StatusChange
from ..db.types import utcnow
from ..domain import limits
from ..domain.customer_machine import (
    CustomerFacts,
    CustomerLifecycle,
    LifecycleState,
    TransitionRequest,
    TrustUnlockLimits,
)
from ..domain.errors import NotFound, StaleVersion, TransitionNotAllowed
from ..domain.vocabulary import CustomerEvent, Effect, EffectState, InvoiceStatus, Role, Source
from ..settings import get_settings
from .clock import provider_today
from .effect_bus import publish_after_commit
from .written_rows import CustomerRow, OutboxEffectRow, StatusChangeRow

_customers = Customer.__table__
_invoices = Invoice.__table__
_changes = StatusChange.__table__
_effects = OutboxEffect.__table__

_OVERDUE = (
    select(func.count())
    .select_from(_invoices)
    .where(
        _invoices.c.customer_id == bindparam("customer_id"),
        _invoices.c.status == InvoiceStatus.OPEN.value,
        _invoices.c.due_date < bindparam("today"),
    )
)
# FOR UPDATE is not rendered on SQLite, whose write unit already holds the database lock.
# The guards' facts are read by a separate statement *after* the lock: on PostgreSQL a statement
# that waited for the lock keeps its old snapshot for everything but the locked row.
LOCK_CUSTOMER = select(_customers).where(_customers.c.id == bindparam("customer_id")).with_for_update()
# The columns a transition sets, shared by the one-customer and the whole-batch statements so the
# sweep's set-based cut can never write a customer differently from a single transition.
_NEW_STATE = {
    "status": bindparam("new_status"),
    "inactivation_reason": bindparam("new_reason"),
    "trust_unlock_until": bindparam("new_trust_until"),
    "trust_unlocks_used": bindparam("new_trust_used"),
    "return_on": bindparam("new_return_on"),
    "forced_hold_until": bindparam("new_forced_hold_until"),
    "status_changed_at": bindparam("now"),
    "updated_at": bindparam("now"),
    "version": _customers.c.version + 1,
}
_APPLY = update(_customers).where(_customers.c.id == bindparam("customer_id")).values(_NEW_STATE)
APPLY_TO_MANY = (
    update(_customers)
    .where(_customers.c.id.in_(id_list("customer_ids")))
    .values(_NEW_STATE)
)
# Only ids come back: every other value is known here, and wide RETURNING rows cost real CPU.
_RECORD = insert(_changes).returning(_changes.c.id)
# A hold moves the cut to after its date: the customer is warned again before that cut.
_NEW_WARNING_EPISODE = (
    update(_customers).where(_customers.c.id == bindparam("customer_id")).values(warned_for_due=None)
)
QUEUE_EFFECTS = insert(_effects).returning(_effects.c.id, sort_by_parameter_order=True)


@dataclass(frozen=True)
class Actor:
    name: str  # "token:ops-bot", "cli:maria", "user:joao"
    role: Role


@dataclass
class TransitionOutcome:
    """What was written, attribute by attribute as in the tables (customers, status_changes,
    outbox_effects), without a second read."""

    customer: CustomerRow
    transition: StatusChangeRow
    effects: list[OutboxEffectRow]


def lock_customer(session: Session, customer_id: int) -> Customer:
    """Load the customer under a row lock (SQLite: the unit's write lock). populate_existing: an
    object already in the session is refreshed with what the lock sees, never left stale."""
    customer = session.scalar(
        select(Customer).where(Customer.id == customer_id).with_for_update()
        .execution_options(populate_existing=True)
    )
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist")
    return customer


def check_version(customer, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != customer.version:
        raise StaleVersion(
            f"customer {customer.id} is at version {customer.version}, not {expected_version}: "
            "someone saved it in between; reload and try again"
        )


def new_effect(
    name: Effect,
    customer_id: int,
    now: datetime,
    *,
    transition_id: int | None = None,
    service_id: int | None = None,
    origin: str = "transition",
) -> dict:
    """The values of a fresh outbox row (pending, due now)."""
    return {
        "transition_id": transition_id, "customer_id": customer_id, "service_id": service_id,
        "origin": origin, "name": name.value, "state": EffectState.PENDING.value, "attempts": 0,
        "last_error": None, "note": None, "created_at": now, "next_attempt_at": now,
        "claimed_until": None, "published_at": None, "completed_at": None, "relay_count": 0,
        "relay_after": None,
    }


# The outbox rows of one transition as one multi-row INSERT, prebuilt per row count: the rows share
# the transition, the customer and the time (bound once) and differ by the effect's name; every
# other column is new_effect's constant. QUEUE_EFFECTS' executemany path (rendered anew on each
# call, ids sorted back into parameter order) cost more client CPU than all other statements.
_SHARED_EFFECT_VALUES = {
    "transition_id": bindparam("transition_id", type_=_effects.c.transition_id.type),
    "customer_id": bindparam("customer_id", type_=_effects.c.customer_id.type),
    "created_at": bindparam("now", type_=_effects.c.created_at.type),
    "next_attempt_at": bindparam("now", type_=_effects.c.next_attempt_at.type),
}


def _written_in(value):
    """A constant of new_effect written into the SQL (no parameter to bind on every call)."""
    if value is None:
        return null()
    if type(value) is int or (type(value) is str and "'" not in value and "\\" not in value):
        return literal_column(repr(value) if type(value) is str else str(value))
    # A bound constant would leave the text statement a parameter nobody passes: say so at once.
    raise TypeError(f"cannot write {value!r} into the outbox INSERT; bind it as a shared value")


@lru_cache(maxsize=8)
def _queue_transition_effects(count: int):
    template = new_effect(Effect.NOTIFY_BILLING, 0, utcnow(), transition_id=0)
    constant = {k: _written_in(v) for k, v in template.items()
                if k not in _SHARED_EFFECT_VALUES and k != "name"}
    rows = [{**constant, **_SHARED_EFFECT_VALUES,
             "name": bindparam(f"name_{n}", type_=_effects.c.name.type)} for n in range(count)]
    statement = insert(_effects).values(rows).returning(_effects.c.id, _effects.c.name)
    # SQLAlchemy compiles a multi-row VALUES anew on every call (no cache key); the same statement
    # as text (named parameters, rendered by any dialect) is compiled once and cached.
    return (text(str(statement)).bindparams(*_SHARED_EFFECT_VALUES.values())
            .columns(_effects.c.id, _effects.c.name))


def queue_transition_effects(db: Connection, transition_id: int, customer_id: int, now: datetime,
                             names: tuple[Effect, ...]) -> list[dict]:
    """The outbox rows of one transition (values as new_effect gives them, with their ids)."""
    effects = [new_effect(name, customer_id, now, transition_id=transition_id) for name in names]
    if not effects:
        return effects
    params = {"transition_id": transition_id, "customer_id": customer_id, "now": now}
    params.update((f"name_{n}", effect["name"]) for n, effect in enumerate(effects))
    if len({effect["name"] for effect in effects}) == len(effects):
        # RETURNING's row order is not promised for a multi-row VALUES: ids are matched by name.
        ids = {name: effect_id for effect_id, name in db.execute(_queue_transition_effects(len(effects)), params)}
        for effect in effects:
            effect["id"] = ids[effect["name"]]
    else:  # the same effect twice: only the executemany path returns ids in row order
        for effect, effect_id in zip(effects, db.execute(QUEUE_EFFECTS, effects).scalars(), strict=True):
            effect["id"] = effect_id
    return effects


def count_overdue_invoices(db: Session | Connection, customer_id: int, today: date) -> int:
    """Open invoices whose due date has passed (due today is not overdue yet)."""
    return db.execute(_OVERDUE, {"customer_id": customer_id, "today": today}).scalar_one()


@dataclass(frozen=True)
class Decision:
    """What the machine made of one event: the customer's lifecycle state after it, whether force
    overrode a guard, and the effects to queue."""

    state: LifecycleState
    forced: bool
    effects: tuple[Effect, ...]


def decide(customer_id: int, before: LifecycleState, event: CustomerEvent, request: TransitionRequest,
           facts: CustomerFacts) -> Decision:
    """Run a fresh machine on a copy of `before`; a refused event raises TransitionNotAllowed."""
    state = replace(before)
    machine = CustomerLifecycle(state)  # refuses an unknown stored status
    try:
        machine.send(event.value, request=request, facts=facts)
    except MachineRefused:
        raise TransitionNotAllowed(
            f"customer {customer_id} is already {before.status}; '{event}' is not allowed and "
            "nothing was changed"
        ) from None
    return Decision(state, machine.forced, tuple(machine.effects))


def state_of(row) -> LifecycleState:
    return LifecycleState(row.status, row.inactivation_reason, row.trust_unlock_until,
                          row.trust_unlocks_used, row.return_on, row.forced_hold_until)


def guard_facts(overdue_invoices: int, now: datetime, today: date) -> CustomerFacts:
    settings = get_settings()
    hold_days = settings.forced_activation_hold_days
    return CustomerFacts(
        overdue_invoices, now=now, today=today,
        trust=TrustUnlockLimits(settings.trust_unlock_max_days, settings.trust_unlock_uses_per_episode),
        default_hold_until=today + timedelta(days=hold_days) if hold_days else None,
    )


def new_state_values(state: LifecycleState, now: datetime) -> dict:
    """Parameters of _APPLY and APPLY_TO_MANY."""
    return {"new_status": state.status, "new_reason": state.inactivation_reason,
            "new_trust_until": state.trust_unlock_until, "new_trust_used": state.trust_unlocks_used,
            "new_return_on": state.return_on, "new_forced_hold_until": state.forced_hold_until, "now": now}


def history_row(customer_id: int, new_version: int, event: CustomerEvent, from_status: str,
                decision: Decision, request: TransitionRequest, actor: Actor, source: Source,
                now: datetime) -> dict:
    """The values of the status_changes row that records one transition."""
    note = request.note.strip() if request.note and request.note.strip() else None
    return {"customer_id": customer_id, "customer_version": new_version,
            "event": event.value, "from_status": from_status, "to_status": decision.state.status,
            "reason": request.reason, "note": note, "forced": decision.forced,
            "hold_until": decision.state.forced_hold_until,  # set only by a forced activation
            "actor": actor.name, "source": source.value, "created_at": now}


def lock_customer_row(db: Connection, customer_id: int):
    """The customer's row under its lock (Core), as transition_locked takes it."""
    row = db.execute(LOCK_CUSTOMER, {"customer_id": customer_id}).one_or_none()
    if row is None:
        raise NotFound(f"customer {customer_id} does not exist")
    return row


def transition_customer(
    session: Session,
    customer_id: int,
    event: CustomerEvent,
    request: TransitionRequest,
    actor: Actor,
    source: Source,
    *,
    expected_version: int | None = None,
    today: date | None = None,
) -> TransitionOutcome:
    limits.check_text("note", request.note, multiline=True)
    db = session.connection()  # Core on the unit's connection: no ORM bookkeeping on this path
    row = lock_customer_row(db, customer_id)
    check_version(row, expected_version)
    today = today or provider_today()
    return transition_locked(session, row, event, request, actor, source,
                             overdue=count_overdue_invoices(db, customer_id, today), today=today)


def transition_locked(
    session: Session,
    row,
    event: CustomerEvent,
    request: TransitionRequest,
    actor: Actor,
    source: Source,
    *,
    overdue: int,
    today: date,
) -> TransitionOutcome:
    """The transition of a customer whose row this unit already locked (`row`, read by
    LOCK_CUSTOMER) and whose overdue invoices it counted after taking the lock."""
    db = session.connection()
    customer_id = row.id
    now = utcnow()
    facts = guard_facts(overdue, now, today)
    decision = decide(customer_id, state_of(row), event, request, facts)
    state = decision.state

    db.execute(_APPLY, {"customer_id": customer_id, **new_state_values(state, now)})
    warned_for_due = row.warned_for_due
    if state.forced_hold_until is not None:
        db.execute(_NEW_WARNING_EPISODE, {"customer_id": customer_id})
        warned_for_due = None
    customer = CustomerRow(
        **{**row._asdict(), "status": state.status, "inactivation_reason": state.inactivation_reason,
           "trust_unlock_until": state.trust_unlock_until, "trust_unlocks_used": state.trust_unlocks_used,
           "return_on": state.return_on, "forced_hold_until": state.forced_hold_until,
           "warned_for_due": warned_for_due, "status_changed_at": now, "updated_at": now,
           "version": row.version + 1}
    )
    change = history_row(customer_id, customer.version, event, row.status, decision, request, actor,
                         source, now)
    change["id"] = db.execute(_RECORD, change).scalar_one()
    effects = queue_transition_effects(db, change["id"], customer_id, now, decision.effects)
    publish_after_commit(session, [e["id"] for e in effects])
    return TransitionOutcome(
        customer, StatusChangeRow(**change), [OutboxEffectRow(**e) for e in effects]
    )
