"""The invoice mirror's rules: what a billing event does to an invoice, and when one is overdue.

Pure: the single event path and the batch path (usecases/billing.py, usecases/billing_batch.py)
read the invoice under its lock, apply the event here and write the result back, so the two can
never book a payment differently.
"""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from .vocabulary import InvoiceStatus

# The events that may leave nothing past due: they reactivate, end a hold, clear a ladder step.
REACTIVATING_EVENTS = ("invoice.paid", "invoice.cancelled")


@dataclass(slots=True)
class LedgerInvoice:
    """An invoice as an event leaves it (the columns an event may change)."""

    customer_id: int
    amount: Decimal | None
    amount_paid: Decimal
    due_date: date | None
    status: str
    paid_at: datetime | None


def unknown_invoice(customer_id: int) -> LedgerInvoice:
    """An invoice the mirror has not heard of yet: events come out of order, so the first one
    may be its payment."""
    return LedgerInvoice(customer_id, None, Decimal(0), None, InvoiceStatus.OPEN.value, None)


def apply_invoice_event(
    invoice: LedgerInvoice,
    event_type: str,
    amount: Decimal | None,
    due_date: date | None,
    paid_at: datetime | None,
    now: datetime,
) -> LedgerInvoice:
    """`invoice` changed in place by one event (and returned)."""
    if event_type == "invoice.created":
        # Events come out of order: a creation after the payment only fills in what was unknown.
        invoice.amount = amount if amount is not None else invoice.amount
        invoice.due_date = due_date or invoice.due_date
    elif event_type == "invoice.paid":
        paid = amount if amount is not None else (invoice.amount or Decimal(0)) - invoice.amount_paid
        invoice.amount_paid += max(paid, Decimal(0))
        invoice.paid_at = paid_at or now
    if invoice.status != InvoiceStatus.CANCELLED:
        if event_type == "invoice.cancelled":
            invoice.status = InvoiceStatus.CANCELLED.value
        else:
            invoice.status = _settled_status(invoice, event_type)
    return invoice


def _settled_status(invoice: LedgerInvoice, event_type: str) -> str:
    if event_type == "invoice.created" and invoice.status == InvoiceStatus.PAID and invoice.amount_paid == 0:
        return InvoiceStatus.PAID.value  # paid in full (amount not told) before it was created
    paid_something = invoice.amount_paid > 0 or event_type == "invoice.paid"
    if not paid_something:
        return InvoiceStatus.OPEN.value
    if invoice.amount is None:
        return InvoiceStatus.PAID.value  # paid before we knew the amount: creation may reopen it
    # A partial payment leaves the invoice open (and past due, if it was).
    return InvoiceStatus.PAID.value if invoice.amount_paid >= invoice.amount else InvoiceStatus.OPEN.value


def is_overdue(status: str, due_date: date | None, today: date) -> bool:
    """Open and past its due date (due today is not overdue yet): the rule the overdue count of
    usecases/transitions.py (_OVERDUE) writes in SQL."""
    return status == InvoiceStatus.OPEN and due_date is not None and due_date < today
