"""What happens when a customer is inactivated or activated.

One call = one transaction (opened by the caller with Database.write()): lock the customer row,
let the machine decide, then append the history row and one outbox row per effect. Workers carry
the effects out after commit.

This is the hot path of every transition, so it speaks SQLAlchemy Core with prebuilt statements:
the ORM's unit of work cost four times the database work here (see bench/transitions.py). On
PostgreSQL its statements run on the driver's cursor (db/driver.py), and the customer's update, the
history row and the outbox rows are one statement; the machine that decides is reused by the thread.
"""

import threading
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from functools import lru_cache

from sqlalchemy import (
    Connection,
    String,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal_column,
    null,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from statemachine.exceptions import TransitionNotAllowed as MachineRefused

from ..db.bulk import id_list
from ..db.driver import DriverStatement
from ..db.models import Customer, Invoice, OutboxEffect, StatusChange
from ..db.types import utcnow
from ..domain import limits
from ..domain.customer_machine import (
    KEEPS_STATUS,
    LADDER_EVENTS,
    CustomerFacts,
    CustomerLifecycle,
    LifecycleState,
    TransitionRequest,
    TrustUnlockLimits,
)
from ..domain.errors import StaleVersion, TransitionNotAllowed
from ..domain.freeze import Freeze
from ..domain.vocabulary import CustomerEvent, Effect, EffectState, InvoiceStatus, Role, Source
from ..settings import get_settings
from .business_day import provider_today
from .customer_locks import lock_customer_row_then
from .effect_bus import publish_after_commit
from .freeze import freeze_in_force
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
# The columns a transition sets, shared by the one-customer and the whole-batch statements so the
# sweep's set-based cut can never write a customer differently from a single transition.
_NEW_STATE = {
    "status": bindparam("new_status"),
    "inactivation_reason": bindparam("new_reason"),
    "trust_unlock_until": bindparam("new_trust_until"),
    "trust_unlocks_used": bindparam("new_trust_used"),
    "return_on": bindparam("new_return_on"),
    "forced_hold_until": bindparam("new_forced_hold_until"),
    "delinquency_stage": bindparam("new_stage"),
    "notice_snoozed_until": bindparam("new_snoozed_until"),
    # A change that keeps the status (the end of a trust unlock, say) leaves the status's time alone.
    "status_changed_at": case(
        (_customers.c.status == bindparam("new_status"), _customers.c.status_changed_at), else_=bindparam("now")
    ),
    "updated_at": bindparam("now"),
    "version": _customers.c.version + 1,
}
_APPLY = update(_customers).where(_customers.c.id == bindparam("customer_id")).values(_NEW_STATE)
APPLY_TO_MANY = update(_customers).where(_customers.c.id.in_(id_list("customer_ids"))).values(_NEW_STATE)
# Only ids come back: every other value is known here, and wide RETURNING rows cost real CPU.
_RECORD = insert(_changes).returning(_changes.c.id)
# A hold moves the cut to after its date: the customer is warned again before that cut.
_NEW_WARNING_EPISODE = update(_customers).where(_customers.c.id == bindparam("customer_id")).values(warned_for_due=None)
QUEUE_EFFECTS = insert(_effects).returning(_effects.c.id, sort_by_parameter_order=True)
# On the driver's cursor on PostgreSQL (db/driver.py), as the lock (customer_locks.lock_customer_row).
_COUNT_OVERDUE = DriverStatement(_OVERDUE)


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
        "transition_id": transition_id,
        "customer_id": customer_id,
        "service_id": service_id,
        "origin": origin,
        "name": name.value,
        "state": EffectState.PENDING.value,
        "attempts": 0,
        "last_error": None,
        "note": None,
        "created_at": now,
        "next_attempt_at": now,
        "claimed_until": None,
        "published_at": None,
        "completed_at": None,
        "relay_count": 0,
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
    constant = {k: _written_in(v) for k, v in template.items() if k not in _SHARED_EFFECT_VALUES and k != "name"}
    rows = [
        {**constant, **_SHARED_EFFECT_VALUES, "name": bindparam(f"name_{n}", type_=_effects.c.name.type)}
        for n in range(count)
    ]
    statement = insert(_effects).values(rows).returning(_effects.c.id, _effects.c.name)
    # SQLAlchemy compiles a multi-row VALUES anew on every call (no cache key); the same statement
    # as text (named parameters, rendered by any dialect) is compiled once and cached.
    return text(str(statement)).bindparams(*_SHARED_EFFECT_VALUES.values()).columns(_effects.c.id, _effects.c.name)


def queue_transition_effects(
    db: Connection, transition_id: int, customer_id: int, now: datetime, names: tuple[Effect, ...]
) -> list[dict]:
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
    if isinstance(db, Connection):
        return _COUNT_OVERDUE.rows(db, {"customer_id": customer_id, "today": today})[0][0]
    return db.execute(_OVERDUE, {"customer_id": customer_id, "today": today}).scalar_one()


@dataclass(frozen=True)
class Decision:
    """What the machine made of one event: the customer's lifecycle state after it, whether force
    overrode a guard, and the effects to queue."""

    state: LifecycleState
    forced: bool
    effects: tuple[Effect, ...]


# A machine that decided without error waits here for the thread's next decision; one that raised
# is dropped (its engine's queues are cleared by the library, but nothing is gained by trusting it).
_spare = threading.local()


def decide(
    customer_id: int, before: LifecycleState, event: CustomerEvent, request: TransitionRequest, facts: CustomerFacts
) -> Decision:
    """Run the machine on a copy of `before`; a refused event raises TransitionNotAllowed."""
    machine = getattr(_spare, "machine", None)
    _spare.machine = None  # taken: a decision made meanwhile on this thread builds its own
    if machine is None or not machine.callbacks_current():
        machine = CustomerLifecycle(replace(before))  # refuses an unknown stored status
    else:
        machine.restart(before)  # refuses an unknown stored status
    try:
        machine.send(event.value, request=request, facts=facts)
    except MachineRefused:
        if event in KEEPS_STATUS:
            raise TransitionNotAllowed(
                f"customer {customer_id} is {before.status}; '{event}' does not apply and nothing was changed"
            ) from None
        raise TransitionNotAllowed(
            f"customer {customer_id} is already {before.status}; '{event}' is not allowed and nothing was changed"
        ) from None
    decision = Decision(replace(machine.model), forced=machine.forced, effects=tuple(machine.effects))
    _spare.machine = machine
    return decision


def state_of(row) -> LifecycleState:
    return LifecycleState(
        row.status,
        row.inactivation_reason,
        row.trust_unlock_until,
        row.trust_unlocks_used,
        row.return_on,
        row.forced_hold_until,
        row.delinquency_stage,
        row.notice_snoozed_until,
    )


def guard_facts(
    overdue_invoices: int, now: datetime, today: date, *, stage_due: str | None = None, frozen: Freeze | None = None
) -> CustomerFacts:
    settings = get_settings()
    hold_days = settings.forced_activation_hold_days
    return CustomerFacts(
        overdue_invoices,
        now=now,
        today=today,
        trust=TrustUnlockLimits(settings.trust_unlock_max_days, settings.trust_unlock_uses_per_episode),
        default_hold_until=today + timedelta(days=hold_days) if hold_days else None,
        stage_due=stage_due,
        notice_snooze=timedelta(hours=settings.notice_snooze_hours),
        frozen=frozen,
    )


def new_state_values(state: LifecycleState, now: datetime) -> dict:
    """Parameters of _APPLY and APPLY_TO_MANY."""
    return {
        "new_status": state.status,
        "new_reason": state.inactivation_reason,
        "new_trust_until": state.trust_unlock_until,
        "new_trust_used": state.trust_unlocks_used,
        "new_return_on": state.return_on,
        "new_forced_hold_until": state.forced_hold_until,
        "new_stage": state.delinquency_stage,
        "new_snoozed_until": state.notice_snoozed_until,
        "now": now,
    }


def history_row(
    customer_id: int,
    new_version: int,
    event: CustomerEvent,
    from_status: str,
    decision: Decision,
    request: TransitionRequest,
    actor: Actor,
    source: Source,
    now: datetime,
    *,
    bulk_job_id: int | None = None,
) -> dict:
    """The values of the status_changes row that records one transition (of a bulk job's, with
    its number)."""
    note = request.note.strip() if request.note and request.note.strip() else None
    return {
        "customer_id": customer_id,
        "customer_version": new_version,
        "event": event.value,
        "from_status": from_status,
        "to_status": decision.state.status,
        "reason": request.reason,
        "note": note,
        "forced": decision.forced,
        "hold_until": decision.state.forced_hold_until if decision.forced else None,  # the hold it set
        "delinquency_stage": decision.state.delinquency_stage if event in LADDER_EVENTS else None,
        "actor": actor.name,
        "source": source.value,
        "created_at": now,
        "bulk_job_id": bulk_job_id,
    }


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
    today = today or provider_today()
    # The guards' facts are counted by a statement of its own after the lock (see _OVERDUE).
    row, counted = lock_customer_row_then(
        db, customer_id, (_COUNT_OVERDUE, {"customer_id": customer_id, "today": today})
    )
    check_version(row, expected_version)
    return transition_locked(session, row, event, request, actor, source, overdue=counted[0][0], today=today)


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
    stage_due: str | None = None,
) -> TransitionOutcome:
    """The transition of a customer whose row this unit already locked (`row`, a whole customers
    row read by customer_locks) and whose overdue invoices it counted after taking the lock
    (and, for a step of the ladder, asked the domain's Policy.stage_due about on those facts)."""
    db = session.connection()
    customer_id = row.id
    now = utcnow()
    # Only an automatic change can be frozen; it reads the freeze under the shared lock.
    frozen = freeze_in_force(db) if request.automatic else None
    facts = guard_facts(overdue, now, today, stage_due=stage_due, frozen=frozen)
    decision = decide(customer_id, state_of(row), event, request, facts)
    state = decision.state
    # A new hold starts a new warning episode; a change that keeps the hold keeps the episode.
    new_warning_episode = state.forced_hold_until is not None and state.forced_hold_until != row.forced_hold_until
    change = history_row(customer_id, row.version + 1, event, row.status, decision, request, actor, source, now)
    change["id"], effects = write_transition(
        db, customer_id, decision, change, now, new_warning_episode=new_warning_episode
    )
    publish_after_commit(session, [e["id"] for e in effects])
    customer = CustomerRow(
        **{
            **row._asdict(),
            "status": state.status,
            "inactivation_reason": state.inactivation_reason,
            "trust_unlock_until": state.trust_unlock_until,
            "trust_unlocks_used": state.trust_unlocks_used,
            "return_on": state.return_on,
            "forced_hold_until": state.forced_hold_until,
            "warned_for_due": None if new_warning_episode else row.warned_for_due,
            "delinquency_stage": state.delinquency_stage,
            "notice_snoozed_until": state.notice_snoozed_until,
            "status_changed_at": row.status_changed_at if state.status == row.status else now,
            "updated_at": now,
            "version": row.version + 1,
        }
    )
    return TransitionOutcome(customer, StatusChangeRow(**change), [OutboxEffectRow(**e) for e in effects])


def write_transition(
    db: Connection,
    customer_id: int,
    decision: Decision,
    change: dict,
    now: datetime,
    *,
    new_warning_episode: bool,
    one_statement: bool | None = None,
) -> tuple[int, list[dict]]:
    """Write a decided transition: the customer's new state (and, for a new hold, a new warning
    episode), the history row `change` (without its id) and one outbox row per effect. Returns the
    history row's id and the outbox rows.

    On PostgreSQL the three writes are one statement (one round trip instead of three); elsewhere,
    or with `one_statement=False`, they are the generic statements. Both write the same rows
    (tests/integration/test_transition_write_paths.py compares them)."""
    names = decision.effects
    if one_statement is None:
        # Ids come back matched by name: the single statement serves distinct effects only.
        one_statement = db.dialect.name == "postgresql" and len(set(names)) == len(names)
    if not one_statement:
        return _write_in_statements(db, customer_id, decision, change, now, new_warning_episode)
    params = {
        "customer_id": customer_id,
        **new_state_values(decision.state, now),
        **change,
        "effect_names": [name.value for name in names],
    }
    written = _WRITE_IN_ONE_STATEMENT[new_warning_episode].rows(db, params)
    ids = {row.name: row.effect_id for row in written if row.effect_id is not None}
    effects = [new_effect(name, customer_id, now, transition_id=written[0].transition_id) for name in names]
    for effect in effects:
        effect["id"] = ids[effect["name"]]
    return written[0].transition_id, effects


def _write_in_statements(
    db: Connection, customer_id: int, decision: Decision, change: dict, now: datetime, new_warning_episode: bool
) -> tuple[int, list[dict]]:
    db.execute(_APPLY, {"customer_id": customer_id, **new_state_values(decision.state, now)})
    if new_warning_episode:
        db.execute(_NEW_WARNING_EPISODE, {"customer_id": customer_id})
    change_id = db.execute(_RECORD, change).scalar_one()
    return change_id, queue_transition_effects(db, change_id, customer_id, now, decision.effects)


def _one_statement_write(resets_warning: bool) -> DriverStatement:
    """UPDATE customers, INSERT status_changes, INSERT outbox_effects as data-modifying CTEs (one
    statement, one round trip), from the same column sets as _APPLY, _NEW_WARNING_EPISODE,
    history_row and new_effect; the rows come back as (transition_id, effect_id, name), one per
    effect (or one with effect_id NULL when the transition has none)."""
    new_state = {**_NEW_STATE, "warned_for_due": null()} if resets_warning else _NEW_STATE
    applied = (
        update(_customers)
        .where(_customers.c.id == bindparam("customer_id"))
        .values(new_state)
        .returning(_customers.c.id)
        .cte("applied")
    )

    def bound(table, name: str):
        column = table.c[name]
        return cast(bindparam(name, type_=column.type), column.type)

    # The columns history_row fills, customer_id taken from the updated row.
    history = [
        name
        for name in history_row(
            0,
            0,
            CustomerEvent.ACTIVATE,
            "",
            _TEMPLATE_DECISION,
            TransitionRequest(None, None, actor_role=Role.ADMIN),
            Actor("", Role.ADMIN),
            Source.API,
            utcnow(),
        )
        if name != "customer_id"
    ]
    recorded = (
        insert(_changes)
        .from_select(["customer_id", *history], select(applied.c.id, *(bound(_changes, name) for name in history)))
        .returning(_changes.c.id)
        .cte("recorded")
    )

    names = (
        func.unnest(cast(bindparam("effect_names", type_=ARRAY(String)), ARRAY(String)))
        .table_valued("name", with_ordinality="position")
        .render_derived("effect_names")
    )
    template = new_effect(Effect.NOTIFY_BILLING, 0, utcnow(), transition_id=0)
    shared = {
        "transition_id": recorded.c.id,
        "customer_id": bound(_changes, "customer_id"),
        "name": names.c.name,
        "created_at": cast(bindparam("now"), _effects.c.created_at.type),
        "next_attempt_at": cast(bindparam("now"), _effects.c.next_attempt_at.type),
    }
    # In new_effect's column order; each constant of new_effect written into the SQL.
    values = {
        name: shared[name] if name in shared else cast(_written_in(value), _effects.c[name].type)
        for name, value in template.items()
    }
    queued = (
        insert(_effects)
        .from_select(
            list(values), select(*values.values()).select_from(recorded.join(names, true())).order_by(names.c.position)
        )
        .returning(_effects.c.id, _effects.c.name)
        .cte("queued")
    )
    return DriverStatement(
        select(recorded.c.id.label("transition_id"), queued.c.id.label("effect_id"), queued.c.name).select_from(
            recorded.outerjoin(queued, true())
        ),
        "WrittenTransition",
    )


_TEMPLATE_DECISION = Decision(LifecycleState("active", None), forced=False, effects=())
_WRITE_IN_ONE_STATEMENT = {resets: _one_statement_write(resets) for resets in (False, True)}
