"""The freeze of automatic cuts, as stored: turned on and off by people, tripped by a payment
silence, read (under a shared lock) by every transaction that cuts automatically, and announced to
billing (`ativa.freeze`) by the workers.

The rule of what a freeze stops lives in the domain (domain/freeze.py, the machine's guards); this
module keeps the one row that says whether it holds, its history, and the alerts.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ..db.engine import Database
from ..db.models import BillingEvent, CutFreeze, FreezeChange
from ..db.types import utcnow
from ..domain import limits
from ..domain.errors import InvalidInput
from ..domain.freeze import (
    PAYMENT_SILENCE,
    BusinessHours,
    Freeze,
    FreezeAction,
    SilenceVerdict,
    check_until,
    last_business_hours,
    reference_weeks,
)
from ..settings import Settings
from .business_day import provider_calendar, provider_today

log = logging.getLogger(__name__)

STATE_ROW = 1
REASON_MAX_CHARS = 500
PAID_EVENT = "invoice.paid"
ALERT_EVENT = "ativa.freeze"

_state = CutFreeze.__table__
_changes = FreezeChange.__table__


@dataclass(frozen=True)
class FreezeState:
    """The freeze row as stored: `freeze` is None when nothing was ever frozen or it was lifted;
    `holds` tells whether it stops cuts today (a freeze past its `until` day no longer does)."""

    freeze: Freeze | None
    holds: bool
    change_id: int | None


def _row_freeze(row) -> Freeze | None:
    if row is None or not row.frozen:
        return None
    return Freeze(
        reason=row.reason or "", since=row.since, actor=row.actor or "", source=row.source or "", until=row.until
    )


def read_state(conn: Connection | Session, today: date | None = None, *, lock: str | None = None) -> FreezeState:
    """The freeze as stored, and whether it holds on `today` (default: the provider's real date,
    which is what decides; a run's `as_of` never does). `lock="share"` is what an automatic cut
    takes: a freeze being recorded (`lock="update"`) waits for the cuts in flight, and the cuts
    after it see it. SQLite has one writer at a time, which gives the same order."""
    query = select(_state).where(_state.c.id == STATE_ROW)
    if lock == "share":
        query = query.with_for_update(read=True)
    elif lock == "update":
        query = query.with_for_update()
    row = conn.execute(query).one_or_none()
    if row is None and lock is not None:
        # Without its row there is nothing to lock, and a freeze recorded meanwhile would not wait.
        _ensure_state_row(conn)
        row = conn.execute(query).one()
    freeze = _row_freeze(row)
    holds = freeze is not None and freeze.holds(today or provider_today())
    return FreezeState(freeze, holds, row.change_id if row is not None else None)


def _ensure_state_row(conn: Connection | Session) -> None:
    """The migration writes the row; this puts it back if it went missing (a wiped table), so a
    freeze is never lost for want of its row."""
    dialect = conn.get_bind().dialect.name if isinstance(conn, Session) else conn.dialect.name
    upsert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    conn.execute(upsert(_state).values(id=STATE_ROW, frozen=False).on_conflict_do_nothing(index_elements=["id"]))


def freeze_in_force(conn: Connection | Session) -> Freeze | None:
    """The freeze that stops automatic cuts now, read under the shared lock (call it inside the
    cut's own transaction); None when cuts may go ahead."""
    state = read_state(conn, lock="share")
    return state.freeze if state.holds else None


def holding(conn: Connection | Session) -> Freeze | None:
    """The freeze that holds now, read without a lock (previews, pages): None when cuts go ahead."""
    state = read_state(conn)
    return state.freeze if state.holds else None


def clean_reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise InvalidInput("a freeze needs a reason")
    if is_reserved_reason(text):
        raise InvalidInput(f"the reason {PAYMENT_SILENCE!r} is the automatic freeze's own; say it in other words")
    if len(text) > REASON_MAX_CHARS:
        raise InvalidInput(f"the freeze's reason may have at most {REASON_MAX_CHARS} characters, not {len(text)}")
    return limits.check_text("reason", text, multiline=True)


def is_reserved_reason(text: str) -> bool:
    """`payment_silence` marks the freeze Ativa trips by itself (Freeze.automatic): a person's
    freeze may not pass for one."""
    return text.strip().casefold() == PAYMENT_SILENCE


def _record(
    conn: Connection,
    action: FreezeAction,
    actor: str,
    source: str,
    now: datetime,
    *,
    reason: str | None = None,
    until: date | None = None,
    detail: str | None = None,
) -> int:
    change_id = conn.execute(
        insert(_changes)
        .values(
            action=action.value,
            reason=reason,
            until=until,
            detail=detail,
            actor=actor,
            source=source,
            created_at=now,
            alert_state="pending",
            alert_attempts=0,
            next_alert_at=now,
        )
        .returning(_changes.c.id)
    ).scalar_one()
    frozen = action in (FreezeAction.ON, FreezeAction.TRIPPED)
    held = read_state(conn)  # under the caller's update lock
    # Changing the reason or last day of a freeze that holds keeps its start.
    since = held.freeze.since if frozen and held.holds and held.freeze is not None else now
    conn.execute(
        update(_state)
        .where(_state.c.id == STATE_ROW)
        .values(
            frozen=frozen,
            reason=reason if frozen else None,
            until=until if frozen else None,
            since=since if frozen else None,
            actor=actor if frozen else None,
            source=source if frozen else None,
            change_id=change_id,
        )
    )
    return change_id


def freeze_cuts(db: Database, reason: str | None, until: date | None, actor: str, source: str) -> FreezeState:
    """Freeze the automatic cuts (or change the reason or last day of a freeze that holds)."""
    text = clean_reason(reason)
    today = provider_today()
    limits.check_date("until", until, today)
    try:
        check_until(until, today)
    except ValueError as wrong:
        raise InvalidInput(str(wrong)) from None
    with db.write() as session:
        conn = session.connection()
        current = read_state(conn, today, lock="update")
        if (
            current.holds
            and current.freeze is not None
            and (current.freeze.reason, current.freeze.until) == (text, until)
        ):
            return current  # the same freeze again (a retried request): nothing new to record
        _record(conn, FreezeAction.ON, actor, source, utcnow(), reason=text, until=until)
        return read_state(conn, today)


def lift_freeze(db: Database, actor: str, source: str, note: str | None = None) -> FreezeState | None:
    """Lift the freeze; None when there was none to lift (nothing is recorded then)."""
    today = provider_today()
    with db.write() as session:
        conn = session.connection()
        if read_state(conn, today, lock="update").freeze is None:
            return None
        reason = clean_reason(note) if note and note.strip() else None
        _record(conn, FreezeAction.OFF, actor, source, utcnow(), reason=reason)
        return read_state(conn, today)


def lift_expired(db: Database, today: date) -> bool:
    """Record the end of a freeze whose last day has passed (the timers' tick)."""
    with db.write() as session:
        conn = session.connection()
        state = read_state(conn, today, lock="update")
        if state.freeze is None or state.holds:
            return False
        _record(conn, FreezeAction.EXPIRED, "scheduler", "scheduler", utcnow(), reason=state.freeze.reason)
        return True


# -- payment silence ---------------------------------------------------------------------------------


def business_hours(settings: Settings) -> BusinessHours:
    opens, closes = settings.business_hours_span
    return BusinessHours(opens, closes, provider_calendar(settings))


def _payments_in(conn: Connection | Session, spans: list[tuple[datetime, datetime]]) -> int:
    count = 0
    for start, end in spans:
        count += (
            conn.scalar(
                select(func.count())
                .select_from(BillingEvent)
                .where(
                    BillingEvent.type == PAID_EVENT, BillingEvent.received_at >= start, BillingEvent.received_at < end
                )
            )
            or 0
        )
    return count


def payment_silence(conn: Connection | Session, settings: Settings, now: datetime) -> SilenceVerdict:
    """The payments of the last ATIVA_PAYMENT_SILENCE_HOURS business hours and of the same hours
    of four earlier weeks (counted on the index of billing_events by type and time)."""
    calendar = business_hours(settings)
    local_now = now.astimezone(ZoneInfo(settings.timezone))
    spans = last_business_hours(local_now, settings.payment_silence_hours, calendar)
    hours = sum(int((end - start) / timedelta(hours=1)) for start, end in spans)
    # Any payment since the window opened breaks the silence, one at night or this very hour too.
    recent = _payments_in(conn, [(spans[-1][0], now)]) if spans else 0
    previous = tuple(_payments_in(conn, week) for week in reference_weeks(spans, calendar))
    lifted_at = conn.scalar(select(func.max(_changes.c.created_at)).where(_changes.c.action == FreezeAction.OFF.value))
    since = spans[-1][0] if spans else None
    return SilenceVerdict(hours, recent, previous, settings.payment_silence_min_events, since, lifted_at)


def trip_on_payment_silence(db: Database, settings: Settings, now: datetime | None = None) -> Freeze | None:
    """Freeze the cuts when payments have gone silent: asked first by every automatic cut's run
    (the sweep, the ladder, the end of trust unlocks). The freeze tripped now, or None (already
    frozen, the rule switched off, or payments flowing). The counts are read without a lock; only a
    silence takes the freeze's lock and counts again under it."""
    if settings.payment_silence_hours == 0:
        return None
    now = now or utcnow()
    with db.read() as session:
        if read_state(session).holds or not payment_silence(session, settings, now).silent:
            return None
    with db.write() as session:
        conn = session.connection()
        if read_state(conn, lock="update").holds:
            return None
        verdict = payment_silence(conn, settings, now)
        if not verdict.silent:
            return None
        _record(
            conn, FreezeAction.TRIPPED, "scheduler", "scheduler", now, reason=PAYMENT_SILENCE, detail=verdict.summary()
        )
        return read_state(conn).freeze


# -- history and alerts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FreezeChangeView:
    id: int
    action: str
    reason: str | None
    until: date | None
    detail: str | None
    actor: str
    source: str
    created_at: datetime
    alert_state: str


def history(conn: Connection | Session, limit: int = 50) -> list[FreezeChangeView]:
    rows = conn.execute(select(_changes).order_by(_changes.c.id.desc()).limit(limit))
    return [
        FreezeChangeView(**{name: getattr(row, name) for name in FreezeChangeView.__dataclass_fields__}) for row in rows
    ]


def alert_payload(change) -> dict:
    """The body of `ativa.freeze` (docs/api.md): what changed, why, by whom."""
    return {
        "type": ALERT_EVENT,
        "timestamp": change.created_at.isoformat(),
        "data": {
            "change_id": change.id,
            "action": change.action,
            "frozen": change.action in (FreezeAction.ON, FreezeAction.TRIPPED),
            "reason": change.reason,
            "until": change.until.isoformat() if change.until else None,
            "detail": change.detail,
            "actor": change.actor,
            "source": change.source,
        },
    }


def alert_message_id(change_id: int) -> str:
    """The alert's webhook-id: the same on every attempt, so billing can drop a repeat."""
    return f"ativa-freeze-{change_id}"


ALERT_CLAIM = timedelta(minutes=5)  # longer than a webhook call; a crashed sender's claim lapses


def _claim_alerts(db: Database, now: datetime, limit: int) -> list:
    """The alerts due, each claimed (next_alert_at moved past the call) in one short transaction so
    overlapping ticks do not send one twice."""
    with db.write() as session:
        conn = session.connection()
        rows = list(
            conn.execute(
                select(_changes)
                .where(_changes.c.alert_state == "pending", _changes.c.next_alert_at <= now)
                .order_by(_changes.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        if rows:
            conn.execute(
                update(_changes)
                .where(_changes.c.id.in_([row.id for row in rows]))
                .values(next_alert_at=now + ALERT_CLAIM)
            )
        return rows


def send_alerts(db: Database, settings: Settings, deliver: Callable[[str, dict], None], limit: int = 20) -> int:
    """`ativa.freeze` to billing for each change of the freeze not yet announced (the workers'
    timers call it with their webhook sender): the same webhook-id on every attempt, retried on the
    effects' schedule (ATIVA_RETRY_DELAYS), `skipped` without a call when no billing URL is set,
    `failed` once the attempts are spent. `deliver(webhook_id, payload)` raises when the call
    failed. Returns how many were delivered."""
    sent = 0
    for change in _claim_alerts(db, utcnow(), limit):
        error: str | None = None
        if settings.billing_webhook_url:
            try:
                deliver(alert_message_id(change.id), alert_payload(change))
                sent += 1
            except Exception as failure:  # noqa: BLE001 - recorded and retried, whatever it was
                error = str(failure) or type(failure).__name__
                log.warning("freeze alert %d not delivered: %s", change.id, error)
        record_alert(db, change.id, error, settings)
    return sent


def record_alert(db: Database, change_id: int, error: str | None, settings: Settings) -> None:
    """An alert sent (error None), skipped (no billing webhook set), or failed: retried on the
    effects' schedule (ATIVA_RETRY_DELAYS), then given up (`failed`, shown on the dashboard)."""
    now = utcnow()
    with db.write() as session:
        conn = session.connection()
        row = conn.execute(select(_changes).where(_changes.c.id == change_id).with_for_update()).one()
        if row.alert_state != "pending":
            return
        attempts = row.alert_attempts + 1
        values: dict = {"alert_attempts": attempts, "alert_error": error}
        if not settings.billing_webhook_url:  # nothing was called: not `done`
            values |= {"alert_state": "skipped", "next_alert_at": None}
        elif error is None:
            values |= {"alert_state": "done", "alerted_at": now, "next_alert_at": None}
        elif attempts >= settings.attempt_limit:
            values |= {"alert_state": "failed", "next_alert_at": None}
        else:
            delays = settings.retry_delays
            values["next_alert_at"] = now + timedelta(seconds=delays[min(attempts, len(delays) - 1)])
        conn.execute(update(_changes).where(_changes.c.id == change_id).values(**values))
