"""Outbound calls: the claim is committed, the call is made outside any transaction, and its
outcome is recorded afterwards; a failed call is retried on the schedule (ATIVA_RETRY_DELAYS)."""

import random
from datetime import timedelta

from sqlalchemy import bindparam, update

from ...db.engine import Database
from ...db.models import OutboxEffect
from ...db.types import utcnow
from ...domain.vocabulary import Effect, EffectState
from ...settings import Settings
from ..radius.sessions import describe_sessions, record_packets
from .claims import gave_up, settle_one, settle_row, still_pending
from .descriptions import describe_any
from .outcomes import (
    BUSY,
    GONE,
    Claim,
    Deliver,
    Delivered,
    Delivery,
    DeliveryFailed,
    Outcome,
    RunResult,
    Settlement,
    with_doubt,
)

# A retry due within this is a Celery countdown; a later one is parked (next_attempt_at) and the
# relay publishes it when due: a countdown near Redis' visibility timeout (1 h) would run twice.
COUNTDOWN_LIMIT_SECONDS = 60.0

_fx = OutboxEffect.__table__
_RENEW = (
    update(_fx)
    .where(
        _fx.c.id == bindparam("effect_id"),
        still_pending(),
        _fx.c.attempts == bindparam("attempt"),
    )
    .values(claimed_until=bindparam("until"))
    .returning(_fx.c.id)
)


def run_call(db: Database, claim: Claim, settings: Settings, deliver: Deliver) -> RunResult:
    """Make the call and record its outcome on its own."""
    done = make_call(db, claim, settings, deliver)
    if isinstance(done, Settlement):
        return settle_one(db, done)
    return done


def outlasts_a_call(until, settings: Settings) -> bool:
    """Whether a claim ending at `until` outlasts one more call (as Settings checks the claim)."""
    return until - utcnow() > timedelta(seconds=settings.longest_call_seconds)


def make_call(db: Database, claim: Claim, settings: Settings, deliver: Deliver) -> "Settlement | RunResult":
    """Make the call of a claimed effect. A failed call is recorded here (retry or give up); a
    call made, or found unnecessary, returns the outcome for the caller to settle: alone
    (settle_one) or with the other calls of its message (settle_together)."""
    prepared = prepare_call(db, claim, settings)
    if not isinstance(prepared, Delivery):
        return prepared
    return conclude_call(db, claim, prepared, call(deliver, prepared), settings)


def prepare_call(db: Database, claim: Claim, settings: Settings) -> "Delivery | Settlement | RunResult":
    """The call to make for a claim that still holds: its description (made now if the claim
    did not carry one), or the settlement that makes it unnecessary."""
    if not _lease_lasts_a_call(db, claim, settings):
        return RunResult(claim.effect_id, BUSY)  # our claim lapsed and another attempt took over
    delivery = claim.delivery
    if delivery is None:
        with db.read() as session:
            delivery = describe_any(session, claim.effect_id, Effect(claim.name), settings)
    return described(claim, delivery)


def prepare_calls(db: Database, claims: list[Claim], settings: Settings) -> "list[Delivery | Settlement | RunResult]":
    """prepare_call for many session effects: those without a description described together,
    in one read (a few statements for all)."""
    holds = [_lease_lasts_a_call(db, claim, settings) for claim in claims]
    undescribed = [claim.effect_id for claim, held in zip(claims, holds, strict=True) if held and not claim.delivery]
    descriptions: dict[int, Delivery | Outcome] = {}
    if undescribed:
        with db.read() as session:
            descriptions = describe_sessions(session.connection(), undescribed, settings)
    prepared: list[Delivery | Settlement | RunResult] = []
    for claim, held in zip(claims, holds, strict=True):
        if not held:
            prepared.append(RunResult(claim.effect_id, BUSY))
            continue
        delivery = claim.delivery or descriptions.get(claim.effect_id)
        if delivery is None:  # its effect row is gone
            prepared.append(RunResult(claim.effect_id, GONE))
            continue
        prepared.append(described(claim, delivery))
    return prepared


def send_together(deliver: Deliver, deliveries: list[Delivery]) -> "list[Delivered | DeliveryFailed]":
    """Many calls at once when the Deliver can (RADIUS packets go out concurrently), else one by one."""
    many = getattr(deliver, "deliver_many", None)
    if many is None:
        return [call(deliver, delivery) for delivery in deliveries]
    return list(many(deliveries))


def described(claim: Claim, delivery: "Delivery | Outcome") -> "Delivery | Settlement":
    if isinstance(delivery, Outcome):
        return Settlement(claim.effect_id, claim.attempt, delivery.state, with_doubt(claim, delivery), claim.until)
    return delivery


def call(deliver: Deliver, delivery: Delivery) -> "Delivered | DeliveryFailed":
    """Make one call; its failure is returned, not raised."""
    try:
        return deliver(delivery) or Delivered()
    except DeliveryFailed as failure:
        return failure


def conclude_call(
    db: Database, claim: Claim, delivery: Delivery, sent: "Delivered | DeliveryFailed", settings: Settings
) -> "Settlement | RunResult":
    """A call made: its settlement to record, or its failure recorded (retry or give up)."""
    if isinstance(sent, DeliveryFailed):
        return _record_failed_call(db, claim, str(sent)[:1000], settings, sent.packets)
    note = sent.note or f"delivered to {delivery.target}"
    return Settlement(claim.effect_id, claim.attempt, EffectState.DONE, note, claim.until, sent.packets)


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


def _record_failed_call(
    db: Database, claim: Claim, error: str, settings: Settings, packets: tuple[dict, ...] = ()
) -> RunResult:
    now = utcnow()
    effect_id = claim.effect_id
    with db.write() as session:
        effect = session.get(OutboxEffect, effect_id, with_for_update=True)
        if effect is None:
            return RunResult(effect_id, GONE)
        record_packets(session.connection(), packets)  # sent, whatever becomes of the effect
        if effect.state != EffectState.PENDING or effect.attempts != claim.attempt:
            # Our claim lapsed and another attempt took over: its outcome stands, not ours.
            return RunResult(effect_id, BUSY)
        effect.last_error = error
        if effect.attempts >= settings.attempt_limit:
            settle_row(effect, EffectState.FAILED, now, error=gave_up(effect, settings))
            return RunResult(effect_id, EffectState.FAILED.value)
        delay = retry_delay(effect.attempts, settings)
        effect.claimed_until = effect.claimed_by = None
        effect.next_attempt_at = now + timedelta(seconds=delay)
        # A short retry goes out as a countdown; a long one waits parked here, and the relay
        # publishes it once due (it takes due rows whose relay backoff has not started).
        effect.relay_count, effect.relay_after = 0, None
        return RunResult(
            effect_id, EffectState.PENDING.value, retry_in=delay if delay <= COUNTDOWN_LIMIT_SECONDS else None
        )


def retry_delay(attempt: int, settings: Settings) -> float:
    """The wait after attempt `attempt` failed: the schedule's entry for the next attempt (its
    last entry once past its end), scaled by 80–120 % so retries of one outage spread out."""
    delays = settings.retry_delays
    return delays[min(attempt, len(delays) - 1)] * (0.8 + 0.4 * random.random())  # noqa: S311 - jitter, not a secret
