"""What an outbound call says, described from the world as it is now: a Delivery to make, or the
Outcome that makes the call unnecessary (superseded, or its URL not set)."""

from datetime import datetime

from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.orm import Session

from ...db.driver import DriverStatement
from ...db.models import Customer, OutboxEffect, Service, StatusChange
from ...domain.vocabulary import CustomerEvent, CustomerStatus, Effect, EffectState, ServiceStatus
from ...settings import Settings
from ..radius.enforcement import SESSION_EFFECTS
from ..radius.sessions import describe_sessions
from .outcomes import Delivery, Outcome

CUSTOMER_EVENT_TYPES = {
    CustomerStatus.INACTIVE.value: "customer.inactivated",
    CustomerStatus.ACTIVE.value: "customer.activated",
}

_fx = OutboxEffect.__table__
_customers = Customer.__table__
_services = Service.__table__
_changes = StatusChange.__table__


def _latest_change(customer_id, alias: str, counts):
    """The id of the customer's latest transition that `counts(history table)` selects."""
    later = _changes.alias(alias)  # its own alias: an outer query may join status_changes too
    return select(func.max(later.c.id)).where(later.c.customer_id == customer_id, counts(later)).scalar_subquery()


def latest_status_change(customer_id):
    """The id of the customer's latest transition that changed its status: the one billing must
    hear about. A change that keeps the status (a trust unlock or a hold that ends, a return date
    moved) notifies nobody, so it supersedes no notification."""
    return _latest_change(customer_id, "later", lambda later: later.c.from_status != later.c.to_status)


def _notification_facts(latest_change, *columns):
    """What a notification to billing says of its transition, and the customer's latest change of
    the kind it reports (`latest_change`): an older one is superseded, never sent."""
    return (
        select(
            _fx.c.id,
            _fx.c.transition_id,
            _customers.c.id.label("customer_id"),
            _customers.c.external_ref,
            *columns,
            _changes.c.reason,
            _changes.c.created_at,
            _changes.c.customer_version,
            latest_change(_fx.c.customer_id).label("latest_transition"),
        )
        .join(_customers, _customers.c.id == _fx.c.customer_id)
        .join(_changes, _changes.c.id == _fx.c.transition_id)
        .where(_fx.c.id == bindparam("effect_id"))
    )


def latest_ladder_change(customer_id):
    """The id of the customer's latest change of its ladder step or status: a step's notification
    is sent only while nothing newer has changed the step (an old step never overrides a newer one)."""
    steps = [CustomerEvent.ADVANCE_STAGE.value, CustomerEvent.CLEAR_STAGE.value]
    return _latest_change(
        customer_id,
        "later_step",
        lambda later: (later.c.from_status != later.c.to_status) | later.c.event.in_(steps),
    )


# Every payment's notification is described here: on the driver's cursor on PostgreSQL (db/driver.py).
_NOTIFY_FACTS = DriverStatement(_notification_facts(latest_status_change, _changes.c.to_status), "NotifyFacts")
_STAGE_FACTS = _notification_facts(latest_ladder_change, _changes.c.delinquency_stage)
_PROVISION_FACTS = (
    select(
        _fx.c.id,
        _fx.c.created_at,
        _services.c.id.label("service_id"),
        _services.c.external_ref,
        _services.c.status,
        _customers.c.id.label("customer_id"),
        _customers.c.external_ref.label("customer_ref"),
    )
    .join(_services, _services.c.id == _fx.c.service_id)
    .join(_customers, _customers.c.id == _fx.c.customer_id)
    .where(_fx.c.id == bindparam("effect_id"))
)


def describe_any(session: Session, effect_id: int, name: Effect, settings: Settings) -> Delivery | Outcome:
    delivery = describe_fast(session.connection(), effect_id, name, settings)
    if delivery is None:  # the warning, the rare kind, goes the ORM way
        delivery = _describe(session, session.get_one(OutboxEffect, effect_id), name, settings)
    return delivery


def describe_fast(conn: Connection, effect_id: int, name: Effect, settings: Settings) -> Delivery | Outcome | None:
    """The common outbound calls, described with Core queries (same rules as _describe)."""
    if name in SESSION_EFFECTS:
        return describe_sessions(conn, [effect_id], settings)[effect_id]
    if name is Effect.NOTIFY_BILLING:
        [row] = _NOTIFY_FACTS.rows(conn, {"effect_id": effect_id})
        if row.transition_id != row.latest_transition:
            return Outcome(EffectState.SKIPPED, f"superseded by transition {row.latest_transition}")
        if not settings.billing_webhook_url:
            return Outcome(EffectState.SKIPPED, "not sent: ATIVA_BILLING_WEBHOOK_URL is not set")
        return Delivery(
            "billing",
            f"effect_{effect_id}",
            {
                "type": CUSTOMER_EVENT_TYPES[row.to_status],
                "timestamp": row.created_at.isoformat(),
                "sequence": row.customer_version,
                "data": {
                    "customer_id": row.customer_id,
                    "external_ref": row.external_ref,
                    "status": row.to_status,
                    "reason": row.reason,
                    "transition_id": row.transition_id,
                },
            },
        )
    if name is Effect.NOTIFY_STAGE:
        return _describe_stage(conn, effect_id, settings)
    if name in (Effect.PROVISION_SUSPEND, Effect.PROVISION_RESTORE):
        row = conn.execute(_PROVISION_FACTS, {"effect_id": effect_id}).one()
        wanted = ServiceStatus.SUSPENDED if name is Effect.PROVISION_SUSPEND else ServiceStatus.ACTIVE
        if row.status != wanted:
            return Outcome(EffectState.SKIPPED, f"superseded: the service is {row.status} now")
        if not settings.provisioning_webhook_url:
            return Outcome(EffectState.SKIPPED, "not sent: ATIVA_PROVISIONING_WEBHOOK_URL is not set")
        return provisioning_delivery(
            name,
            effect_id,
            row.created_at,
            row.service_id,
            row.external_ref,
            row.customer_id,
            row.customer_ref,
            row.status,
        )
    return None


def _describe_stage(conn: Connection, effect_id: int, settings: Settings) -> Delivery | Outcome:
    """`customer.delinquency_stage`: the step of the collection ladder a change led to."""
    row = conn.execute(_STAGE_FACTS, {"effect_id": effect_id}).one()
    if row.transition_id != row.latest_transition:
        return Outcome(EffectState.SKIPPED, f"superseded by transition {row.latest_transition}")
    if not settings.billing_webhook_url:
        return Outcome(EffectState.SKIPPED, "not sent: ATIVA_BILLING_WEBHOOK_URL is not set")
    return Delivery(
        "billing",
        f"effect_{effect_id}",
        {
            "type": "customer.delinquency_stage",
            "timestamp": row.created_at.isoformat(),
            "sequence": row.customer_version,
            "data": {
                "customer_id": row.customer_id,
                "external_ref": row.external_ref,
                "stage": row.delinquency_stage,
                "reason": row.reason,
                "transition_id": row.transition_id,
            },
        },
    )


def provisioning_delivery(
    name: Effect,
    effect_id: int,
    created_at: datetime,
    service_id: int,
    service_ref: str | None,
    customer_id: int,
    customer_ref: str | None,
    status: str,
) -> Delivery:
    return Delivery(
        "provisioning",
        f"effect_{effect_id}",
        {
            "type": "service.suspended" if name is Effect.PROVISION_SUSPEND else "service.restored",
            "sequence": effect_id,
            "timestamp": created_at.isoformat(),
            "data": {
                "service_id": service_id,
                "external_ref": service_ref,
                "customer_id": customer_id,
                "customer_external_ref": customer_ref,
                "status": str(status),
            },
        },
    )


def _describe(session: Session, effect: OutboxEffect, name: Effect, settings: Settings) -> Delivery | Outcome:
    """Outbound calls describe_fast does not cover: the delinquency warning."""
    if name is not Effect.WARN_BILLING:
        raise ValueError(f"effect {effect.id}: {name} is not an outbound call")
    return _describe_warning(session, effect, session.get_one(Customer, effect.customer_id), settings)


def _describe_warning(
    session: Session, effect: OutboxEffect, customer: Customer, settings: Settings
) -> Delivery | Outcome:
    from ..business_day import provider_today
    from ..delinquency import overdue_facts, policy_from

    today = provider_today(settings.timezone)
    oldest, total, count = overdue_facts(session, customer.id, today)
    if customer.status != CustomerStatus.ACTIVE or oldest is None:
        return Outcome(EffectState.SKIPPED, "not sent: the customer paid or is no longer active")
    if not settings.billing_webhook_url:
        return Outcome(EffectState.SKIPPED, "not sent: ATIVA_BILLING_WEBHOOK_URL is not set")
    cut = policy_from(settings).projected_cut(oldest, today, held_until=customer.forced_hold_until)
    return Delivery(
        "billing",
        f"effect_{effect.id}",
        {
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
        },
    )
