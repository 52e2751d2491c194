"""Inbound billing events: keep the invoice mirror current and reactivate customers who paid.

One event = one transaction: the deduplication row, the invoice change and any transition it
causes commit together, so a retried or duplicated event can never apply twice, and a crash can
never leave a payment recorded without the reactivation it earned.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TypeVar

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..db.driver import DriverStatement
from ..db.engine import Database, is_unique_violation
from ..db.models import BillingEvent, Invoice
from ..db.types import utcnow
from ..domain import limits
from ..domain.customer_machine import KEPT_STATUS_REASONS, TransitionRequest
from ..domain.errors import InvalidInput
from ..domain.ledger import REACTIVATING_EVENTS, LedgerInvoice, apply_invoice_event, unknown_invoice
from ..domain.vocabulary import (
    ActivationReason,
    CustomerEvent,
    CustomerStatus,
    DelinquencyStage,
    InactivationReason,
    Role,
    Source,
)
from .business_day import provider_today
from .customer_locks import lock_customer_row_or_none_then
from .ladder import clear_stage_if_paid_up
from .transitions import Actor, count_overdue_invoices, transition_locked

BILLING_ACTOR = Actor(name="billing", role=Role.BILLING)


@dataclass(frozen=True)
class InvoiceEvent:
    webhook_id: str
    type: str
    invoice_id: str
    customer_id: int | None
    customer_ref: str | None
    amount: Decimal | None
    due_date: date | None
    paid_at: datetime | None


@dataclass
class EventOutcome:
    duplicate: bool
    customer_id: int | None = None
    invoice_status: str | None = None
    reactivated: bool = False
    transition_id: int | None = None
    hold_ended: bool = False
    stage_cleared: bool = False


# Every billing event takes this path, so it speaks Core with prebuilt statements, as transitions
# do: the ORM's loads and flushes cost more than the database work here (bench/payments.py).
_events = BillingEvent.__table__
_invoices = Invoice.__table__
_SEEN = select(_events.c.id).where(_events.c.webhook_id == bindparam("webhook_id"))
# On the driver's cursor on PostgreSQL (db/driver.py): read after the customer's lock, in the lock's
# round trip (customer_locks.lock_customer_row_or_none_then).
_SEEN_AFTER_LOCK = DriverStatement(_SEEN, "SeenEvent")
# The columns of event_record, on the driver's cursor.
_RECORD_EVENT = DriverStatement(
    insert(_events).values(
        {
            name: bindparam(name)
            for name in (
                "webhook_id",
                "type",
                "customer_id",
                "invoice_external_id",
                "outcome",
                "received_at",
                "transition_id",
            )
        }
    )
)
# What an event may change of an invoice, read under the invoice's lock (one event or a batch's).
LEDGER_COLUMNS = (
    _invoices.c.customer_id,
    _invoices.c.amount,
    _invoices.c.amount_paid,
    _invoices.c.due_date,
    _invoices.c.status,
    _invoices.c.paid_at,
)
_LOCK_INVOICE = select(*LEDGER_COLUMNS).where(_invoices.c.external_id == bindparam("invoice_id")).with_for_update()
_LOCK_INVOICE_ROW = DriverStatement(_LOCK_INVOICE, "LedgerInvoiceRow")
_NEW_INVOICE = insert(_invoices)
# The columns saved_invoice_row gives, one event's invoice at a time (a batch's: db/bulk.update_rows).
_SAVE_INVOICE = (
    update(_invoices)
    .where(_invoices.c.external_id == bindparam("invoice_id"))
    .values(
        {
            **{column.name: bindparam(column.name) for column in LEDGER_COLUMNS if column.name != "customer_id"},
            "updated_at": bindparam("updated_at"),
        }
    )
)


def apply_event(db: Database, event: InvoiceEvent, today: date | None = None) -> EventOutcome:
    # The event's arrival, before waiting for locks or applying it: the payment's latency to
    # restored services counts from here.
    received_at = utcnow()
    today = today or provider_today()
    check_event(event, today)

    def unit() -> EventOutcome:
        with db.write() as session:
            customer = _lock_customer_of(session.connection(), event, unless_seen=True)
            if customer is None:
                return EventOutcome(duplicate=True)
            return apply_unseen_event(session, event, today, received_at, customer)

    return again_on_conflict(unit)


# Each run after a conflict finds more of what other deliveries committed: a few suffice.
_CONFLICT_RUNS = 4
_T = TypeVar("_T")


def again_on_conflict(unit: Callable[[], _T]) -> _T:
    """`unit` (one transaction) run again when it fails on a unique key another delivery committed
    meanwhile: an event's id (the next run finds it a duplicate) or an invoice it creates (the next
    run books the event to it, or refuses it as another customer's). Never a 500 for a race."""
    for _ in range(_CONFLICT_RUNS - 1):
        try:
            return unit()
        except IntegrityError as error:
            if not is_unique_violation(error):
                raise  # a foreign key, NOT NULL or check: no other run would do better
    return unit()


def check_event(event: InvoiceEvent, today: date) -> None:
    """What the columns and the date window refuse, before any lock (InvalidInput)."""
    for name, text in (
        ("webhook-id", event.webhook_id),
        ("data.invoice_id", event.invoice_id),
        ("data.customer_ref", event.customer_ref),
    ):
        limits.check_text(name, text)
    limits.check_date("data.due_date", event.due_date, today)
    limits.check_date("data.paid_at", event.paid_at, today)


def apply_unseen_event(
    session: Session, event: InvoiceEvent, today: date, received_at: datetime, customer=None
) -> EventOutcome:
    """One event not received before, in the caller's unit: the customer locked (unless the caller
    passes its row, locked already), the invoice booked, the transitions the payment earns, the
    event recorded. Raises InvalidInput (an unknown customer, an invoice of another customer), and
    then the unit must roll back."""
    conn = session.connection()
    customer = customer if customer is not None else _lock_customer_of(conn, event)
    invoice = _apply_to_ledger(conn, customer, event)
    outcome = EventOutcome(duplicate=False, customer_id=customer.id, invoice_status=invoice.status)
    _reactivate_if_paid_up(session, customer, event, outcome, today)
    if has_payment_followups(customer):
        # A hold that ended wrote a new version: the ladder's change follows from that row.
        customer = _end_hold_if_paid_up(session, customer, event, outcome, today) or customer
        _clear_stage_if_paid_up(session, customer, event, outcome, today)
    _RECORD_EVENT.rows(conn, event_record(event, outcome, received_at))
    return outcome


def event_record(event: InvoiceEvent, outcome: EventOutcome, received_at: datetime) -> dict:
    """The billing_events row of an event applied (one event or a batch's)."""
    return {
        "webhook_id": event.webhook_id,
        "type": event.type,
        "customer_id": outcome.customer_id,
        "invoice_external_id": event.invoice_id,
        "outcome": _describe(outcome),
        "received_at": received_at,
        "transition_id": outcome.transition_id,
    }


def _lock_customer_of(conn: Connection, event: InvoiceEvent, *, unless_seen: bool = False):
    """The customer row is locked first, as transitions and the sweep do: one order, no deadlock.
    With `unless_seen`, None if the event's webhook-id was applied already: read right after the
    lock, in its round trip, so a delivery that waited for the lock behind the same event finds it
    committed (instead of failing on the unique key and running again)."""
    if event.customer_id is None and not event.customer_ref:
        raise InvalidInput("data needs customer_id or customer_ref")
    seen_after = [(_SEEN_AFTER_LOCK, {"webhook_id": event.webhook_id})] if unless_seen else []
    row, *seen = lock_customer_row_or_none_then(conn, event.customer_id, event.customer_ref, *seen_after)
    if seen and seen[0]:
        return None
    problem = customer_problem(event, row)
    if problem:
        raise InvalidInput(problem)
    return row


def customer_problem(event: InvoiceEvent, row) -> str | None:
    """Why the customer row found for the event (None: none found) cannot take it, if it cannot."""
    if row is None:
        return f"unknown customer {event.customer_id or event.customer_ref!r}"
    if event.customer_id is not None and event.customer_ref and row.external_ref != event.customer_ref:
        # Two ids that disagree: booking the invoice to either one would be a guess.
        return (
            f"customer_id {event.customer_id} and customer_ref {event.customer_ref!r} name different "
            f"customers (customer {event.customer_id} has external_ref {row.external_ref!r})"
        )
    return None


def invoice_problem(event: InvoiceEvent, owner_id: int, customer_id: int) -> str | None:
    """An invoice is booked to the customer it was first heard of for, never moved."""
    return None if owner_id == customer_id else f"invoice {event.invoice_id!r} belongs to another customer"


def _apply_to_ledger(conn: Connection, customer, event: InvoiceEvent) -> LedgerInvoice:
    """The invoice after the event (locked, changed by the domain's rule, written in one statement)."""
    row = next(iter(_LOCK_INVOICE_ROW.rows(conn, {"invoice_id": event.invoice_id})), None)
    now = utcnow()
    if row is None:
        invoice = unknown_invoice(customer.id)
    elif problem := invoice_problem(event, row.customer_id, customer.id):
        raise InvalidInput(problem)
    else:
        invoice = LedgerInvoice(**row._asdict())
    apply_invoice_event(invoice, event.type, event.amount, event.due_date, event.paid_at, now)
    if row is None:
        conn.execute(_NEW_INVOICE, new_invoice_values(event.invoice_id, invoice, now))
    else:
        conn.execute(
            _SAVE_INVOICE, {**saved_invoice_row(event.invoice_id, invoice, now), "invoice_id": event.invoice_id}
        )
    return invoice


def new_invoice_values(invoice_id: str, invoice: LedgerInvoice, now: datetime) -> dict:
    """The row of an invoice first heard of in an event (one event or a batch's)."""
    return {
        **_ledger_values(invoice),
        "external_id": invoice_id,
        "customer_id": invoice.customer_id,
        "created_at": now,
        "updated_at": now,
    }


def saved_invoice_row(invoice_id: str, invoice: LedgerInvoice, now: datetime) -> dict:
    """An invoice's row after an event, by column, its key first (one event or a batch's)."""
    return {"external_id": invoice_id, **_ledger_values(invoice), "updated_at": now}


def _ledger_values(invoice: LedgerInvoice) -> dict:
    return {
        "amount": invoice.amount,
        "amount_paid": invoice.amount_paid,
        "due_date": invoice.due_date,
        "status": invoice.status,
        "paid_at": invoice.paid_at,
    }


def _reactivate_if_paid_up(session: Session, customer, event: InvoiceEvent, outcome: EventOutcome, today: date) -> None:
    if not may_reactivate(customer, event.type):
        return
    # Counted after the invoice was written, in this unit and under the customer's lock: the
    # transition below takes these facts as they are instead of locking and counting again.
    overdue = count_overdue_invoices(session.connection(), customer.id, today)
    if overdue:
        return
    result = transition_locked(
        session,
        customer,
        CustomerEvent.ACTIVATE,
        payment_reactivation(event.webhook_id),
        BILLING_ACTOR,
        Source.BILLING,
        overdue=overdue,
        today=today,
    )
    outcome.reactivated = True
    outcome.transition_id = result.transition.id


def payment_reactivation(webhook_id: str) -> TransitionRequest:
    """The request of a reactivation a payment earned (one event or a batch's)."""
    return TransitionRequest(
        ActivationReason.PAYMENT_RECEIVED.value,
        f"Nenhuma fatura vencida em aberto após o evento {webhook_id} da cobrança.",
        actor_role=BILLING_ACTOR.role,
    )


def has_payment_followups(customer) -> bool:
    """An active customer a payment may still change (a forced activation's hold to end, a step of
    the collection ladder to clear): the single event's code below decides those, and a batch
    hands such customers to it (usecases/billing_batch.py)."""
    return customer.status == CustomerStatus.ACTIVE and (
        customer.forced_hold_until is not None or customer.delinquency_stage != DelinquencyStage.NONE
    )


def may_reactivate(customer, event_type: str) -> bool:
    """Only a customer inactive *for delinquency* comes back with a payment (or a cancelled
    debt); never one who asked to leave, whose contract ended, or was inactivated otherwise."""
    return (
        event_type in REACTIVATING_EVENTS
        and customer.status == CustomerStatus.INACTIVE
        and customer.inactivation_reason == InactivationReason.DELINQUENCY
    )


def _end_hold_if_paid_up(session: Session, customer, event: InvoiceEvent, outcome: EventOutcome, today: date):
    """A forced activation's hold was a decision about the debts of that moment: once a payment
    or cancellation leaves nothing past due, it ends (the machine's end_forced_hold, recorded in
    the history), and a later debt follows the normal rule."""
    if event.type not in REACTIVATING_EVENTS or outcome.reactivated:
        return None
    if customer.status != CustomerStatus.ACTIVE or customer.forced_hold_until is None:
        return None
    overdue = count_overdue_invoices(session.connection(), customer.id, today)
    if overdue:
        return None
    ended = transition_locked(
        session,
        customer,
        CustomerEvent.END_FORCED_HOLD,
        TransitionRequest(
            KEPT_STATUS_REASONS[CustomerEvent.END_FORCED_HOLD],
            f"Fim do prazo sem corte automático da ativação forçada: nenhuma fatura vencida em "
            f"aberto após o evento {event.webhook_id} da cobrança.",
            actor_role=BILLING_ACTOR.role,
        ),
        BILLING_ACTOR,
        Source.BILLING,
        overdue=overdue,
        today=today,
    )
    outcome.hold_ended = True
    return ended.customer


def _clear_stage_if_paid_up(
    session: Session, customer, event: InvoiceEvent, outcome: EventOutcome, today: date
) -> None:
    """A payment that leaves nothing past due returns a customer at a step of the collection
    ladder (notice, reduced speed) to its plan at once."""
    if event.type not in REACTIVATING_EVENTS or outcome.reactivated:
        return
    cleared = clear_stage_if_paid_up(
        session,
        customer,
        BILLING_ACTOR,
        Source.BILLING,
        today,
        f"Nenhuma fatura vencida em aberto após o evento {event.webhook_id} da cobrança: de volta ao plano.",
    )
    if cleared is not None:
        outcome.stage_cleared = True
        outcome.transition_id = cleared.transition.id


def _describe(outcome: EventOutcome) -> str:
    text = f"invoice {outcome.invoice_status}"
    if outcome.hold_ended:
        text += "; forced-activation hold ended (nothing past due)"
    if outcome.stage_cleared:
        text += f"; collection ladder step ended (transition {outcome.transition_id})"
    return text + (f"; customer reactivated (transition {outcome.transition_id})" if outcome.reactivated else "")
