"""Time-driven transitions: trust unlocks that end, suspensions that end on their return date,
and warnings before a cut. Each customer is handled in its own transaction under its row lock,
re-checking the condition there, so running a job twice (or two at once) changes nothing twice."""

import logging
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db.engine import Database
from ..db.models import Customer
from ..db.types import utcnow
from ..domain import brazilian
from ..domain.customer_machine import KEPT_STATUS_REASONS, TransitionRequest
from ..domain.delinquency import Policy, is_held
from ..domain.errors import AtivaError
from ..domain.freeze import Freeze
from ..domain.vocabulary import (
    ActivationReason,
    CustomerEvent,
    CustomerStatus,
    Effect,
    InactivationReason,
    Source,
)
from ..settings import get_settings
from .customer_locks import lock_customer, lock_customer_row
from .delinquency import SCHEDULER, cut_facts, overdue_facts
from .effect_bus import publish_after_commit
from .freeze import read_state, trip_on_payment_silence
from .transitions import QUEUE_EFFECTS, Actor, count_overdue_invoices, new_effect, transition_locked
from .written_rows import CustomerRow

log = logging.getLogger(__name__)


@dataclass
class TimerRun:
    changed: list[int] = field(default_factory=list)
    kept: dict[int, str] = field(default_factory=dict)
    frozen: Freeze | None = None  # trust unlocks that ended were left running: cuts are frozen


def expire_trust_unlocks(db: Database, today: date) -> TimerRun:
    """A trust unlock past its deadline: cut again if an invoice is still past due, else it simply
    ends (the customer paid and stays active). A customer a forced activation holds is not cut:
    the person's decision outranks the deadline, and the normal rule applies after the hold. Either
    way the machine decides and the change is recorded (history row, version)."""
    now = utcnow()
    with db.read() as session:
        due = list(session.scalars(select(Customer.id).where(Customer.trust_unlock_until <= now).order_by(Customer.id)))
    run = TimerRun()
    if not due:
        return run
    trip_on_payment_silence(db, get_settings())
    with db.read() as session:
        state = read_state(session)
    if state.holds and state.freeze is not None:
        # Their trust unlocks stay on (the machine would refuse each cut anyway): they end, and cut
        # whoever still owes, at the first tick after the freeze is lifted.
        run.frozen = state.freeze
        log.info("%d trust unlock(s) ended but not closed: %s", len(due), state.freeze.describe())
        return run
    for customer_id in due:
        try:
            with db.write() as session:
                conn = session.connection()
                row = lock_customer_row(conn, customer_id)
                if row.trust_unlock_until is None or row.trust_unlock_until > now:
                    continue  # ended (or cut) meanwhile
                overdue = count_overdue_invoices(conn, customer_id, today)
                if row.status != CustomerStatus.ACTIVE:
                    note = "Fim do Desbloqueio de confiança de um cliente que já está inativo."
                elif is_held(row.forced_hold_until, today):
                    note = (
                        f"Fim do Desbloqueio de confiança; sem corte: uma ativação forçada impede cortes "
                        f"automáticos até {brazilian.day(row.forced_hold_until)}."
                    )
                    run.kept[customer_id] = (
                        f"held by a forced activation through {row.forced_hold_until.isoformat()}: not cut"
                    )
                elif overdue:
                    transition_locked(
                        session,
                        row,
                        CustomerEvent.INACTIVATE,
                        TransitionRequest(
                            InactivationReason.DELINQUENCY.value,
                            "Fim do Desbloqueio de confiança com fatura ainda vencida.",
                            actor_role=SCHEDULER.role,
                            automatic=True,
                        ),
                        SCHEDULER,
                        Source.SCHEDULER,
                        overdue=overdue,
                        today=today,
                    )
                    run.changed.append(customer_id)
                    continue
                else:
                    note = (
                        "Fim do Desbloqueio de confiança; nenhuma fatura vencida em aberto: o cliente continua ativo."
                    )
                    run.kept[customer_id] = "paid during the trust unlock: stays active"
                transition_locked(
                    session,
                    row,
                    CustomerEvent.END_TRUST_UNLOCK,
                    TransitionRequest(
                        KEPT_STATUS_REASONS[CustomerEvent.END_TRUST_UNLOCK], note, actor_role=SCHEDULER.role
                    ),
                    SCHEDULER,
                    Source.SCHEDULER,
                    overdue=overdue,
                    today=today,
                )
        except AtivaError as refused:
            run.kept[customer_id] = refused.detail
    return run


def return_suspended(db: Database, today: date) -> TimerRun:
    """Customers suspended at their own request come back on their return date."""
    with db.read() as session:
        due = list(
            session.scalars(
                select(Customer.id)
                .where(Customer.return_on <= today, Customer.status == CustomerStatus.INACTIVE)
                .order_by(Customer.id)
            )
        )
    run = TimerRun()
    for customer_id in due:
        try:
            with db.write() as session:
                conn = session.connection()
                row = lock_customer_row(conn, customer_id)
                if row.return_on is None or row.return_on > today or row.status != CustomerStatus.INACTIVE:
                    continue
                transition_locked(
                    session,
                    row,
                    CustomerEvent.ACTIVATE,
                    TransitionRequest(
                        ActivationReason.CUSTOMER_RETURN.value,
                        f"Retorno programado para {brazilian.day(row.return_on)}.",
                        actor_role=SCHEDULER.role,
                    ),
                    SCHEDULER,
                    Source.SCHEDULER,
                    overdue=count_overdue_invoices(conn, customer_id, today),
                    today=today,
                )
                run.changed.append(customer_id)
        except AtivaError as refused:
            run.kept[customer_id] = refused.detail
    return run


def set_return_date(
    session: Session, customer_id: int, until: date | None, today: date, actor: Actor, source: Source
) -> CustomerRow:
    """Change or clear the return date of a suspension at the customer's request: a change of the
    lifecycle like any other, which the machine decides (its guards: a suspension at the customer's
    request, a date after today and within a year) and the history records."""
    row = lock_customer_row(session.connection(), customer_id)
    before = f"de {brazilian.day(row.return_on)} " if row.return_on else ""
    note = (
        f"Data de retorno alterada {before}para {brazilian.day(until)}."
        if until
        else f"Data de retorno {before}removida."
    )
    request = TransitionRequest(
        KEPT_STATUS_REASONS[CustomerEvent.RESCHEDULE_RETURN], note, actor_role=actor.role, until=until
    )
    return transition_locked(
        session,
        row,
        CustomerEvent.RESCHEDULE_RETURN,
        request,
        actor,
        source,
        overdue=count_overdue_invoices(session.connection(), customer_id, today),
        today=today,
    ).customer


def queue_warnings(db: Database, policy: Policy, today: date, warning_days: int) -> list[int]:
    """`customer.delinquency_warning` goes out once per episode (per oldest overdue invoice),
    `warning_days` before the projected cut; for a customer a forced activation holds, before the
    cut after the hold (the hold starts a new episode): the domain's Policy.warning_due, asked under
    each customer's lock. Returns the customers warned now."""
    from .delinquency import candidates_for_warning

    with db.read() as session:
        candidate_ids = candidates_for_warning(session, today)
    warned = []
    for customer_id in candidate_ids:
        with db.write() as session:
            customer = lock_customer(session, customer_id)
            overdue = overdue_facts(session, customer_id, today)
            if policy.warning_due(cut_facts(customer), overdue, today, warning_days) is None:
                continue
            customer.warned_for_due = overdue.oldest_due
            ids = list(
                session.connection()
                .execute(QUEUE_EFFECTS, [new_effect(Effect.WARN_BILLING, customer_id, utcnow(), origin="scheduler")])
                .scalars()
            )
            publish_after_commit(session, ids)
            warned.append(customer_id)
    return warned
