"""Inbound billing events: keep the invoice mirror current and reactivate customers who paid.

One event = one transaction: the deduplication row, the invoice change and any transition it
causes commit together, so a retried or duplicated event can never apply twice, and a crash can
never leave a payment recorded without the reactivation it earned.
"""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..db.engine import Database
from ..db.models import BillingEvent, Customer, Invoice
from ..db.types import utcnow
from ..domain.customer_machine import TransitionRequest
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
from .clock import provider_today
from .transitions import Actor, count_overdue_invoices, lock_customer, transition_customer

EVENT_TYPES = ("invoice.created", "invoice.paid", "invoice.cancelled")
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


def apply_event(db: Database, event: InvoiceEvent, today: date | None = None) -> EventOutcome:
    try:
        with db.write() as session:
            if session.scalar(select(BillingEvent.id).where(BillingEvent.webhook_id == event.webhook_id)):
                return EventOutcome(duplicate=True)
            customer = _lock_customer_of(session, event)
            invoice = _apply_to_ledger(session, customer, event)
            outcome = EventOutcome(False, customer.id, invoice.status)
            _reactivate_if_paid_up(session, customer, event, outcome, today or provider_today())
            session.add(BillingEvent(
                webhook_id=event.webhook_id, type=event.type, customer_id=customer.id,
                invoice_external_id=event.invoice_id, outcome=_describe(outcome), received_at=utcnow(),
            ))
            session.flush()
            return outcome
    except IntegrityError:
        # The same webhook-id committed concurrently: this delivery is the duplicate.
        with db.read() as session:
            if session.scalar(select(BillingEvent.id).where(BillingEvent.webhook_id == event.webhook_id)):
                return EventOutcome(duplicate=True)
        raise


def _lock_customer_of(session: Session, event: InvoiceEvent) -> Customer:
    """The customer row is locked first, as transitions and the sweep do: one order, no deadlock."""
    if event.customer_id is not None:
        customer_id = event.customer_id
    elif event.customer_ref:
        customer_id = session.scalar(select(Customer.id).where(Customer.external_ref == event.customer_ref))
    else:
        raise InvalidInput("data needs customer_id or customer_ref")
    if customer_id is None or session.get(Customer, customer_id) is None:
        raise InvalidInput(f"unknown customer {event.customer_id or event.customer_ref!r}")
    return lock_customer(session, customer_id)


def _apply_to_ledger(session: Session, customer: Customer, event: InvoiceEvent) -> Invoice:
    invoice = session.scalar(
        select(Invoice).where(Invoice.external_id == event.invoice_id).with_for_update()
    )
    now = utcnow()
    if invoice is None:
        invoice = Invoice(external_id=event.invoice_id, customer_id=customer.id, amount=None,
                          amount_paid=Decimal("0"), due_date=None, status=InvoiceStatus.OPEN.value,
                          created_at=now, updated_at=now)
        session.add(invoice)
    elif invoice.customer_id != customer.id:
        raise InvalidInput(f"invoice {event.invoice_id!r} belongs to another customer")

    if event.type == "invoice.created":
        # Events come out of order: a creation after the payment only fills in what was unknown.
        invoice.amount = event.amount if event.amount is not None else invoice.amount
        invoice.due_date = event.due_date or invoice.due_date
    elif event.type == "invoice.paid":
        paid = event.amount if event.amount is not None else (invoice.amount or Decimal("0")) - invoice.amount_paid
        invoice.amount_paid += max(paid, Decimal("0"))
        invoice.paid_at = event.paid_at or now
    if invoice.status != InvoiceStatus.CANCELLED:
        if event.type == "invoice.cancelled":
            invoice.status = InvoiceStatus.CANCELLED.value
        else:
            invoice.status = _settled_status(invoice, event)
    invoice.updated_at = now
    session.flush()
    return invoice


def _settled_status(invoice: Invoice, event: InvoiceEvent) -> str:
    if event.type == "invoice.created" and invoice.status == InvoiceStatus.PAID and invoice.amount_paid == 0:
        return InvoiceStatus.PAID.value  # paid in full (amount not told) before it was created
    paid_something = invoice.amount_paid > 0 or event.type == "invoice.paid"
    if not paid_something:
        return InvoiceStatus.OPEN.value
    if invoice.amount is None:
        return InvoiceStatus.PAID.value  # paid before we knew the amount: creation may reopen it
    # A partial payment leaves the invoice open (and past due, if it was).
    return InvoiceStatus.PAID.value if invoice.amount_paid >= invoice.amount else InvoiceStatus.OPEN.value


def _reactivate_if_paid_up(session: Session, customer: Customer, event: InvoiceEvent,
                           outcome: EventOutcome, today: date) -> None:
    """Only a customer inactive *for delinquency* comes back with a payment; never one who asked
    to leave, whose contract ended, or was inactivated for another reason."""
    if event.type not in ("invoice.paid", "invoice.cancelled"):
        return
    if customer.status != CustomerStatus.INACTIVE or customer.inactivation_reason != InactivationReason.DELINQUENCY:
        return
    if count_overdue_invoices(session, customer.id, today):
        return
    result = transition_customer(
        session, customer.id, CustomerEvent.ACTIVATE,
        TransitionRequest(ActivationReason.PAYMENT_RECEIVED.value, f"billing event {event.webhook_id}",
                          False, BILLING_ACTOR.role),
        BILLING_ACTOR, Source.BILLING, today=today,
    )
    outcome.reactivated = True
    outcome.transition_id = result.transition.id


def _describe(outcome: EventOutcome) -> str:
    text = f"invoice {outcome.invoice_status}"
    return text + (f"; customer reactivated (transition {outcome.transition_id})" if outcome.reactivated else "")
