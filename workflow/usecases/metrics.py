"""Numbers for /metrics, read from the database so every process reports the same truth."""

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..db.models import Customer, OutboxEffect, RadiusPacket, SchedulerLease, StatusChange
from ..db.types import utcnow
from ..domain.vocabulary import CustomerStatus, DelinquencyStage, EffectState
from ..settings import Settings
from . import heartbeats
from .leases import SCHEDULER_LEASE

LATENCY_SAMPLE = 1000


@dataclass
class Snapshot:
    transitions: dict[tuple[str, str], int]  # (event, source) -> count
    effects: dict[tuple[str, str], int]  # (name, state) -> count
    latency_quantiles: dict[float, float]  # over the last LATENCY_SAMPLE completed effects
    relay_lag_seconds: float  # age of the oldest effect that is due, pending and not running
    # Until the scheduler's lease runs out; 0 when no scheduler holds it (none running: no relay,
    # no sweep, no timers). A live scheduler renews it every third of its length.
    scheduler_lease_seconds_left: float
    workers_alive: int  # worker processes (main ones) heard from within three heartbeats
    radius_packets: dict[tuple[str, str], int]  # (kind, outcome) -> CoA/Disconnect packets sent
    # Active customers per step of the collection ladder; every stage present, 0 when empty, so a
    # dashboard's series does not vanish when the last customer leaves a stage.
    delinquency_stages: dict[str, int] = field(default_factory=dict)


def relay_lag_seconds(session: Session, now) -> float:
    """How long the oldest effect that is due, pending and not running has waited: it grows when
    no worker takes effects (stopped, behind, or the broker lost them and no relay runs). A
    retry parked for later is not due, so a long outage of a receiver does not count."""
    oldest = session.scalar(
        select(func.min(OutboxEffect.next_attempt_at)).where(
            OutboxEffect.state == EffectState.PENDING,
            OutboxEffect.next_attempt_at <= now,
            OutboxEffect.claimed_until.is_(None) | (OutboxEffect.claimed_until < now),
        )
    )
    return max((now - oldest).total_seconds(), 0.0) if oldest else 0.0


def scheduler_lease_seconds_left(session: Session, now) -> float:
    expires = session.scalar(select(SchedulerLease.expires_at).where(SchedulerLease.name == SCHEDULER_LEASE))
    return max((expires - now).total_seconds(), 0.0) if expires else 0.0


def customers_per_stage(session: Session) -> dict[str, int]:
    """Active customers at each stage of the collection ladder (none, notice, reduced)."""
    counts = dict.fromkeys((stage.value for stage in DelinquencyStage), 0)
    rows = session.execute(
        select(Customer.delinquency_stage, func.count())
        .where(Customer.status == CustomerStatus.ACTIVE.value)
        .group_by(Customer.delinquency_stage)
    )
    for stage, count in rows:
        counts[stage] = count
    return counts


def snapshot(session: Session, settings: Settings) -> Snapshot:
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
            select(OutboxEffect.name, OutboxEffect.state, func.count()).group_by(OutboxEffect.name, OutboxEffect.state)
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
    return Snapshot(
        transitions,
        effects,
        quantiles,
        relay_lag_seconds(session, now),
        scheduler_lease_seconds_left(session, now),
        heartbeats.live_workers(session, settings.worker_stale_seconds, now),
        {
            (kind, outcome): count
            for kind, outcome, count in session.execute(
                select(RadiusPacket.kind, RadiusPacket.outcome, func.count()).group_by(
                    RadiusPacket.kind, RadiusPacket.outcome
                )
            )
        },
        customers_per_stage(session),
    )
