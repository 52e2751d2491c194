"""What the dashboard (/painel) shows, read in a few grouped queries bounded by date.

Days are the provider's (ATIVA_TIMEZONE): each row is put on its local day by comparing its UTC
time with the UTC instants the local days start at, so both databases group the same way and a
change of offset (summer time) falls on the right day.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from ..db.models import Customer, OutboxEffect, SchedulerLease, StatusChange
from ..domain.freeze import Freeze
from ..domain.vocabulary import (
    ActivationReason,
    CustomerEvent,
    EffectState,
    InactivationReason,
    Source,
)
from . import freeze, heartbeats
from .freeze import FreezeChangeView
from .leases import SCHEDULER_LEASE
from .metrics import CustomerCounts, customer_counts, payment_restores, quantiles, relay_lag_seconds

CHART_DAYS = 30
LATENCY_DAYS = 7
FAILED_LISTED = 50

# The kinds of transition the day chart counts.
AUTOMATIC_CUT, MANUAL_CUT, PAYMENT_REACTIVATION, OTHER_REACTIVATION = "auto_cut", "manual_cut", "payment", "other"


@dataclass(frozen=True)
class DayActivity:
    day: date
    counts: dict[str, int]  # AUTOMATIC_CUT, MANUAL_CUT, PAYMENT_REACTIVATION, OTHER_REACTIVATION


@dataclass(frozen=True)
class Latencies:
    """Payment -> services restored, in seconds."""

    count: int
    quantiles: dict[float, float]  # 0.5, 0.9, 0.99; empty without samples


@dataclass(frozen=True)
class DayLatency:
    day: date
    latencies: Latencies


@dataclass(frozen=True)
class FailedEffect:
    id: int
    name: str
    customer_id: int
    customer_name: str
    attempts: int
    last_error: str | None
    note: str | None
    created_at: datetime
    state: str = EffectState.FAILED.value


@dataclass(frozen=True)
class Lease:
    holder: str
    expires_at: datetime

    def held(self, now: datetime) -> bool:
        return self.expires_at > now


@dataclass(frozen=True)
class Dashboard:
    today: date
    now: datetime
    customers: CustomerCounts
    days: list[DayActivity]
    restore_last_day: Latencies
    restore_last_week: Latencies
    restore_per_day: list[DayLatency]
    effects_open: dict[str, dict[str, int]]  # effect name -> {pending, failed}
    failed: list[FailedEffect]
    failed_total: int
    relay_lag_seconds: float
    lease: Lease | None
    workers_alive: int
    frozen: Freeze | None  # the freeze that holds today, if any
    last_freeze_change: FreezeChangeView | None


def day_starts(today: date, days: int, timezone: str) -> list[datetime]:
    """The instants (aware, in the provider's zone) the last `days` local days start at, oldest
    first, and the start of tomorrow: days + 1 bounds."""
    zone = ZoneInfo(timezone)
    first = today - timedelta(days=days - 1)
    return [datetime.combine(first + timedelta(days=n), datetime.min.time(), zone) for n in range(days + 1)]


def _day_index(column, bounds: list[datetime]):
    """The local day (0 = oldest) a time falls on; rows outside the bounds are filtered out."""
    return case(*((column < bound, index) for index, bound in enumerate(bounds[1:])), else_=None)


def cuts_and_reactivations(session: Session, today: date, timezone: str, days: int = CHART_DAYS) -> list[DayActivity]:
    """Cuts (inactive for delinquency: by the scheduler or by hand) and reactivations (by a
    payment or otherwise) per local day, one grouped query over the days' rows of status_changes
    (index on created_at)."""
    bounds = day_starts(today, days, timezone)
    kind = case(
        (
            and_(
                StatusChange.event == CustomerEvent.INACTIVATE.value,
                StatusChange.reason == InactivationReason.DELINQUENCY.value,
            ),
            case((StatusChange.source == Source.SCHEDULER.value, AUTOMATIC_CUT), else_=MANUAL_CUT),
        ),
        (
            StatusChange.event == CustomerEvent.ACTIVATE.value,
            case(
                (StatusChange.reason == ActivationReason.PAYMENT_RECEIVED.value, PAYMENT_REACTIVATION),
                else_=OTHER_REACTIVATION,
            ),
        ),
        else_=None,
    )
    # Labelled in a subquery and grouped outside: PostgreSQL would not match two copies of an
    # expression whose bounds are separate parameters.
    rows = (
        select(_day_index(StatusChange.created_at, bounds).label("day"), kind.label("kind"))
        .where(
            StatusChange.created_at >= bounds[0],
            StatusChange.created_at < bounds[-1],
            StatusChange.event.in_((CustomerEvent.INACTIVATE.value, CustomerEvent.ACTIVATE.value)),
        )
        .subquery()
    )
    found: dict[int, dict[str, int]] = defaultdict(dict)
    for day, what, count in session.execute(
        select(rows.c.day, rows.c.kind, func.count()).where(rows.c.kind.is_not(None)).group_by(rows.c.day, rows.c.kind)
    ):
        found[day][what] = count
    kinds = (AUTOMATIC_CUT, MANUAL_CUT, PAYMENT_REACTIVATION, OTHER_REACTIVATION)
    return [DayActivity(bounds[n].date(), {what: found[n].get(what, 0) for what in kinds}) for n in range(days)]


def latencies(seconds: list[float]) -> Latencies:
    return Latencies(len(seconds), quantiles(seconds))


def restore_per_day(samples: list[tuple[datetime, float]], today: date, timezone: str, days: int) -> list[DayLatency]:
    zone = ZoneInfo(timezone)
    per_day: dict[date, list[float]] = defaultdict(list)
    for received, seconds in samples:
        per_day[received.astimezone(zone).date()].append(seconds)
    first = today - timedelta(days=days - 1)
    return [
        DayLatency(day, latencies(per_day.get(day, []))) for day in (first + timedelta(days=n) for n in range(days))
    ]


def open_effects(session: Session) -> dict[str, dict[str, int]]:
    """Pending and failed effects per name (the index on state keeps the done ones out)."""
    found: dict[str, dict[str, int]] = {}
    rows = session.execute(
        select(OutboxEffect.name, OutboxEffect.state, func.count())
        .where(OutboxEffect.state.in_((EffectState.PENDING.value, EffectState.FAILED.value)))
        .group_by(OutboxEffect.name, OutboxEffect.state)
    )
    for name, state, count in rows:
        found.setdefault(name, {EffectState.PENDING.value: 0, EffectState.FAILED.value: 0})[state] = count
    return dict(sorted(found.items()))


def failed_effects(session: Session, limit: int = FAILED_LISTED) -> list[FailedEffect]:
    rows = session.execute(
        select(
            OutboxEffect.id,
            OutboxEffect.name,
            OutboxEffect.customer_id,
            Customer.name,
            OutboxEffect.attempts,
            OutboxEffect.last_error,
            OutboxEffect.note,
            OutboxEffect.created_at,
        )
        .join(Customer, Customer.id == OutboxEffect.customer_id)
        .where(OutboxEffect.state == EffectState.FAILED.value)
        .order_by(OutboxEffect.id.desc())
        .limit(limit)
    )
    return [FailedEffect(*row) for row in rows]


def scheduler_lease(session: Session) -> Lease | None:
    row = session.execute(
        select(SchedulerLease.holder, SchedulerLease.expires_at).where(SchedulerLease.name == SCHEDULER_LEASE)
    ).one_or_none()
    return Lease(*row) if row else None


def dashboard(session: Session, timezone: str, worker_stale_seconds: float, now: datetime) -> Dashboard:
    today = now.astimezone(ZoneInfo(timezone)).date()
    week = payment_restores(session, now - timedelta(days=LATENCY_DAYS))
    open_by_name = open_effects(session)
    state = freeze.read_state(session, today)
    last_change = freeze.history(session, limit=1)
    return Dashboard(
        today=today,
        now=now,
        customers=customer_counts(session),
        days=cuts_and_reactivations(session, today, timezone),
        restore_last_day=latencies([s for received, s in week if received >= now - timedelta(hours=24)]),
        restore_last_week=latencies([s for _, s in week]),
        restore_per_day=restore_per_day(week, today, timezone, LATENCY_DAYS),
        effects_open=open_by_name,
        failed=failed_effects(session),
        failed_total=sum(counts[EffectState.FAILED.value] for counts in open_by_name.values()),
        relay_lag_seconds=relay_lag_seconds(session, now),
        lease=scheduler_lease(session),
        workers_alive=heartbeats.live_workers(session, worker_stale_seconds, now),
        frozen=state.freeze if state.holds else None,
        last_freeze_change=last_change[0] if last_change else None,
    )
