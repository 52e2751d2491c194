"""The safety nets: the relay publishes again what the fast path lost, the reconciler repairs a
customer whose services or invoicing drifted from its status (the domain's ALIGNMENT table, the one
the local effects apply), and the notifications reconciler
makes sure billing learns each customer's latest status."""

import logging
from datetime import timedelta

from sqlalchemy import func, or_, select, update

from ...db.engine import Database
from ...db.models import Customer, OutboxEffect, Service
from ...db.types import utcnow
from ...domain.status_alignment import ALIGNMENT, LOCAL_EFFECTS, ServicesInLine, alignment_for
from ...domain.vocabulary import Effect, EffectState
from ...settings import Settings, get_settings
from .. import heartbeats
from ..customer_locks import lock_customer_row
from ..effect_bus import publish_after_commit
from ..radius.reconcile import reconcile_radius
from ..transitions import QUEUE_EFFECTS, new_effect
from .descriptions import latest_ladder_change, latest_status_change
from .local import services_out_of_line

log = logging.getLogger(__name__)

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
                (OutboxEffect.claimed_until.is_(None))
                | (OutboxEffect.claimed_until < now)
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


def _services_out_of_line(line: ServicesInLine):
    """The services of the outer query's customer that its status's local effect would change."""
    return select(Service.id).where(Service.customer_id == Customer.id, services_out_of_line(line))


def reconcile(db: Database, limit: int = 500, settings: Settings | None = None) -> list[int]:
    """Customers whose services or invoicing disagree with their status, with nothing pending to
    fix it, get new effects (origin `reconciler`); then FreeRADIUS's rows are checked against the
    services (radius.reconcile: a repaired login gets a radius_disconnect). Returns the ids
    created. A pending outbound call (a notification waiting out a billing outage) does not
    count: it fixes nothing here."""
    created = _reconcile_customers(db, limit)
    return created + reconcile_radius(db, settings or get_settings()).effect_ids


def _reconcile_customers(db: Database, limit: int) -> list[int]:
    pending = (
        select(OutboxEffect.id)
        .where(
            OutboxEffect.customer_id == Customer.id,
            OutboxEffect.state == EffectState.PENDING,
            OutboxEffect.name.in_(sorted(name.value for name in LOCAL_EFFECTS)),
        )
        .exists()
    )
    drifted = or_(
        *(
            (Customer.status == status.value)
            & (
                _services_out_of_line(alignment.services).exists()
                | (Customer.invoicing_enabled != alignment.invoicing.enabled)
            )
            for status, alignment in ALIGNMENT.items()
        )
    )
    with db.read() as session:
        candidates = list(session.scalars(select(Customer.id).where(drifted, ~pending).limit(limit)))

    created: list[int] = []
    for customer_id in candidates:
        with db.write() as session:
            customer = lock_customer_row(session.connection(), customer_id)
            if session.scalar(select(pending.where(Customer.id == customer_id))):
                continue
            alignment = alignment_for(customer.status)
            if alignment is None:
                continue  # not a lifecycle status: the transition use case refuses it too
            services = session.scalar(
                select(func.count())
                .select_from(Service)
                .where(Service.customer_id == customer_id, services_out_of_line(alignment.services))
            )
            names = []
            if services:
                names.append(alignment.services.effect)
            if customer.invoicing_enabled != alignment.invoicing.enabled:
                names.append(alignment.invoicing.effect)
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
    """Billing must learn each customer's latest status and step of the collection ladder. When
    every notification of a customer's latest change has failed (its attempts ran out during a long
    outage), a new one for that transition goes out (origin `reconciler`, a full set of attempts):
    one at a time per customer, only while none is pending or done, at most RENOTIFY_MAX times per
    transition. Older transitions are never notified again: billing wants the current status, not
    the story. Returns the ids created."""
    return _renotify(db, Effect.NOTIFY_BILLING, latest_status_change, limit) + _renotify(
        db, Effect.NOTIFY_STAGE, latest_ladder_change, limit
    )


def _renotify(db: Database, effect: Effect, latest_change, limit: int) -> list[int]:
    notify = effect.value
    latest = latest_change(OutboxEffect.customer_id)
    with db.read() as session:
        candidates = session.execute(
            select(OutboxEffect.customer_id, OutboxEffect.transition_id)
            .distinct()
            .where(
                OutboxEffect.name == notify,
                OutboxEffect.state == EffectState.FAILED,
                OutboxEffect.transition_id == latest,
            )
            .limit(limit)
        ).all()

    created: list[int] = []
    for customer_id, transition_id in candidates:
        with db.write() as session:
            lock_customer_row(session.connection(), customer_id)  # as transitions lock
            newest = session.scalar(select(latest_change(customer_id)))
            others = session.scalar(
                select(func.count())
                .select_from(OutboxEffect)
                .where(
                    OutboxEffect.name == notify,
                    OutboxEffect.transition_id == transition_id,
                    OutboxEffect.state != EffectState.FAILED,
                )
            )
            renotified = session.execute(
                select(func.count())
                .select_from(OutboxEffect)
                .where(
                    OutboxEffect.name == notify,
                    OutboxEffect.transition_id == transition_id,
                    OutboxEffect.origin == "reconciler",
                )
            ).scalar_one()
            if newest != transition_id or others:
                continue  # a newer transition notifies, or a notification is already on its way
            if renotified >= RENOTIFY_MAX:
                continue  # billing keeps refusing it (days of attempts): a person must look, not a loop
            row = new_effect(effect, customer_id, utcnow(), transition_id=transition_id, origin="reconciler")
            effect_id = session.execute(QUEUE_EFFECTS, [row]).scalar_one()
            publish_after_commit(session, [effect_id])
            created.append(effect_id)
    if created:
        log.warning(
            "reconciler: billing never learned the latest %s of %d customer(s); notifying again",
            "status" if effect is Effect.NOTIFY_BILLING else "ladder step",
            len(created),
        )
    return created
