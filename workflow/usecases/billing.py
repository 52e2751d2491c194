"""Inbound billing events: keep the invoice mirror current and reactivate customers who paid.

One event = one transaction: the deduplication row, the invoice change and any transition it
causes commit together, so a retried or duplicated event can never apply twice, and a crash can
never leave a payment recorded without the reactivation it earned.
"""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..db.engine import Database
from ..db.models import BillingEvent, Invoice
from ..db.types import utcnow
from ..domain import limits
from ..domain.customer_machine import KEPT_STATUS_REASONS, TransitionRequest
from ..domain.errors import InvalidInput
from ..domain.vocabulary import (
    ActivationReason,
    CustomerEvent,
    CustomerStatus,
    InactivationReason,
    InvoiceStatus,
    Role,
    Source,
)
from .business_day import provider_today
from .customer_locks import LOCK_CUSTOMER, lock_customer_by_ref
from .ladder import clear_stage_if_paid_up
from .transitions import Actor, count_overdue_invoices, transition_locked

EVENT_TYPES = ("invoice.created", "invoice.paid", "invoice.cancelled")
# The events that may leave nothing past due: they reactivate, end a hold, clear a ladder step.
REACTIVATING_EVENTS = ("invoice.paid", "invoice.cancelled")
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
_RECORD_EVENT = insert(_events)
_LOCK_INVOICE = (
    select(
        _invoices.c.customer_id,
        _invoices.c.amount,
        _invoices.c.amount_paid,
        _invoices.c.due_date,
        _invoices.c.status,
        _invoices.c.paid_at,
    )
    .where(_invoices.c.external_id == bindparam("invoice_id"))
    .with_for_update()
)
_NEW_INVOICE = insert(_invoices)
_SAVE_INVOICE = (
    update(_invoices)
    .where(_invoices.c.external_id == bindparam("invoice_id"))
    .values(
        amount=bindparam("amount"),
        amount_paid=bindparam("amount_paid"),
        due_date=bindparam("due_date"),
        status=bindparam("status"),
        paid_at=bindparam("paid_at"),
        updated_at=bindparam("now"),
    )
)


def apply_event(db: Database, event: InvoiceEvent, today: date | None = None) -> EventOutcome:
    # The event's arrival, before waiting for locks or applying it: the payment's latency to
    # restored services counts from here.
    received_at = utcnow()
    today = today or provider_today()
    for name, text in (
        ("webhook-id", event.webhook_id),
        ("data.invoice_id", event.invoice_id),
        ("data.customer_ref", event.customer_ref),
    ):
        limits.check_text(name, text)
    limits.check_date("data.due_date", event.due_date, today)
    limits.check_date("data.paid_at", event.paid_at, today)
    try:
        with db.write() as session:
            conn = session.connection()
            if conn.execute(_SEEN, {"webhook_id": event.webhook_id}).first():
                return EventOutcome(duplicate=True)
            customer = _lock_customer_of(conn, event)
            invoice = _apply_to_ledger(conn, customer, event)
            outcome = EventOutcome(duplicate=False, customer_id=customer.id, invoice_status=invoice.status)
            _reactivate_if_paid_up(session, customer, event, outcome, today)
            # A hold that ended wrote a new version: the ladder's change follows from that row.
            customer = _end_hold_if_paid_up(session, customer, event, outcome, today) or customer
            _clear_stage_if_paid_up(session, customer, event, outcome, today)
            conn.execute(
                _RECORD_EVENT,
                {
                    "webhook_id": event.webhook_id,
                    "type": event.type,
                    "customer_id": customer.id,
                    "invoice_external_id": event.invoice_id,
                    "outcome": _describe(outcome),
                    "received_at": received_at,
                    "transition_id": outcome.transition_id,
                },
            )
            return outcome
    except IntegrityError:
        # The same webhook-id committed concurrently: this delivery is the duplicate.
        with db.read() as session:
            if session.connection().execute(_SEEN, {"webhook_id": event.webhook_id}).first():
                return EventOutcome(duplicate=True)
        raise


def _lock_customer_of(conn: Connection, event: InvoiceEvent):
    """The customer row is locked first, as transitions and the sweep do: one order, no deadlock."""
    if event.customer_id is not None:
        row = conn.execute(LOCK_CUSTOMER, {"customer_id": event.customer_id}).one_or_none()
    elif event.customer_ref:
        row = lock_customer_by_ref(conn, event.customer_ref)
    else:
        raise InvalidInput("data needs customer_id or customer_ref")
    if row is None:
        raise InvalidInput(f"unknown customer {event.customer_id or event.customer_ref!r}")
    if event.customer_id is not None and event.customer_ref and row.external_ref != event.customer_ref:
        # Two ids that disagree: booking the invoice to either one would be a guess.
        raise InvalidInput(
            f"customer_id {event.customer_id} and customer_ref {event.customer_ref!r} name different "
            f"customers (customer {event.customer_id} has external_ref {row.external_ref!r})"
        )
    return row


@dataclass(slots=True)
class LedgerInvoice:
    """An invoice as the event leaves it: read under its lock (_LOCK_INVOICE), changed here, then
    written back in one statement."""

    customer_id: int
    amount: Decimal | None
    amount_paid: Decimal
    due_date: date | None
    status: str
    paid_at: datetime | None


def _apply_to_ledger(conn: Connection, customer, event: InvoiceEvent) -> LedgerInvoice:
    """The invoice after the event (locked, then written in one statement)."""
    row = conn.execute(_LOCK_INVOICE, {"invoice_id": event.invoice_id}).one_or_none()
    now = utcnow()
    if row is None:
        invoice = LedgerInvoice(
            customer_id=customer.id,
            amount=None,
            amount_paid=Decimal(0),
            due_date=None,
            status=InvoiceStatus.OPEN.value,
            paid_at=None,
        )
    elif row.customer_id != customer.id:
        raise InvalidInput(f"invoice {event.invoice_id!r} belongs to another customer")
    else:
        invoice = LedgerInvoice(**row._asdict())

    if event.type == "invoice.created":
        # Events come out of order: a creation after the payment only fills in what was unknown.
        invoice.amount = event.amount if event.amount is not None else invoice.amount
        invoice.due_date = event.due_date or invoice.due_date
    elif event.type == "invoice.paid":
        paid = event.amount if event.amount is not None else (invoice.amount or Decimal(0)) - invoice.amount_paid
        invoice.amount_paid += max(paid, Decimal(0))
        invoice.paid_at = event.paid_at or now
    if invoice.status != InvoiceStatus.CANCELLED:
        if event.type == "invoice.cancelled":
            invoice.status = InvoiceStatus.CANCELLED.value
        else:
            invoice.status = _settled_status(invoice, event)

    values = {
        "amount": invoice.amount,
        "amount_paid": invoice.amount_paid,
        "due_date": invoice.due_date,
        "status": invoice.status,
        "paid_at": invoice.paid_at,
    }
    if row is None:
        conn.execute(
            _NEW_INVOICE,
            {
                **values,
                "external_id": event.invoice_id,
                "customer_id": customer.id,
                "created_at": now,
                "updated_at": now,
            },
        )
    else:
        conn.execute(_SAVE_INVOICE, {**values, "invoice_id": event.invoice_id, "now": now})
    return invoice


def _settled_status(invoice: "LedgerInvoice", event: InvoiceEvent) -> str:
    if event.type == "invoice.created" and invoice.status == InvoiceStatus.PAID and invoice.amount_paid == 0:
        return InvoiceStatus.PAID.value  # paid in full (amount not told) before it was created
    paid_something = invoice.amount_paid > 0 or event.type == "invoice.paid"
    if not paid_something:
        return InvoiceStatus.OPEN.value
    if invoice.amount is None:
        return InvoiceStatus.PAID.value  # paid before we knew the amount: creation may reopen it
    # A partial payment leaves the invoice open (and past due, if it was).
    return InvoiceStatus.PAID.value if invoice.amount_paid >= invoice.amount else InvoiceStatus.OPEN.value


def _reactivate_if_paid_up(session: Session, customer, event: InvoiceEvent, outcome: EventOutcome, today: date) -> None:
    """Only a customer inactive *for delinquency* comes back with a payment; never one who asked
    to leave, whose contract ended, or was inactivated for another reason."""
    if event.type not in REACTIVATING_EVENTS:
        return
    if customer.status != CustomerStatus.INACTIVE or customer.inactivation_reason != InactivationReason.DELINQUENCY:
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
        TransitionRequest(
            ActivationReason.PAYMENT_RECEIVED.value,
            f"Nenhuma fatura vencida em aberto após o evento {event.webhook_id} da cobrança.",
            actor_role=BILLING_ACTOR.role,
        ),
        BILLING_ACTOR,
        Source.BILLING,
        overdue=overdue,
        today=today,
    )
    outcome.reactivated = True
    outcome.transition_id = result.transition.id


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
