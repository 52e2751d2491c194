"""Numbers for /metrics, read from the database so every process reports the same truth."""

from dataclasses import dataclass

from sqlalchemy import func, select

from ..db.models import OutboxEffect, SchedulerLease, StatusChange
from ..db.types import utcnow
from ..domain.vocabulary import EffectState
from .leases import SCHEDULER_LEASE
from sqlalchemy.orm import Session

LATENCY_SAMPLE = 1000


@dataclass
class Snapshot:
    transitions: dict[tuple[str, str], int]  # (event, source) -> count
    effects: dict[tuple[str, str], int]  # (name, state) -> count
    latency_quantiles: dict[float, float]  # over the last LATENCY_SAMPLE completed effects
    relay_lag_seconds: float  # age of the oldest effect that is due and still pending
    # Until the scheduler's lease runs out; 0 when no scheduler holds it (none running: no relay,
    # no sweep, no timers). A live scheduler renews it every third of its length.
    scheduler_lease_seconds_left: float


def snapshot(session: Session) -> Snapshot:
    transitions = {
        (event, source): count
        for event, source, count in session.execute(
            select(StatusChange.event, StatusChange.source, func.count()).group_by(
                StatusChange.event, StatusChange.source
            )
        )
    }
    effects = {
        (name, state): count
        for name, state, count in session.execute(
            select(OutboxEffect.name, OutboxEffect.state, func.count()).group_by(
                OutboxEffect.name, OutboxEffect.state
            )
        )
    }
    recent = session.execute(
        select(OutboxEffect.created_at, OutboxEffect.completed_at)
        .where(OutboxEffect.state == EffectState.DONE, OutboxEffect.completed_at.is_not(None))
        .order_by(OutboxEffect.id.desc())
        .limit(LATENCY_SAMPLE)
    ).all()
    latencies = sorted((done - created).total_seconds() for created, done in recent)
    quantiles = {}
    if latencies:
        for q in (0.5, 0.9, 0.99):
            quantiles[q] = latencies[min(len(latencies) - 1, int(q * len(latencies)))]
    now = utcnow()
    oldest = session.scalar(
        select(func.min(OutboxEffect.next_attempt_at)).where(
            OutboxEffect.state == EffectState.PENDING, OutboxEffect.next_attempt_at <= now
        )
    )
    lag = (now - oldest).total_seconds() if oldest else 0.0
    lease_expires = session.scalar(select(SchedulerLease.expires_at).where(SchedulerLease.name == SCHEDULER_LEASE))
    lease_left = (lease_expires - now).total_seconds() if lease_expires else 0.0
    return Snapshot(transitions, effects, quantiles, max(lag, 0.0), max(lease_left, 0.0))
