"""Reads of the invoice mirror that the guards need."""

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..db.models import Invoice
from ..domain.vocabulary import InvoiceStatus


def count_overdue_invoices(session: Session, customer_id: int, today: date) -> int:
    """Open invoices whose due date has passed (due today is not yet overdue)."""
    return session.scalar(
        select(func.count())
        .select_from(Invoice)
        .where(
            Invoice.customer_id == customer_id,
            Invoice.status == InvoiceStatus.OPEN,
            Invoice.due_date < today,
        )
    )
