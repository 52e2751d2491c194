"""Carrying out outbox effects: claim the row, act, record the outcome.

Effects are level-triggered: each one makes the world match the customer's *current* status, so
running one twice, late or out of order changes nothing it should not. An effect whose transition
has been overtaken by a newer one is recorded as `skipped` with the reason, never applied.

The claim (attempts + 1, a time-boxed lease, the owning process) commits before anything
happens, so a worker killed mid-effect leaves a visible attempt, another worker takes over as soon
as the owner is known dead (heartbeats) or the lease ends, and a task that keeps killing its
worker stops after `effect_max_attempts`. A claim taken over unsettled may have made its call:
the outcome recorded later says so.
"""

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, bindparam, case, func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ..db.engine import Database
from ..db.models import Customer, OutboxEffect, Service, StatusChange
from ..db.types import utcnow
from ..domain.errors import InvalidInput, NotFound, TransitionNotAllowed
from ..domain.vocabulary import (
    CustomerStatus,
    Effect,
    EffectState,
    ServiceStatus,
    SuspensionCause,
)
from ..settings import Settings
from . import heartbeats
from .effect_bus import publish_after_commit
from .transitions import QUEUE_EFFECTS, new_effect

CUSTOMER_EVENT_TYPES = {
    CustomerStatus.INACTIVE.value: "customer.inactivated",
    CustomerStatus.ACTIVE.value: "customer.activated",
}
BUSY = "busy"  # another worker holds the claim, or the retry is not due yet
GONE = "gone"
# A retry due within this is a Celery countdown; a later one is parked (next_attempt_at) and the
# relay publishes it when due: a countdown near Redis' visibility timeout (1 h) would run twice.
COUNTDOWN_LIMIT_SECONDS = 60.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """One signed outbound call: `message_id` is the webhook-id the receiver deduplicates on."""

    target: str  # "billing" | "provisioning"
    message_id: str
    payload: dict


class DeliveryFailed(Exception):
    pass


Deliver = Callable[[Delivery], None]


@dataclass
class RunResult:
    effect_id: int
    state: str
    retry_in: float | None = None  # a short retry: publish it again with this countdown
    # Outbound calls this effect made, claimed and described in its own transaction: the caller
    # carries them out next (carry_out) instead of queueing them behind the broker's backlog.
    follow_ups: list["Claim"] = field(default_factory=list)


@dataclass
class _Outcome:
    state: EffectState
    note: str


@dataclass
class Claim:
    """An effect this worker holds until `until`; an outbound call carries its description
    (a Delivery, or the outcome that makes the call unnecessary) when it was made in the claim's
    transaction."""

    effect_id: int
    name: str
    attempt: int
    customer_id: int
    transition_id: int | None
    until: datetime
    delivery: "Delivery | _Outcome | None" = None
    unsettled_attempt: int | None = None  # an earlier attempt that may have made the call


def run_effect(db: Database, effect_id: int, settings: Settings, deliver: Deliver) -> RunResult:
    """Claim one effect and carry it out, with the calls it makes; returns its own result."""
    claimed = claim_effects(db, [effect_id], settings)[0]
    if isinstance(claimed, RunResult):
        return claimed
    result = carry_out(db, claimed, settings, deliver)
    for follow_up in result.follow_ups:
        carry_out(db, follow_up, settings, deliver)
    return result


def carry_out(db: Database, claim: Claim, settings: Settings, deliver: Deliver) -> RunResult:
    name = Effect(claim.name)
    if name in _LOCAL:
        return _run_local(db, name, claim, settings)
    return _run_delivery(db, name, claim, settings, deliver)


# -- claim ---------------------------------------------------------------------------------------


_fx = OutboxEffect.__table__
# The common case, for a whole batch, in one statement; anything it does not match goes the slow
# way below, one by one.
_CLAIM = (
    update(_fx)
    .where(
        _fx.c.id.in_(bindparam("effect_ids", expanding=True)),
        _fx.c.state == EffectState.PENDING.value,
        or_(_fx.c.claimed_until.is_(None), _fx.c.claimed_until <= bindparam("now")),
        or_(_fx.c.next_attempt_at.is_(None), _fx.c.next_attempt_at <= bindparam("due_by")),
        _fx.c.attempts < bindparam("max_attempts"),
    )
    .values(attempts=_fx.c.attempts + 1, claimed_until=bindparam("until"), claimed_by=bindparam("owner"),
            # A lapsed claim (never settled nor released): that attempt may have made its call.
            unsettled_attempt=case((and_(_fx.c.claimed_until.is_not(None), _fx.c.attempts > 0), _fx.c.attempts),
                                   else_=_fx.c.unsettled_attempt))
    .returning(_fx.c.id, _fx.c.name, _fx.c.attempts, _fx.c.customer_id, _fx.c.transition_id,
               _fx.c.unsettled_attempt)
)


def claim_effects(db: Database, effect_ids: list[int], settings: Settings) -> "list[Claim | RunResult]":
    """Claim the effects, in order: one transaction for all that are free and due, in which the
    outbound calls among them are described too, so a call needs no transaction of its own before
    it is made. The claims commit before anything acts on them (see the module's docstring)."""
    now = utcnow()
    until = now + timedelta(seconds=settings.effect_claim_seconds)
    with db.write_core() as conn:
        rows = conn.execute(_CLAIM, {
            "effect_ids": list(effect_ids), "now": now, "due_by": now + timedelta(seconds=0.5),
            "max_attempts": settings.effect_max_attempts, "until": until, "owner": heartbeats.this_process(),
        }).all()
        claims = {row.id: Claim(row.id, row.name, row.attempts, row.customer_id, row.transition_id, until,
                                unsettled_attempt=row.unsettled_attempt)
                  for row in rows}
        for claim in claims.values():
            if Effect(claim.name) not in _LOCAL:
                claim.delivery = _describe_in_claim(conn, claim, settings)
    return [claims.get(effect_id) or _claim_slow(db, effect_id, settings) for effect_id in effect_ids]


def _describe_in_claim(conn: Connection, claim: Claim, settings: Settings):
    """The common calls only (the rare warning is described by _run_delivery). A description
    that fails for a reason other than the database is left to _run_delivery too, so the claims
    still commit and the failure counts as an attempt of that effect alone."""
    try:
        return _describe_fast(conn, claim.effect_id, Effect(claim.name), settings)
    except SQLAlchemyError:
        raise
    except Exception:  # noqa: BLE001 - raised again, and recorded, when the effect runs
        return None


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
        if effect.attempts >= settings.effect_max_attempts:
            # Claimed that many times without an outcome: the worker died each time.
            _settle(effect, EffectState.FAILED, now, error=_gave_up(effect, settings))
            return RunResult(effect_id, EffectState.FAILED.value)
        effect.attempts += 1
        effect.claimed_until = now + timedelta(seconds=settings.effect_claim_seconds)
        effect.claimed_by = heartbeats.this_process()
        return Claim(effect.id, effect.name, effect.attempts, effect.customer_id, effect.transition_id,
                     effect.claimed_until, unsettled_attempt=effect.unsettled_attempt)


def _gave_up(effect: OutboxEffect, settings: Settings) -> str:
    last = f"; last error: {effect.last_error}" if effect.last_error else ""
    doubt = f"; {maybe_delivered(effect.unsettled_attempt)}" if effect.unsettled_attempt else ""
    return f"gave up after {effect.attempts} attempt(s) (limit {settings.effect_max_attempts}){last}{doubt}"


MAYBE_DELIVERED = "may have been delivered by attempt {attempt} (cut off before recording its outcome)"


def maybe_delivered(attempt: int) -> str:
    """What is known of an attempt that was cut off between its call and its record. In English
    like every note (API, CLI, logs); the operator UI words it in Portuguese."""
    return MAYBE_DELIVERED.format(attempt=attempt)


def _with_doubt(claim: "Claim", outcome: "_Outcome") -> str:
    """A call found unnecessary now (superseded, not configured) may still have been made by an
    attempt cut off earlier: the note says so instead of a plain "not sent"."""
    if not claim.unsettled_attempt:
        return outcome.note
    return f"{maybe_delivered(claim.unsettled_attempt)}; not sent again: {outcome.note}"


def _settle(effect: OutboxEffect, state: EffectState, now: datetime, *, note=None, error=None) -> None:
    effect.state = state.value
    effect.claimed_until = effect.claimed_by = None
    effect.completed_at = now
    if note is not None:
        effect.note = note
    if error is not None:
        effect.last_error = error


# -- local effects: one transaction with the change they make --------------------------------------

_customers = Customer.__table__
_services = Service.__table__
# Customer first, then the effect row: the order transitions lock in.
_LOCK_CUSTOMER = (
    select(_customers.c.id, _customers.c.status, _customers.c.invoicing_enabled, _customers.c.external_ref)
    .where(_customers.c.id == bindparam("customer_id"))
    .with_for_update()
)
_SETTLE = (
    update(_fx)
    .where(_fx.c.id == bindparam("effect_id"), _fx.c.state == EffectState.PENDING.value,
           _fx.c.attempts == bindparam("attempt"))
    .values(state=bindparam("new_state"), note=bindparam("new_note"), completed_at=bindparam("now"),
            claimed_until=None, claimed_by=None)
    .returning(_fx.c.id)
)


class _Overtaken(Exception):
    """Our claim lapsed and another attempt settled the effect: undo what we did."""


def _run_local(db: Database, name: Effect, claim: Claim, settings: Settings) -> RunResult:
    try:
        with db.write_core() as conn:
            customer = conn.execute(_LOCK_CUSTOMER, {"customer_id": claim.customer_id}).one()
            result = _apply_local(conn, customer, name, claim, settings)
    except _Overtaken:
        return RunResult(claim.effect_id, BUSY)
    return result


def _apply_local(conn: Connection, customer, name: Effect, claim: Claim, settings: Settings) -> RunResult:
    outcome, follow_ups = _LOCAL[name](conn, customer, claim, settings)
    settled = conn.execute(_SETTLE, {
        "effect_id": claim.effect_id, "attempt": claim.attempt, "new_state": outcome.state.value,
        "new_note": outcome.note, "now": utcnow(),
    }).one_or_none()
    if settled is None:
        raise _Overtaken
    return RunResult(claim.effect_id, outcome.state.value, follow_ups=follow_ups)


def is_local(claim: "Claim | RunResult") -> bool:
    return isinstance(claim, Claim) and Effect(claim.name) in _LOCAL


def run_locals_together(db: Database, claims: list[Claim], settings: Settings) -> list[RunResult] | None:
    """The local effects of one customer (restore_services and resume_invoicing after a payment)
    in one transaction: the customer locked once, each effect applied and settled under its own
    claim, as _run_local does. All or nothing: None if any of them fails or was overtaken, and
    then nothing was written; the caller runs them one at a time, so each outcome, error and
    attempt stays its own."""
    if len({c.customer_id for c in claims}) != 1 or len({c.effect_id for c in claims}) != len(claims):
        return None
    try:
        with db.write_core() as conn:
            customer = conn.execute(_LOCK_CUSTOMER, {"customer_id": claims[0].customer_id}).one()
            # The row locked above stays what each effect reads: none of them changes what
            # another one checks (the status), and each reads invoicing_enabled only for itself.
            return [_apply_local(conn, customer, Effect(c.name), c, settings) for c in claims]
    except Exception:  # noqa: BLE001 - rolled back; one at a time shows whose fault it was
        return None


def _superseded(customer) -> _Outcome:
    return _Outcome(EffectState.SKIPPED, f"superseded: the customer is {customer.status} now")


def _provisioning_calls(conn, customer, claim: Claim, services, effect: Effect, status: ServiceStatus,
                        settings: Settings) -> list[Claim]:
    """One provisioning call per service changed, written already claimed (attempt 1) and
    described from what this transaction just wrote. If the worker dies before making them, their
    claim lapses and the relay publishes them like any other pending effect."""
    if not settings.provisioning_webhook_url or not services:
        return []
    now = utcnow()
    until = now + timedelta(seconds=settings.effect_claim_seconds)
    # Same transition as the effect that caused them, so the history shows them together.
    rows = [{**new_effect(effect, customer.id, now, transition_id=claim.transition_id, service_id=s.id,
                          origin="effect"), "attempts": 1, "claimed_until": until,
             "claimed_by": heartbeats.this_process()} for s in services]
    ids = conn.execute(QUEUE_EFFECTS, rows).scalars()
    return [
        Claim(effect_id, effect.value, 1, customer.id, claim.transition_id, until,
              _provisioning_delivery(effect, effect_id, now, service.id, service.external_ref,
                                     customer.id, customer.external_ref, status))
        for effect_id, service in zip(ids, services)
    ]


_SUSPEND = (
    update(_services)
    .where(_services.c.customer_id == bindparam("owner_id"),
           _services.c.status == ServiceStatus.ACTIVE.value)
    .values(status=ServiceStatus.SUSPENDED.value, suspension_cause=SuspensionCause.CUSTOMER_INACTIVE.value,
            suspension_note=None, suspended_at=bindparam("now"), updated_at=bindparam("now"))
    .returning(_services.c.id, _services.c.external_ref)
)
_RESTORE = (
    update(_services)
    .where(_services.c.customer_id == bindparam("owner_id"),
           _services.c.status == ServiceStatus.SUSPENDED.value,
           _services.c.suspension_cause == SuspensionCause.CUSTOMER_INACTIVE.value)
    .values(status=ServiceStatus.ACTIVE.value, suspension_cause=None, suspension_note=None,
            suspended_at=None, updated_at=bindparam("now"))
    .returning(_services.c.id, _services.c.external_ref)
)
_SET_INVOICING = (
    update(_customers)
    .where(_customers.c.id == bindparam("customer_id"))
    .values(invoicing_enabled=bindparam("enabled"))
)


def _change_services(statement, wanted: CustomerStatus, provision: Effect, now_status: ServiceStatus, verb: str):
    def apply(conn, customer, claim: Claim, settings: Settings):
        if customer.status != wanted:
            return _superseded(customer), []
        services = conn.execute(statement, {"owner_id": customer.id, "now": utcnow()}).all()
        calls = _provisioning_calls(conn, customer, claim, services, provision, now_status, settings)
        return _Outcome(EffectState.DONE, f"{len(services)} service(s) {verb}"), calls

    return apply


def _set_invoicing(enabled: bool, wanted: CustomerStatus):
    def apply(conn, customer, claim: Claim, settings: Settings):
        if customer.status != wanted:
            return _superseded(customer), []
        if customer.invoicing_enabled == enabled:
            return _Outcome(EffectState.DONE, f"invoicing was already {'on' if enabled else 'paused'}"), []
        conn.execute(_SET_INVOICING, {"customer_id": customer.id, "enabled": enabled})
        return _Outcome(EffectState.DONE, "invoicing resumed" if enabled else "invoicing paused"), []

    return apply


_LOCAL = {
    Effect.SUSPEND_SERVICES: _change_services(_SUSPEND, CustomerStatus.INACTIVE, Effect.PROVISION_SUSPEND,
                                              ServiceStatus.SUSPENDED, "suspended"),
    Effect.RESTORE_SERVICES: _change_services(_RESTORE, CustomerStatus.ACTIVE, Effect.PROVISION_RESTORE,
                                              ServiceStatus.ACTIVE, "restored"),
    Effect.PAUSE_INVOICING: _set_invoicing(False, CustomerStatus.INACTIVE),
    Effect.RESUME_INVOICING: _set_invoicing(True, CustomerStatus.ACTIVE),
}


# -- outbound calls: claim committed, call outside any transaction, record the outcome -------------

_RENEW = (
    update(_fx)
    .where(_fx.c.id == bindparam("effect_id"), _fx.c.state == EffectState.PENDING.value,
           _fx.c.attempts == bindparam("attempt"))
    .values(claimed_until=bindparam("until"))
    .returning(_fx.c.id)
)


def _run_delivery(db: Database, name: Effect, claim: Claim, settings: Settings, deliver: Deliver) -> RunResult:
    done = make_call(db, claim, settings, deliver)
    if isinstance(done, Settlement):
        return _settle_core(db, done.effect_id, done.attempt, done.state, done.note)
    return done


@dataclass(frozen=True)
class Settlement:
    """The outcome of an outbound call (made, or found unnecessary), not recorded yet."""

    effect_id: int
    attempt: int
    state: EffectState
    note: str
    until: datetime  # the claim's end: recorded before it could lapse (outlasts_a_call)


def outlasts_a_call(until: datetime, settings: Settings) -> bool:
    """Whether a claim ending at `until` outlasts one more call (as Settings checks the claim)."""
    return until - utcnow() > timedelta(seconds=4 * settings.webhook_timeout_seconds)


def make_call(db: Database, claim: Claim, settings: Settings, deliver: Deliver) -> "Settlement | RunResult":
    """Make the call of a claimed effect. A failed call is recorded here (retry or give up); a
    call made, or found unnecessary, returns the outcome for the caller to settle: alone
    (_settle_core) or with the other calls of its message (settle_together)."""
    name = Effect(claim.name)
    if not _lease_lasts_a_call(db, claim, settings):
        return RunResult(claim.effect_id, BUSY)  # our claim lapsed and another attempt took over
    delivery = claim.delivery
    if delivery is None:
        with db.read() as session:
            delivery = _describe_any(session, claim.effect_id, name, settings)
    if isinstance(delivery, _Outcome):
        return Settlement(claim.effect_id, claim.attempt, delivery.state, _with_doubt(claim, delivery), claim.until)

    error = None
    try:
        deliver(delivery)
    except DeliveryFailed as failure:
        error = str(failure)[:1000]

    if error is None:
        return Settlement(claim.effect_id, claim.attempt, EffectState.DONE, f"delivered to {delivery.target}",
                          claim.until)
    return _record_failed_call(db, claim, error, settings)


def settle_together(db: Database, settlements: list[Settlement]) -> list[RunResult]:
    """Record several outcomes in one transaction, each only if its attempt still owns the
    effect (the same statement as _settle_core). Raises if the transaction fails: nothing was
    recorded then, and the caller settles them one at a time."""
    now = utcnow()
    with db.write_core() as conn:
        settled = [
            conn.execute(_SETTLE, {
                "effect_id": s.effect_id, "attempt": s.attempt, "new_state": s.state.value,
                "new_note": s.note, "now": now,
            }).one_or_none()
            for s in settlements
        ]
    return [RunResult(s.effect_id, s.state.value if row is not None else BUSY)
            for s, row in zip(settlements, settled)]


def settle_one(db: Database, settlement: Settlement) -> RunResult:
    return _settle_core(db, settlement.effect_id, settlement.attempt, settlement.state, settlement.note)


def _lease_lasts_a_call(db: Database, claim: Claim, settings: Settings) -> bool:
    """A call waiting behind others of its batch may find its claim nearly spent: renew it, and
    drop the description so the call is described again as the world is now."""
    if outlasts_a_call(claim.until, settings):
        return True
    until = utcnow() + timedelta(seconds=settings.effect_claim_seconds)
    with db.write_core() as conn:
        renewed = conn.execute(
            _RENEW, {"effect_id": claim.effect_id, "attempt": claim.attempt, "until": until}
        ).one_or_none()
    if renewed is None:
        return False
    claim.until, claim.delivery = until, None
    return True


def _record_failed_call(db: Database, claim: Claim, error: str, settings: Settings) -> RunResult:
    now = utcnow()
    effect_id = claim.effect_id
    with db.write() as session:
        effect = session.get(OutboxEffect, effect_id, with_for_update=True)
        if effect.state != EffectState.PENDING or effect.attempts != claim.attempt:
            # Our claim lapsed and another attempt took over: its outcome stands, not ours.
            return RunResult(effect_id, BUSY)
        effect.last_error = error
        if effect.attempts >= settings.effect_max_attempts:
            _settle(effect, EffectState.FAILED, now, error=_gave_up(effect, settings))
            return RunResult(effect_id, EffectState.FAILED.value)
        delay = retry_delay(effect.attempts, settings)
        effect.claimed_until = effect.claimed_by = None
        effect.next_attempt_at = now + timedelta(seconds=delay)
        # A short retry goes out as a countdown; a long one waits parked here, and the relay
        # publishes it once due (it takes due rows whose relay backoff has not started).
        effect.relay_count, effect.relay_after = 0, None
        return RunResult(effect_id, EffectState.PENDING.value,
                         retry_in=delay if delay <= COUNTDOWN_LIMIT_SECONDS else None)


def _settle_core(db: Database, effect_id: int, attempt: int, state: EffectState, note: str) -> RunResult:
    """Record an outcome in one statement, only if this attempt still owns the effect."""
    with db.write_core() as conn:
        settled = conn.execute(_SETTLE, {
            "effect_id": effect_id, "attempt": attempt, "new_state": state.value, "new_note": note,
            "now": utcnow(),
        }).one_or_none()
    return RunResult(effect_id, state.value if settled is not None else BUSY)


_changes = StatusChange.__table__
_later = _changes.alias("later")  # its own alias: the outer query joins status_changes too
_NOTIFY_FACTS = (
    select(
        _fx.c.id, _fx.c.transition_id, _customers.c.id.label("customer_id"), _customers.c.external_ref,
        _changes.c.to_status, _changes.c.reason, _changes.c.created_at, _changes.c.customer_version,
        select(func.max(_later.c.id)).where(_later.c.customer_id == _fx.c.customer_id)
        .scalar_subquery().label("latest_transition"),
    )
    .join(_customers, _customers.c.id == _fx.c.customer_id)
    .join(_changes, _changes.c.id == _fx.c.transition_id)
    .where(_fx.c.id == bindparam("effect_id"))
)
_PROVISION_FACTS = (
    select(
        _fx.c.id, _fx.c.created_at, _services.c.id.label("service_id"), _services.c.external_ref,
        _services.c.status, _customers.c.id.label("customer_id"),
        _customers.c.external_ref.label("customer_ref"),
    )
    .join(_services, _services.c.id == _fx.c.service_id)
    .join(_customers, _customers.c.id == _fx.c.customer_id)
    .where(_fx.c.id == bindparam("effect_id"))
)


def _describe_any(session: Session, effect_id: int, name: Effect, settings: Settings):
    delivery = _describe_fast(session.connection(), effect_id, name, settings)
    if delivery is None:  # the warning, the rare kind, goes the ORM way
        delivery = _describe(session, session.get(OutboxEffect, effect_id), name, settings)
    return delivery


def _describe_fast(conn: Connection, effect_id: int, name: Effect, settings: Settings):
    """The two common outbound calls, described with one Core query each (same rules as _describe)."""
    if name is Effect.NOTIFY_BILLING:
        row = conn.execute(_NOTIFY_FACTS, {"effect_id": effect_id}).one()
        if row.transition_id != row.latest_transition:
            return _Outcome(EffectState.SKIPPED, f"superseded by transition {row.latest_transition}")
        if not settings.billing_webhook_url:
            return _Outcome(EffectState.SKIPPED, "not sent: ATIVA_BILLING_WEBHOOK_URL is not set")
        return Delivery("billing", f"effect_{effect_id}", {
            "type": CUSTOMER_EVENT_TYPES[row.to_status],
            "timestamp": row.created_at.isoformat(),
            "sequence": row.customer_version,
            "data": {"customer_id": row.customer_id, "external_ref": row.external_ref,
                     "status": row.to_status, "reason": row.reason, "transition_id": row.transition_id},
        })
    if name in (Effect.PROVISION_SUSPEND, Effect.PROVISION_RESTORE):
        row = conn.execute(_PROVISION_FACTS, {"effect_id": effect_id}).one()
        wanted = ServiceStatus.SUSPENDED if name is Effect.PROVISION_SUSPEND else ServiceStatus.ACTIVE
        if row.status != wanted:
            return _Outcome(EffectState.SKIPPED, f"superseded: the service is {row.status} now")
        if not settings.provisioning_webhook_url:
            return _Outcome(EffectState.SKIPPED, "not sent: ATIVA_PROVISIONING_WEBHOOK_URL is not set")
        return _provisioning_delivery(name, effect_id, row.created_at, row.service_id, row.external_ref,
                                      row.customer_id, row.customer_ref, row.status)
    return None


def _provisioning_delivery(name: Effect, effect_id: int, created_at: datetime, service_id: int,
                           service_ref: str | None, customer_id: int, customer_ref: str | None,
                           status: str) -> Delivery:
    return Delivery("provisioning", f"effect_{effect_id}", {
        "type": "service.suspended" if name is Effect.PROVISION_SUSPEND else "service.restored",
        "sequence": effect_id,
        "timestamp": created_at.isoformat(),
        "data": {"service_id": service_id, "external_ref": service_ref, "customer_id": customer_id,
                 "customer_external_ref": customer_ref, "status": str(status)},
    })


def record_error(db: Database, effect_id: int, error: BaseException) -> None:
    """An unexpected failure inside an effect: keep its cause on the row (the claim lapses and
    the relay runs it again, up to the attempt limit)."""
    with db.write() as session:
        effect = session.get(OutboxEffect, effect_id, with_for_update=True)
        if effect is not None and effect.state == EffectState.PENDING:
            effect.last_error = f"{type(error).__name__}: {error}"[:1000]


def retry_delay(attempt: int, settings: Settings) -> float:
    """The wait after attempt `attempt` failed: the schedule's entry for the next attempt (its
    last entry once past its end), scaled by 80–120 % so retries of one outage spread out."""
    delays = settings.retry_delays
    return delays[min(attempt, len(delays) - 1)] * (0.8 + 0.4 * random.random())


def _describe(session: Session, effect: OutboxEffect, name: Effect, settings: Settings):
    """Outbound calls _describe_fast does not cover: the delinquency warning."""
    if name is not Effect.WARN_BILLING:
        raise ValueError(f"effect {effect.id}: {name} is not an outbound call")
    return _describe_warning(session, effect, session.get(Customer, effect.customer_id), settings)


def _describe_warning(session: Session, effect: OutboxEffect, customer: Customer, settings: Settings):
    from .clock import provider_today
    from .delinquency import overdue_facts, policy_from

    today = provider_today(settings.timezone)
    oldest, total, count = overdue_facts(session, customer.id, today)
    if customer.status != CustomerStatus.ACTIVE or oldest is None:
        return _Outcome(EffectState.SKIPPED, "not sent: the customer paid or is no longer active")
    if not settings.billing_webhook_url:
        return _Outcome(EffectState.SKIPPED, "not sent: ATIVA_BILLING_WEBHOOK_URL is not set")
    cut = policy_from(settings).projected_cut(oldest, today, held_until=customer.forced_hold_until)
    return Delivery("billing", f"effect_{effect.id}", {
        "type": "customer.delinquency_warning",
        "timestamp": effect.created_at.isoformat(),
        "sequence": customer.version,
        "data": {
            "customer_id": customer.id,
            "external_ref": customer.external_ref,
            "overdue_total": str(total),
            "overdue_invoices": count,
            "oldest_due": oldest.isoformat(),
            "projected_cut": cut.isoformat(),
        },
    })


# -- relay, reconciler, operator actions -----------------------------------------------------------


RELAY_BACKOFF_CAP_SECONDS = 300.0


def relay_pending(db: Database, settings: Settings, limit: int = 1000) -> list[int]:
    """Effects due for longer than the grace period, not running (or claimed by a dead worker),
    and not relayed recently: publish them again. Each relay of the same effect waits twice as
    long as the previous one. Parked retries are published here once due."""
    now = utcnow()
    cutoff = now - timedelta(seconds=settings.relay_grace_seconds)
    with db.write() as session:
        rows = session.execute(
            select(OutboxEffect.id, OutboxEffect.relay_count)
            .where(
                OutboxEffect.state == EffectState.PENDING,
                OutboxEffect.next_attempt_at <= cutoff,
                (OutboxEffect.claimed_until.is_(None)) | (OutboxEffect.claimed_until < now)
                | OutboxEffect.claimed_by.in_(heartbeats.silent_owners(settings.worker_stale_seconds, now)),
                (OutboxEffect.relay_after.is_(None)) | (OutboxEffect.relay_after <= now),
            )
            .order_by(OutboxEffect.id)
            .limit(limit)
        ).all()
        by_count: dict[int, list[int]] = {}
        for effect_id, count in rows:
            by_count.setdefault(count, []).append(effect_id)
        for count, ids in by_count.items():
            wait = min(RELAY_BACKOFF_CAP_SECONDS, settings.relay_grace_seconds * 2 ** (count + 1))
            session.execute(
                update(OutboxEffect)
                .where(OutboxEffect.id.in_(ids))
                .values(published_at=now, relay_count=count + 1, relay_after=now + timedelta(seconds=wait)),
                execution_options={"synchronize_session": False},
            )
    return [effect_id for effect_id, _ in rows]


def reconcile(db: Database, limit: int = 500) -> list[int]:
    """Customers whose services or invoicing disagree with their status, with nothing pending to
    fix it, get new effects (origin `reconciler`). Returns the ids created. A pending outbound
    call (a notification waiting out a billing outage) does not count: it fixes nothing here."""
    pending = select(OutboxEffect.id).where(
        OutboxEffect.customer_id == Customer.id, OutboxEffect.state == EffectState.PENDING,
        OutboxEffect.name.in_([name.value for name in _LOCAL]),
    ).exists()
    active_service = select(Service.id).where(
        Service.customer_id == Customer.id, Service.status == ServiceStatus.ACTIVE
    ).exists()
    held_service = select(Service.id).where(
        Service.customer_id == Customer.id,
        Service.status == ServiceStatus.SUSPENDED,
        Service.suspension_cause == SuspensionCause.CUSTOMER_INACTIVE,
    ).exists()
    drifted = (
        (Customer.status == CustomerStatus.INACTIVE) & (active_service | Customer.invoicing_enabled)
    ) | ((Customer.status == CustomerStatus.ACTIVE) & (held_service | ~Customer.invoicing_enabled))
    with db.read() as session:
        candidates = list(session.scalars(select(Customer.id).where(drifted, ~pending).limit(limit)))

    created: list[int] = []
    for customer_id in candidates:
        with db.write() as session:
            customer = session.get(Customer, customer_id, with_for_update=True)
            if session.scalar(select(pending.where(Customer.id == customer_id))):
                continue
            inactive = customer.status == CustomerStatus.INACTIVE
            services = session.scalar(
                select(func.count()).select_from(Service).where(
                    Service.customer_id == customer_id,
                    *( (Service.status == ServiceStatus.ACTIVE,) if inactive else (
                        Service.status == ServiceStatus.SUSPENDED,
                        Service.suspension_cause == SuspensionCause.CUSTOMER_INACTIVE)),
                )
            )
            names = []
            if services:
                names.append(Effect.SUSPEND_SERVICES if inactive else Effect.RESTORE_SERVICES)
            if customer.invoicing_enabled == inactive:
                names.append(Effect.PAUSE_INVOICING if inactive else Effect.RESUME_INVOICING)
            if not names:
                continue
            now = utcnow()
            rows = [new_effect(name, customer_id, now, origin="reconciler") for name in names]
            ids = list(session.execute(QUEUE_EFFECTS, rows).scalars())
            publish_after_commit(session, ids)
            created += ids
    return created


# Full schedules of attempts the reconciler adds to one transition's notification (each ~28 h by
# default) before it leaves the failure to a person (ativa effects list --state failed).
RENOTIFY_MAX = 3


def reconcile_notifications(db: Database, limit: int = 500) -> list[int]:
    """Billing must learn each customer's latest status. When every notify_billing of a
    customer's latest transition has failed (its attempts ran out during a long outage), a new one
    for that transition goes out (origin `reconciler`, a full set of attempts): one at a time
    per customer, only while none is pending or done, at most RENOTIFY_MAX times per transition.
    Older transitions are never notified again:
    billing wants the current status, not the story. Returns the ids created."""
    notify = Effect.NOTIFY_BILLING.value
    latest = (select(func.max(StatusChange.id)).where(StatusChange.customer_id == OutboxEffect.customer_id)
              .scalar_subquery())
    with db.read() as session:
        candidates = session.execute(
            select(OutboxEffect.customer_id, OutboxEffect.transition_id).distinct()
            .where(OutboxEffect.name == notify, OutboxEffect.state == EffectState.FAILED,
                   OutboxEffect.transition_id == latest)
            .limit(limit)
        ).all()

    created: list[int] = []
    for customer_id, transition_id in candidates:
        with db.write() as session:
            session.get(Customer, customer_id, with_for_update=True)  # as transitions lock
            newest = session.scalar(select(func.max(StatusChange.id)).where(StatusChange.customer_id == customer_id))
            others = session.scalar(select(func.count()).select_from(OutboxEffect).where(
                OutboxEffect.name == notify, OutboxEffect.transition_id == transition_id,
                OutboxEffect.state != EffectState.FAILED))
            renotified = session.scalar(select(func.count()).select_from(OutboxEffect).where(
                OutboxEffect.name == notify, OutboxEffect.transition_id == transition_id,
                OutboxEffect.origin == "reconciler"))
            if newest != transition_id or others:
                continue  # a newer transition notifies, or a notification is already on its way
            if renotified >= RENOTIFY_MAX:
                continue  # billing keeps refusing it (days of attempts): a person must look, not a loop
            row = new_effect(Effect.NOTIFY_BILLING, customer_id, utcnow(), transition_id=transition_id,
                             origin="reconciler")
            effect_id = session.execute(QUEUE_EFFECTS, [row]).scalar_one()
            publish_after_commit(session, [effect_id])
            created.append(effect_id)
    if created:
        log.warning("reconciler: billing never learned the latest status of %d customer(s); notifying again",
                    len(created))
    return created


def list_effects(session: Session, state: str | None = None, customer_id: int | None = None,
                 limit: int = 100) -> list[OutboxEffect]:
    query = select(OutboxEffect).order_by(OutboxEffect.id.desc()).limit(limit)
    if state:
        try:
            query = query.where(OutboxEffect.state == EffectState(state).value)
        except ValueError:
            allowed = ", ".join(s.value for s in EffectState)
            raise InvalidInput(f"state {state!r} is not one of: {allowed}") from None
    if customer_id is not None:
        query = query.where(OutboxEffect.customer_id == customer_id)
    return list(session.scalars(query))


def retry_effect(session: Session, effect_id: int, actor: str, customer_id: int | None = None) -> OutboxEffect:
    """Give a failed effect a fresh set of attempts (of `customer_id`'s effects only, when given)."""
    effect = session.get(OutboxEffect, effect_id, with_for_update=True)
    if effect is None or (customer_id is not None and effect.customer_id != customer_id):
        raise NotFound(f"effect {effect_id} does not exist")
    if effect.state != EffectState.FAILED:
        raise TransitionNotAllowed(f"effect {effect_id} is {effect.state}; only a failed effect can be retried")
    now = utcnow()
    effect.state = EffectState.PENDING.value
    effect.attempts = 0
    effect.completed_at = None
    effect.claimed_until = effect.claimed_by = None
    effect.next_attempt_at = now
    effect.relay_count, effect.relay_after = 0, None
    effect.note = f"retried by {actor} at {now.isoformat()}"
    session.flush()
    publish_after_commit(session, [effect.id])
    return effect
