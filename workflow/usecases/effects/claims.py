"""Claiming effects and recording their outcomes.

The claim (attempts + 1, a time-boxed lease, the owning process) commits before anything
happens, so a worker killed mid-effect leaves a visible attempt, another worker takes over as soon
as the owner is known dead (heartbeats) or the lease ends, and a task that keeps killing its
worker stops after `effect_max_attempts`. An outcome is recorded only while the attempt that
reached it still owns the effect.
"""

import logging
from datetime import datetime, timedelta

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    and_,
    bindparam,
    case,
    cast,
    column,
    func,
    or_,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import SQLAlchemyError

from ...db.driver import DriverStatement
from ...db.engine import Database
from ...db.models import OutboxEffect
from ...db.types import utcnow
from ...domain.status_alignment import LOCAL_EFFECTS
from ...domain.vocabulary import Effect, EffectState
from ...settings import Settings
from .. import heartbeats
from ..radius.enforcement import SESSION_EFFECTS, radius_mode
from ..radius.sessions import describe_sessions, record_packets
from .descriptions import describe_fast
from .outcomes import BUSY, GONE, Claim, RunResult, Settlement, maybe_delivered

log = logging.getLogger(__name__)


def is_local(claim: "Claim | RunResult") -> bool:
    """A claimed effect that changes our own records (no outbound call)."""
    return isinstance(claim, Claim) and Effect(claim.name) in LOCAL_EFFECTS


_fx = OutboxEffect.__table__


def still_pending() -> ColumnElement[bool]:
    """`state = 'pending'` for statements that pick effects by id, written so that PostgreSQL
    cannot serve it from the state indexes: after a sweep queues tens of thousands of effects, its
    statistics still say pending rows are rare, and it would read every pending index entry for
    each claim or settlement instead of a few primary-key lookups (bench/radius.py saw 3,800 index
    rows read per customer)."""
    return _fx.c.state.concat("") == EffectState.PENDING.value


# The common case, for a whole batch, in one statement; anything it does not match goes the slow
# way below, one by one.
def _claim(ids: ColumnElement[bool]):
    return (
        update(_fx)
        .where(
            ids,
            still_pending(),
            or_(_fx.c.claimed_until.is_(None), _fx.c.claimed_until <= bindparam("now")),
            or_(_fx.c.next_attempt_at.is_(None), _fx.c.next_attempt_at <= bindparam("due_by")),
            _fx.c.attempts < bindparam("max_attempts"),
        )
        .values(
            attempts=_fx.c.attempts + 1,
            claimed_until=bindparam("until"),
            claimed_by=bindparam("owner"),
            # A lapsed claim (never settled nor released): that attempt may have made its call.
            unsettled_attempt=case(
                (and_(_fx.c.claimed_until.is_not(None), _fx.c.attempts > 0), _fx.c.attempts),
                else_=_fx.c.unsettled_attempt,
            ),
        )
        .returning(
            _fx.c.id, _fx.c.name, _fx.c.attempts, _fx.c.customer_id, _fx.c.transition_id, _fx.c.unsettled_attempt
        )
    )


_CLAIM = _claim(_fx.c.id.in_(bindparam("effect_ids", expanding=True)))
# Every message's first statement: on PostgreSQL the ids as one array, on the driver's cursor.
_CLAIM_ARRAY = DriverStatement(
    _claim(_fx.c.id == func.any(cast(bindparam("effect_ids"), ARRAY(BigInteger)))), "ClaimedEffect"
)
# Record an outcome, only if this attempt still owns the effect.
SETTLE = (
    update(_fx)
    .where(
        _fx.c.id == bindparam("effect_id"),
        still_pending(),
        _fx.c.attempts == bindparam("attempt"),
    )
    .values(
        state=bindparam("new_state"),
        note=bindparam("new_note"),
        completed_at=bindparam("now"),
        claimed_until=None,
        claimed_by=None,
    )
    .returning(_fx.c.id)
)


def claim_effects(db: Database, effect_ids: list[int], settings: Settings) -> "list[Claim | RunResult]":
    """Claim the effects, in order: one transaction for all that are free and due, in which the
    outbound calls among them are described too, so a call needs no transaction of its own before
    it is made. The claims commit before anything acts on them (see the module's docstring)."""
    now = utcnow()
    until = now + timedelta(seconds=settings.effect_claim_seconds)
    params = {
        "effect_ids": list(effect_ids),
        "now": now,
        "due_by": now + timedelta(seconds=0.5),
        "max_attempts": settings.effect_max_attempts,
        "until": until,
        "owner": heartbeats.this_process(),
    }
    with db.write_core() as conn:
        if conn.dialect.name == "postgresql":
            rows = _CLAIM_ARRAY.rows(conn, params)
        else:
            rows = list(conn.execute(_CLAIM, params).all())
        claims = {
            row.id: Claim(
                row.id,
                row.name,
                row.attempts,
                row.customer_id,
                row.transition_id,
                until,
                unsettled_attempt=row.unsettled_attempt,
            )
            for row in rows
        }
        sessions = [c for c in claims.values() if Effect(c.name) in SESSION_EFFECTS]
        for claim in claims.values():
            if not is_local(claim) and Effect(claim.name) not in SESSION_EFFECTS:
                claim.delivery = _describe_in_claim(conn, claim, settings)
        _describe_sessions_in_claim(conn, sessions, settings)
    return [claims.get(effect_id) or _claim_slow(db, effect_id, settings) for effect_id in effect_ids]


def _describe_in_claim(conn: Connection, claim: Claim, settings: Settings):
    """The common calls only (the rare warning is described when the call is made). A
    description that fails for a reason other than the database is left to then too, so the
    claims still commit and the failure counts as an attempt of that effect alone."""
    try:
        return describe_fast(conn, claim.effect_id, Effect(claim.name), settings)
    except SQLAlchemyError:
        raise
    except Exception:  # noqa: BLE001 - raised again, and recorded, when the effect runs
        return None


def _describe_sessions_in_claim(conn: Connection, claims: list[Claim], settings: Settings) -> None:
    """The session effects of the batch together: a few statements for all of them. Not with a
    RADIUS database of its own: describing writes there, and its outage must not fail the claims
    of the batch (each effect is described when it runs, its failure its own)."""
    if not claims or radius_mode(settings, conn.dialect.name) == "separate":
        return
    try:
        described = describe_sessions(conn, [c.effect_id for c in claims], settings)
    except SQLAlchemyError:
        raise
    except Exception:  # noqa: BLE001 - described again, and recorded, when each effect runs
        return
    for claim in claims:
        claim.delivery = described.get(claim.effect_id)


def _claim_slow(db: Database, effect_id: int, settings: Settings) -> "Claim | RunResult":
    now = utcnow()
    with db.write() as session:  # why the fast claim did not match: gone, settled, busy, or out of attempts
        effect = session.get(OutboxEffect, effect_id, with_for_update=True)
        if effect is None:
            return RunResult(effect_id, GONE)
        if effect.state != EffectState.PENDING:
            return RunResult(effect_id, effect.state)  # already settled: a duplicate delivery
        if effect.claimed_until and effect.claimed_until > now:
            if not heartbeats.owner_is_dead(session, effect.claimed_by, settings.worker_stale_seconds, now):
                return RunResult(effect_id, BUSY)
            log.warning("effect %s: its claim's owner %s is dead; taking it over", effect_id, effect.claimed_by)
        if effect.next_attempt_at and effect.next_attempt_at > now + timedelta(seconds=0.5):
            return RunResult(effect_id, BUSY)  # an early duplicate of a scheduled retry
        if effect.claimed_until is not None and effect.attempts > 0:
            effect.unsettled_attempt = effect.attempts  # it may have made its call
        if effect.attempts >= settings.attempt_limit:
            # Claimed that many times without an outcome: the worker died each time.
            settle_row(effect, EffectState.FAILED, now, error=gave_up(effect, settings))
            return RunResult(effect_id, EffectState.FAILED.value)
        effect.attempts += 1
        effect.claimed_until = now + timedelta(seconds=settings.effect_claim_seconds)
        effect.claimed_by = heartbeats.this_process()
        return Claim(
            effect.id,
            effect.name,
            effect.attempts,
            effect.customer_id,
            effect.transition_id,
            effect.claimed_until,
            unsettled_attempt=effect.unsettled_attempt,
        )


def gave_up(effect: OutboxEffect, settings: Settings) -> str:
    last = f"; last error: {effect.last_error}" if effect.last_error else ""
    doubt = f"; {maybe_delivered(effect.unsettled_attempt)}" if effect.unsettled_attempt else ""
    return f"gave up after {effect.attempts} attempt(s) (limit {settings.effect_max_attempts}){last}{doubt}"


def settle_row(effect: OutboxEffect, state: EffectState, now: datetime, *, note=None, error=None) -> None:
    """Settle a row the caller has locked (the ORM way, for the rare paths)."""
    effect.state = state.value
    effect.claimed_until = effect.claimed_by = None
    effect.completed_at = now
    if note is not None:
        effect.note = note
    if error is not None:
        effect.last_error = error


def settle_one(db: Database, settlement: Settlement) -> RunResult:
    """Record one outcome in one statement, only if its attempt still owns the effect."""
    with db.write_core() as conn:
        settled = conn.execute(
            SETTLE,
            {
                "effect_id": settlement.effect_id,
                "attempt": settlement.attempt,
                "new_state": settlement.state.value,
                "new_note": settlement.note,
                "now": utcnow(),
            },
        ).one_or_none()
        record_packets(conn, settlement.packets)
    return RunResult(settlement.effect_id, settlement.state.value if settled is not None else BUSY)


def settle_together(db: Database, settlements: list[Settlement]) -> list[RunResult]:
    """Record several outcomes in one transaction, each only if its attempt still owns the
    effect (the same rule as settle_one; one statement for all on PostgreSQL). Raises if the
    transaction fails: nothing was recorded then, and the caller settles them one at a time."""
    with db.write_core() as conn:
        settled_ids = settle_on(conn, settlements, utcnow())
        record_packets(conn, [row for s in settlements for row in s.packets])
    return [RunResult(s.effect_id, s.state.value if s.effect_id in settled_ids else BUSY) for s in settlements]


def settle_on(conn: Connection, settlements: list[Settlement], now: datetime) -> set[int]:
    """SETTLE for each, in the caller's transaction (one statement on PostgreSQL); the ids settled."""
    if conn.dialect.name == "postgresql":
        return _settle_many(conn, settlements, now) if settlements else set()
    return {
        s.effect_id
        for s in settlements
        if conn.execute(
            SETTLE,
            {
                "effect_id": s.effect_id,
                "attempt": s.attempt,
                "new_state": s.state.value,
                "new_note": s.note,
                "now": now,
            },
        ).one_or_none()
        is not None
    }


# SETTLE for many rows at once: the outcomes as arrays, joined to the rows by id and attempt
# (`state || ''`: by primary key, not the state indexes; see still_pending).
# On the driver's cursor (db/driver.py): every message with calls ends with it.
_SETTLE_MANY = DriverStatement(
    text(
        "UPDATE outbox_effects AS fx SET state = o.state, note = o.note, completed_at = :now, "
        "claimed_until = NULL, claimed_by = NULL "
        "FROM unnest(CAST(:ids AS bigint[]), CAST(:attempts AS integer[]), CAST(:states AS text[]), "
        "CAST(:notes AS text[])) AS o(id, attempt, state, note) "
        "WHERE fx.id = o.id AND (fx.state || '') = :pending AND fx.attempts = o.attempt RETURNING fx.id"
    ).columns(column("id", BigInteger)),
    "SettledEffect",
)


def _settle_many(conn: Connection, settlements: list[Settlement], now: datetime) -> set[int]:
    rows = _SETTLE_MANY.rows(
        conn,
        {
            "ids": [s.effect_id for s in settlements],
            "attempts": [s.attempt for s in settlements],
            "states": [s.state.value for s in settlements],
            "notes": [s.note for s in settlements],
            "now": now,
            "pending": EffectState.PENDING.value,
        },
    )
    return {row.id for row in rows}


def record_error(db: Database, effect_id: int, error: BaseException) -> None:
    """An unexpected failure inside an effect: keep its cause on the row (the claim lapses and
    the relay runs it again, up to the attempt limit)."""
    with db.write() as session:
        effect = session.get(OutboxEffect, effect_id, with_for_update=True)
        if effect is not None and effect.state == EffectState.PENDING:
            effect.last_error = f"{type(error).__name__}: {error}"[:1000]
