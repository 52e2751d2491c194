"""Time-driven transitions: trust unlocks that end, suspensions that end on their return date,
and warnings before a cut. Each customer is handled in its own transaction under its row lock,
re-checking the condition there, so running a job twice (or two at once) changes nothing twice."""

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.engine import Database
from ..db.models import Customer
from ..db.types import utcnow
from ..domain import brazilian, limits
from ..domain.customer_machine import TransitionRequest
from ..domain.delinquency import Policy, is_held
from ..domain.errors import AtivaError, InvalidInput, TransitionNotAllowed
from ..domain.vocabulary import (
    ActivationReason,
    CustomerEvent,
    CustomerStatus,
    Effect,
    InactivationReason,
    Source,
)
from .delinquency import SCHEDULER, overdue_facts
from .effect_bus import publish_after_commit
from .transitions import QUEUE_EFFECTS, count_overdue_invoices, lock_customer, new_effect, transition_customer


@dataclass
class TimerRun:
    changed: list[int] = field(default_factory=list)
    kept: dict[int, str] = field(default_factory=dict)


def expire_trust_unlocks(db: Database, today: date) -> TimerRun:
    """A trust unlock past its deadline: cut again if an invoice is still past due, else it simply
    ends (the customer paid and stays active). A customer a forced activation holds is not cut:
    the person's decision outranks the deadline, and the normal rule applies after the hold."""
    now = utcnow()
    with db.read() as session:
        due = list(session.scalars(
            select(Customer.id).where(Customer.trust_unlock_until <= now).order_by(Customer.id)))
    run = TimerRun()
    for customer_id in due:
        try:
            with db.write() as session:
                customer = lock_customer(session, customer_id)
                if customer.trust_unlock_until is None or customer.trust_unlock_until > now:
                    continue
                if customer.status != CustomerStatus.ACTIVE:
                    customer.trust_unlock_until = None
                    continue
                if is_held(customer.forced_hold_until, today):
                    customer.trust_unlock_until = None
                    run.kept[customer_id] = (f"held by a forced activation through "
                                             f"{customer.forced_hold_until.isoformat()}: not cut")
                elif count_overdue_invoices(session, customer_id, today):
                    transition_customer(
                        session,
                        customer_id,
                        CustomerEvent.INACTIVATE,
                        TransitionRequest(
                            InactivationReason.DELINQUENCY.value,
                            "Fim do Desbloqueio de confiança com fatura ainda vencida.",
                            False,
                            SCHEDULER.role,
                            automatic=True,
                        ),
                        SCHEDULER,
                        Source.SCHEDULER,
                        today=today,
                    )
                    run.changed.append(customer_id)
                else:
                    customer.trust_unlock_until = None
                    customer.trust_unlocks_used = 0
                    run.kept[customer_id] = "paid during the trust unlock: stays active"
        except AtivaError as refused:
            run.kept[customer_id] = refused.detail
    return run


def return_suspended(db: Database, today: date) -> TimerRun:
    """Customers suspended at their own request come back on their return date."""
    with db.read() as session:
        due = list(session.scalars(
            select(Customer.id).where(Customer.return_on <= today,
                                      Customer.status == CustomerStatus.INACTIVE).order_by(Customer.id)))
    run = TimerRun()
    for customer_id in due:
        try:
            with db.write() as session:
                customer = lock_customer(session, customer_id)
                if (
                    customer.return_on is None
                    or customer.return_on > today
                    or customer.status != CustomerStatus.INACTIVE
                ):
                    continue
                transition_customer(
                    session,
                    customer_id,
                    CustomerEvent.ACTIVATE,
                    TransitionRequest(
                        ActivationReason.CUSTOMER_RETURN.value,
                        f"Retorno programado para {brazilian.day(customer.return_on)}.",
                        False,
                        SCHEDULER.role,
                    ),
                    SCHEDULER,
                    Source.SCHEDULER,
                    today=today,
                )
                run.changed.append(customer_id)
        except AtivaError as refused:
            run.kept[customer_id] = refused.detail
    return run


def set_return_date(session: Session, customer_id: int, until: date | None, today: date) -> Customer:
    """Change or clear the return date of a suspension at the customer's request."""
    customer = lock_customer(session, customer_id)
    if (
        customer.status != CustomerStatus.INACTIVE
        or customer.inactivation_reason != InactivationReason.CUSTOMER_REQUEST
    ):
        raise TransitionNotAllowed("only a customer suspended at their own request has a return date")
    if until is not None and until <= today:
        raise InvalidInput("the return date must be after today")
    limits.check_return_date("until", until, today)
    customer.return_on = until
    customer.updated_at = utcnow()
    customer.version += 1
    session.flush()
    return customer


def queue_warnings(db: Database, policy: Policy, today: date, warning_days: int) -> list[int]:
    """`customer.delinquency_warning` goes out once per episode (per oldest overdue invoice),
    `warning_days` before the projected cut; for a customer a forced activation holds, before the
    cut after the hold (the hold starts a new episode). Returns the customers warned now."""
    from .delinquency import candidates_for_warning

    with db.read() as session:
        candidate_ids = candidates_for_warning(session, today)
    warned = []
    for customer_id in candidate_ids:
        with db.write() as session:
            customer = lock_customer(session, customer_id)
            if customer.status != CustomerStatus.ACTIVE or customer.auto_block_exempt:
                continue
            oldest, total, _count = overdue_facts(session, customer_id, today)
            if oldest is None or total < policy.min_overdue_amount or customer.warned_for_due == oldest:
                continue
            cut = policy.projected_cut(oldest, today, held_until=customer.forced_hold_until)
            if (cut - today).days > warning_days:
                continue
            customer.warned_for_due = oldest
            ids = list(session.connection().execute(
                QUEUE_EFFECTS, [new_effect(Effect.WARN_BILLING, customer_id, utcnow(), origin="scheduler")]
            ).scalars())
            publish_after_commit(session, ids)
            warned.append(customer_id)
    return warned
