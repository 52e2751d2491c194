"""A batch of billing events (a bank's return file posted at once), applied set-based with the
rules of a single event.

One unit of work for the whole batch: the events seen before found in one statement, the batch's
customers locked in id order (as the sweep locks them), then its invoices; each event is booked in
input order by the domain's ledger rule (domain/ledger.py) with the overdue count kept current in
memory, and a customer inactive for delinquency whose debts are all paid is reactivated by the
machine's own decision at the event that paid the last one, exactly where a single event would.
The writes are multi-row: invoices, the reactivations through batch_writes.write_decided (the
column lists and row builders of a single transition and the sweep's cut), the billing_events rows
through billing.event_record. Customers at a step of the collection ladder or under a forced
activation's hold (rare on a return file) take the single event's path, in the same unit.

An event of the batch committed meanwhile by another delivery (the single endpoint, another
batch), or a new invoice of the batch created meanwhile, makes the unit fail on a unique key: the
batch is applied again (billing.again_on_conflict), and that event is then a duplicate, or booked
to the invoice, or refused as another customer's.
"""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from ..db.bulk import insert_rows, update_rows
from ..db.engine import Database
from ..db.models import BillingEvent, Customer, Invoice
from ..db.types import utcnow
from ..domain.errors import InvalidInput
from ..domain.ledger import LedgerInvoice, apply_invoice_event, is_overdue, unknown_invoice
from ..domain.vocabulary import CustomerEvent, Source
from .batch_writes import Decided, state_key, write_decided
from .billing import (
    BILLING_ACTOR,
    LEDGER_COLUMNS,
    EventOutcome,
    InvoiceEvent,
    again_on_conflict,
    apply_unseen_event,
    check_event,
    customer_problem,
    event_record,
    has_payment_followups,
    invoice_problem,
    may_reactivate,
    new_invoice_values,
    payment_reactivation,
    saved_invoice_row,
)
from .business_day import provider_today
from .customer_locks import lock_customers_in_id_order
from .delinquency import overdue_by_customer
from .effect_bus import publish_groups_after_commit
from .transitions import Decision, decide, guard_facts, history_row, state_of

ACCEPTED, DUPLICATE, REJECTED = "accepted", "duplicate", "rejected"

_events = BillingEvent.__table__
_customers = Customer.__table__
_invoices = Invoice.__table__

_SEEN = select(_events.c.webhook_id).where(_events.c.webhook_id.in_(bindparam("webhook_ids", expanding=True)))
_IDS_BY_REF = select(_customers.c.id).where(_customers.c.external_ref.in_(bindparam("refs", expanding=True)))
_LOCK_INVOICES = (
    select(_invoices.c.external_id, *LEDGER_COLUMNS)
    .where(_invoices.c.external_id.in_(bindparam("invoice_ids", expanding=True)))
    .order_by(_invoices.c.id)
    .with_for_update()
)


@dataclass(frozen=True)
class Refused:
    """An event of the batch refused before it reached the use case (its shape): `id` is the
    event's id when it had a usable one."""

    id: str | None
    problem: str


@dataclass(frozen=True)
class EventResult:
    id: str | None
    status: str  # ACCEPTED | DUPLICATE | REJECTED
    reactivated: bool = False
    problem: str | None = None


def apply_batch(db: Database, items: list[InvoiceEvent | Refused], today: date | None = None) -> list[EventResult]:
    """Every item's result, in input order."""
    received_at = utcnow()  # the events' arrival (their latency to restored services counts from here)
    today = today or provider_today()
    results: list[EventResult | None] = [None] * len(items)
    pending: list[tuple[int, InvoiceEvent]] = []
    for position, item in enumerate(items):
        if isinstance(item, Refused):
            results[position] = EventResult(item.id, REJECTED, problem=item.problem)
            continue
        try:
            check_event(item, today)
        except InvalidInput as error:
            results[position] = EventResult(item.webhook_id, REJECTED, problem=str(error))
            continue
        pending.append((position, item))
    if pending:

        def unit() -> dict[int, EventResult]:
            with db.write() as session:
                return _apply(session, pending, today, received_at)

        for position, result in again_on_conflict(unit).items():
            results[position] = result
    if None in results:
        raise RuntimeError("an event of the batch was left without a result")
    return [result for result in results if result is not None]


@dataclass
class _Customer:
    """A customer of the batch as its events leave it, in memory until the writes."""

    row: Any  # the row read under the lock
    status: str
    inactivation_reason: str | None
    overdue: int  # its overdue invoices as the events so far leave them
    complex: bool  # at a ladder step or under a hold: the single event's path


@dataclass
class _Booked:
    invoice: LedgerInvoice
    existed: bool
    overdue: bool  # whether it counts in its customer's overdue invoices now
    single_path: bool = False  # booked by the single event's path (only its owner is known here)
    touched: bool = False  # changed by an event of the batch: written back


class _Batch:
    def __init__(self, conn: Connection, events: list[InvoiceEvent], today: date):
        self.today = today
        self.now = utcnow()
        self.seen = set(conn.scalars(_SEEN, {"webhook_ids": sorted({e.webhook_id for e in events})}))
        unseen = [e for e in events if e.webhook_id not in self.seen]  # a replay locks nothing
        self.customers = self._lock_customers(conn, unseen)
        if unseen:  # what committed while this unit waited for those locks (a new snapshot per statement)
            self.seen.update(conn.scalars(_SEEN, {"webhook_ids": sorted({e.webhook_id for e in unseen})}))
        self.by_ref = {c.row.external_ref: c for c in self.customers.values() if c.row.external_ref}
        self.invoices = self._lock_invoices(conn, [e for e in unseen if e.webhook_id not in self.seen])
        self.decided: dict[int, Decided] = {}
        # The machine decides once per prior lifecycle state (as the sweep's cut and a bulk job's
        # batch ask it): a payment's reactivation reads that state and the request, whose note
        # alone differs from event to event, and the machine reads a note only to require one.
        self.decisions: dict[tuple, Decision] = {}

    def _lock_customers(self, conn: Connection, events: list[InvoiceEvent]) -> dict[int, _Customer]:
        ids = {e.customer_id for e in events if e.customer_id is not None}
        refs = sorted({e.customer_ref for e in events if e.customer_id is None and e.customer_ref})
        if refs:
            ids.update(conn.scalars(_IDS_BY_REF, {"refs": refs}))
        rows = lock_customers_in_id_order(conn, sorted(ids)) if ids else []
        overdue = overdue_by_customer(conn, [row.id for row in rows], self.today) if rows else {}
        return {
            row.id: _Customer(
                row,
                row.status,
                row.inactivation_reason,
                overdue[row.id].invoices if row.id in overdue else 0,
                complex=has_payment_followups(row),
            )
            for row in rows
        }

    def _lock_invoices(self, conn: Connection, events: list[InvoiceEvent]) -> dict[str, _Booked]:
        """After the customers: the lock order of a single event (customer, then its invoice)."""
        invoice_ids = sorted({e.invoice_id for e in events})
        booked: dict[str, _Booked] = {}
        if not invoice_ids:
            return booked
        for row in conn.execute(_LOCK_INVOICES, {"invoice_ids": invoice_ids}):
            invoice = LedgerInvoice(row.customer_id, row.amount, row.amount_paid, row.due_date, row.status, row.paid_at)
            booked[row.external_id] = _Booked(invoice, True, is_overdue(row.status, row.due_date, self.today))
        return booked

    def customer_of(self, event: InvoiceEvent) -> "_Customer | str":
        found = self.customers.get(event.customer_id) if event.customer_id is not None else None
        if event.customer_id is None and event.customer_ref:
            found = self.by_ref.get(event.customer_ref)
        if found is None:
            return customer_problem(event, None) or "unknown customer"
        return customer_problem(event, found.row) or found

    def book(self, event: InvoiceEvent, customer: _Customer) -> "EventOutcome | str":
        """The event booked in memory, or why it cannot be."""
        customer_id = customer.row.id
        booked = self.invoices.get(event.invoice_id)
        if booked is not None and (problem := invoice_problem(event, booked.invoice.customer_id, customer_id)):
            return problem
        if customer.complex:
            if booked is None:  # its owner, for the events after it; the single path books it
                self.invoices[event.invoice_id] = _Booked(unknown_invoice(customer_id), False, False, True)
            return EventOutcome(duplicate=False, customer_id=customer_id)
        if booked is None:
            booked = self.invoices[event.invoice_id] = _Booked(unknown_invoice(customer_id), False, False)
        booked.touched = True
        apply_invoice_event(booked.invoice, event.type, event.amount, event.due_date, event.paid_at, self.now)
        now_overdue = is_overdue(booked.invoice.status, booked.invoice.due_date, self.today)
        customer.overdue += int(now_overdue) - int(booked.overdue)
        booked.overdue = now_overdue
        outcome = EventOutcome(duplicate=False, customer_id=customer_id, invoice_status=booked.invoice.status)
        if customer.overdue == 0 and may_reactivate(customer, event.type):
            self._reactivate(customer, event)
            outcome.reactivated = True
        return outcome

    def _reactivate(self, customer: _Customer, event: InvoiceEvent) -> None:
        row = customer.row
        request = payment_reactivation(event.webhook_id)
        before = state_of(row)
        key = state_key(before)
        decision = self.decisions.get(key)
        if decision is None:
            facts = guard_facts(0, self.now, self.today)
            decision = self.decisions[key] = decide(row.id, before, CustomerEvent.ACTIVATE, request, facts)
        change = history_row(
            row.id,
            row.version + 1,
            CustomerEvent.ACTIVATE,
            row.status,
            decision,
            request,
            BILLING_ACTOR,
            Source.BILLING,
            self.now,
        )
        self.decided[row.id] = Decided(row, decision, change)
        customer.status, customer.inactivation_reason = decision.state.status, decision.state.inactivation_reason

    def write_invoices(self, conn: Connection) -> None:
        booked = [(key, b) for key, b in self.invoices.items() if b.touched]
        insert_rows(
            conn, _invoices, [new_invoice_values(key, b.invoice, self.now) for key, b in booked if not b.existed]
        )
        saved = [saved_invoice_row(key, b.invoice, self.now) for key, b in booked if b.existed]
        update_rows(conn, _invoices, "external_id", saved)


def _by_id(record: dict) -> str:
    return record["webhook_id"]


def _apply(
    session: Session, pending: list[tuple[int, InvoiceEvent]], today: date, received_at: datetime
) -> dict[int, EventResult]:
    conn = session.connection()
    batch = _Batch(conn, [e for _, e in pending], today)
    seen = batch.seen
    results: dict[int, EventResult] = {}
    booked: list[tuple[int, InvoiceEvent, EventOutcome]] = []
    single_path: list[tuple[int, InvoiceEvent]] = []
    for position, event in pending:
        if event.webhook_id in seen:
            results[position] = EventResult(event.webhook_id, DUPLICATE)
            continue
        customer = batch.customer_of(event)
        outcome = customer if isinstance(customer, str) else batch.book(event, customer)
        if isinstance(outcome, str):
            results[position] = EventResult(event.webhook_id, REJECTED, problem=outcome)
            continue
        seen.add(event.webhook_id)  # a later event of the batch with this id is its duplicate
        if isinstance(customer, _Customer) and customer.complex:
            single_path.append((position, event))
        else:
            booked.append((position, event, outcome))

    batch.write_invoices(conn)
    written = write_decided(conn, list(batch.decided.values()), batch.now)
    publish_groups_after_commit(session, written.effect_groups)  # a payment's effects in one message
    for _, _event, outcome in booked:
        if outcome.reactivated:
            outcome.transition_id = written.change_ids[outcome.customer_id or 0]
    # In webhook-id order: two batches inserting the same ids wait for each other, never deadlock.
    records = sorted((event_record(event, outcome, received_at) for _, event, outcome in booked), key=_by_id)
    insert_rows(conn, _events, records)
    for position, event, outcome in booked:
        results[position] = EventResult(event.webhook_id, ACCEPTED, reactivated=outcome.reactivated)
    for position, event in single_path:
        outcome = apply_unseen_event(session, event, today, received_at)
        results[position] = EventResult(event.webhook_id, ACCEPTED, reactivated=outcome.reactivated)
    return results
