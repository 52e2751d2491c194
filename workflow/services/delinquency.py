"""The delinquency sweep: who is due for a cut today, and cutting them one transition at a time.

Candidates are found with one set-based query; each cut is a normal transition (reason
`delinquency`, source `scheduler`) in its own transaction that re-checks the rule under the row
lock, so a payment committed at any moment before it wins, and a payment after it reactivates
the customer (see services/billing.py). Running the sweep twice cuts nobody twice.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import holidays
from sqlalchemy import BigInteger, func, select, type_coerce
from sqlalchemy.orm import Session

from ..db.engine import Database
from ..db.models import Customer, Invoice
from ..domain.customer_machine import TransitionRequest
from ..domain.delinquency import Policy, parse_weekdays
from ..domain.errors import AtivaError
from ..domain.vocabulary import CustomerEvent, CustomerStatus, InvoiceStatus, Role, Source
from ..settings import Settings
from .transitions import Actor, lock_customer, transition_customer

SCHEDULER = Actor(name="scheduler", role=Role.ADMIN)


def policy_from(settings: Settings) -> Policy:
    calendar = holidays.country_holidays("BR", subdiv=settings.holiday_subdivision)
    return Policy(
        grace_days=settings.grace_days,
        min_overdue_amount=settings.min_overdue_amount,
        no_cut_weekdays=parse_weekdays(settings.no_cut_weekdays),
        is_holiday=calendar.get,
    )


@dataclass(frozen=True)
class Candidate:
    customer_id: int
    name: str
    external_ref: str | None
    overdue_total: Decimal
    oldest_due: date
    days_overdue: int
    overdue_invoices: int


def _overdue_by_customer(today: date):
    cents_due = func.coalesce(type_coerce(Invoice.amount, BigInteger), 0) - type_coerce(Invoice.amount_paid, BigInteger)
    return (
        select(
            Invoice.customer_id.label("customer_id"),
            func.min(Invoice.due_date).label("oldest_due"),
            func.sum(cents_due).label("cents"),
            func.count().label("invoices"),
        )
        .where(Invoice.status == InvoiceStatus.OPEN, Invoice.due_date < today)
        .group_by(Invoice.customer_id)
    )


def _cents(amount: Decimal) -> int:
    return int(amount * 100)


def _money(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


def candidates(session: Session, policy: Policy, today: date, *, after_id: int = 0,
               limit: int | None = None) -> list[Candidate]:
    """Active, non-exempt customers due for a cut on `today` (whether or not it is a cut day)."""
    overdue = _overdue_by_customer(today).having(
        func.min(Invoice.due_date) < today - timedelta(days=policy.grace_days),
        func.sum(func.coalesce(type_coerce(Invoice.amount, BigInteger), 0)
                 - type_coerce(Invoice.amount_paid, BigInteger)) >= _cents(policy.min_overdue_amount),
    ).subquery()
    query = (
        select(Customer.id, Customer.name, Customer.external_ref, overdue.c.oldest_due, overdue.c.cents,
               overdue.c.invoices)
        .join(overdue, overdue.c.customer_id == Customer.id)
        .where(Customer.status == CustomerStatus.ACTIVE, Customer.auto_block_exempt.is_(False),
               Customer.id > after_id)
        .order_by(Customer.id)
    )
    if limit:
        query = query.limit(limit)
    return [
        Candidate(row.id, row.name, row.external_ref, _money(row.cents), row.oldest_due,
                  (today - row.oldest_due).days, row.invoices)
        for row in session.execute(query)
    ]


def candidates_for_warning(session: Session, today: date) -> list[int]:
    """Active, non-exempt customers with an open invoice past due and no warning for it yet."""
    overdue = _overdue_by_customer(today).subquery()
    return list(session.scalars(
        select(Customer.id)
        .join(overdue, overdue.c.customer_id == Customer.id)
        .where(Customer.status == CustomerStatus.ACTIVE, Customer.auto_block_exempt.is_(False),
               (Customer.warned_for_due.is_(None)) | (Customer.warned_for_due != overdue.c.oldest_due))
        .order_by(Customer.id)
    ))


def overdue_facts(session: Session, customer_id: int, today: date) -> tuple[date | None, Decimal, int]:
    """(oldest due date, overdue total, invoices) of one customer's open invoices past due."""
    row = session.execute(
        _overdue_by_customer(today).where(Invoice.customer_id == customer_id)
    ).one_or_none()
    if row is None:
        return None, Decimal("0.00"), 0
    return row.oldest_due, _money(row.cents), row.invoices


@dataclass
class BatchResult:
    inactivated: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)


def inactivate_due(db: Database, policy: Policy, customer_ids: list[int], today: date) -> BatchResult:
    """Cut each customer that is still due when its row is locked; the others are skipped."""
    result = BatchResult()
    for customer_id in customer_ids:
        try:
            with db.write() as session:
                customer = lock_customer(session, customer_id)
                if customer.status != CustomerStatus.ACTIVE:
                    result.skipped[customer_id] = f"already {customer.status}"
                    continue
                if customer.auto_block_exempt:
                    result.skipped[customer_id] = "exempt from automatic blocks"
                    continue
                oldest, total, count = overdue_facts(session, customer_id, today)
                if oldest is None or not policy.is_due(oldest, total, today):
                    result.skipped[customer_id] = "no longer due (paid or within the grace period)"
                    continue
                note = (f"sweep of {today.isoformat()}: {count} invoice(s) overdue, R$ {total} since "
                        f"{oldest.isoformat()}")
                transition_customer(
                    session, customer_id, CustomerEvent.INACTIVATE,
                    TransitionRequest("delinquency", note, False, SCHEDULER.role), SCHEDULER,
                    Source.SCHEDULER, today=today,
                )
                result.inactivated.append(customer_id)
        except AtivaError as refused:
            result.skipped[customer_id] = refused.detail
    return result


@dataclass
class SweepRun:
    as_of: date
    not_a_cut_day: str | None
    candidates: int = 0
    batches: int = 0
    inactivated: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)


def run_sweep(db: Database, policy: Policy, today: date, batch_size: int,
              dispatch: Callable[[list[int]], None] | None = None) -> SweepRun:
    """Find the due customers batch by batch; cut them here, or hand each batch to `dispatch`
    (Celery tasks that several workers share)."""
    run = SweepRun(today, policy.why_not_a_cut_day(today))
    if run.not_a_cut_day:
        return run
    after = 0
    while True:
        with db.read() as session:
            batch = [c.customer_id for c in candidates(session, policy, today, after_id=after, limit=batch_size)]
        if not batch:
            return run
        after = batch[-1]
        run.candidates += len(batch)
        run.batches += 1
        if dispatch is not None:
            dispatch(batch)
            continue
        done = inactivate_due(db, policy, batch, today)
        run.inactivated += done.inactivated
        run.skipped.update(done.skipped)
