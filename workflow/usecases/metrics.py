"""Numbers for /metrics, read from the database so every process reports the same truth."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from ..db.models import (
    BillingEvent,
    Customer,
    FreezeChange,
    OutboxEffect,
    RadiusPacket,
    SchedulerLease,
    StatusChange,
)
from ..db.types import utcnow
from ..domain.freeze import FreezeAction
from ..domain.vocabulary import (
    ActivationReason,
    CustomerEvent,
    CustomerStatus,
    DelinquencyStage,
    Effect,
    EffectState,
    InactivationReason,
)
from ..settings import Settings
from . import freeze, heartbeats
from .leases import SCHEDULER_LEASE

LATENCY_SAMPLE = 1000
QUANTILES = (0.5, 0.9, 0.99)
# The payment -> restored sample: the last LATENCY_SAMPLE within this window (bounded by date, so
# a scrape reads a few days of status_changes, not the whole table).
PAYMENT_RESTORE_WINDOW = timedelta(days=7)
CUT = "cut"  # inactive for delinquency: the stage after the ladder's steps
ALERT_STATES = ("pending", "done", "failed", "skipped")  # freeze_changes.alert_state


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
    customers: dict[str, int] = field(default_factory=dict)  # by status, every status present
    cuts_frozen: bool = False  # a freeze of the automatic cuts holds today
    freeze_changes: dict[str, int] = field(default_factory=dict)  # action -> count, every action present
    freeze_alerts: dict[str, int] = field(default_factory=dict)  # alert_state -> count, every state present
    payment_restore_quantiles: dict[float, float] = field(default_factory=dict)


def quantiles(values: list[float]) -> dict[float, float]:
    """p50/p90/p99 of `values` (nearest rank below; empty without values)."""
    ordered = sorted(values)
    if not ordered:
        return {}
    return {q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] for q in QUANTILES}


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


@dataclass(frozen=True)
class CustomerCounts:
    by_status: dict[str, int]  # active, inactive
    by_stage: dict[str, int]  # none, notice, reduced (active customers), cut (inactive for delinquency)

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


def customer_counts(session: Session) -> CustomerCounts:
    """Customers by status and by delinquency stage, in one pass grouped on the three columns."""
    by_status = dict.fromkeys((status.value for status in CustomerStatus), 0)
    by_stage = dict.fromkeys([*(stage.value for stage in DelinquencyStage), CUT], 0)
    rows = session.execute(
        select(Customer.status, Customer.inactivation_reason, Customer.delinquency_stage, func.count()).group_by(
            Customer.status, Customer.inactivation_reason, Customer.delinquency_stage
        )
    )
    for status, reason, stage, count in rows:
        by_status[status] = by_status.get(status, 0) + count
        if status == CustomerStatus.ACTIVE:
            by_stage[stage] = by_stage.get(stage, 0) + count
        elif reason == InactivationReason.DELINQUENCY:
            by_stage[CUT] += count
    return CustomerCounts(by_status, by_stage)


def payment_restores(session: Session, since: datetime, limit: int | None = None) -> list[tuple[datetime, float]]:
    """(payment's arrival, seconds until its services were restored) for the activations by a
    payment since `since`, newest first: from the billing event that caused the activation (its
    transition_id, billing.py) to the completion of the transition's restore_services effect. An
    effect not done yet has no latency to count."""
    return [
        (received, max((completed - received).total_seconds(), 0.0))
        for received, completed in session.execute(payment_restores_query(since, limit))
    ]


def payment_restores_query(since: datetime, limit: int | None = None) -> Select[tuple[datetime, datetime]]:
    """Bounded by the window whatever the planner knows (SQLite without ANALYZE would otherwise
    walk every done effect): the window's transitions on their time index, newest first on the
    same index, then each one's event and effect by their transition_id index."""
    restored_at = (
        select(OutboxEffect.completed_at)
        .where(
            OutboxEffect.transition_id == StatusChange.id,
            OutboxEffect.name == Effect.RESTORE_SERVICES.value,
            OutboxEffect.state == EffectState.DONE.value,
            OutboxEffect.completed_at.is_not(None),
        )
        .limit(1)
        .scalar_subquery()
    )
    activations = (
        select(
            BillingEvent.received_at.label("received_at"),
            restored_at.label("restored_at"),
            StatusChange.created_at.label("activated_at"),
        )
        .select_from(StatusChange)
        .join(BillingEvent, BillingEvent.transition_id == StatusChange.id)
        .where(
            StatusChange.created_at >= since,
            StatusChange.event == CustomerEvent.ACTIVATE.value,
            StatusChange.reason == ActivationReason.PAYMENT_RECEIVED.value,
        )
        .subquery()
    )
    query = (
        select(activations.c.received_at, activations.c.restored_at)
        .where(activations.c.restored_at.is_not(None))
        .order_by(activations.c.activated_at.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    return query


def freeze_counts(session: Session) -> tuple[dict[str, int], dict[str, int]]:
    """Changes of the freeze by action and by the state of their alert (every key present)."""
    actions = dict.fromkeys((action.value for action in FreezeAction), 0)
    alerts = dict.fromkeys(ALERT_STATES, 0)
    rows = session.execute(
        select(FreezeChange.action, FreezeChange.alert_state, func.count()).group_by(
            FreezeChange.action, FreezeChange.alert_state
        )
    )
    for action, alert_state, count in rows:
        actions[action] = actions.get(action, 0) + count
        alerts[alert_state] = alerts.get(alert_state, 0) + count
    return actions, alerts


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
    now = utcnow()
    counts = customer_counts(session)
    freeze_actions, freeze_alerts = freeze_counts(session)
    restores = payment_restores(session, now - PAYMENT_RESTORE_WINDOW, limit=LATENCY_SAMPLE)
    today = now.astimezone(ZoneInfo(settings.timezone)).date()
    return Snapshot(
        transitions,
        effects,
        quantiles([(done - created).total_seconds() for created, done in recent]),
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
        {stage: count for stage, count in counts.by_stage.items() if stage != CUT},
        counts.by_status,
        freeze.read_state(session, today).holds,
        freeze_actions,
        freeze_alerts,
        quantiles([seconds for _, seconds in restores]),
    )
