"""Two deliveries of one billing event at once, on SQLite and PostgreSQL: the event applies once.

apply_event reads the deduplication row right after the customer's lock (in the lock's round trip
on PostgreSQL): a delivery that waited for the lock behind the same event finds it applied. Either
way (found after the lock, or refused by the webhook-id's unique index at commit), the second
delivery is answered as a duplicate and changes nothing."""

import threading
from decimal import Decimal

from sqlalchemy import func, select, text

from tests.conftest import add_invoice
from tests.e2e.billing_support import inactivate, new_customer
from tests.support import wait_for
from workflow.db.models import BillingEvent, Invoice, StatusChange
from workflow.usecases import billing
from workflow.usecases.customer_locks import lock_customer_row


def test_two_deliveries_waiting_for_the_same_customer_apply_the_event_once(db):
    cid = new_customer(db, 0)
    invoice_id = add_invoice(db, cid, days_overdue=10)
    inactivate(db, cid, "delinquency")
    with db.read() as session:
        external_id = session.scalar(select(Invoice.external_id).where(Invoice.id == invoice_id))
    event = billing.InvoiceEvent("pay-once", "invoice.paid", external_id, cid, None, None, None, None)
    outcomes: list[billing.EventOutcome] = []
    errors: list[BaseException] = []

    def deliver():
        try:
            outcomes.append(billing.apply_event(db, event))
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)

    deliveries = [threading.Thread(target=deliver) for _ in range(2)]
    # Another unit holds the customer's lock (SQLite: the write lock) until both deliveries wait.
    with db.write() as session:
        lock_customer_row(session.connection(), cid)
        for delivery in deliveries:
            delivery.start()
        if not db.is_sqlite:

            def both_wait() -> bool:
                with db.read() as other:
                    waiting = other.scalar(
                        text(
                            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                            "AND datname = current_database()"
                        )
                    )
                return waiting == 2

            wait_for(both_wait, timeout=30, what="both deliveries waiting for the customer's lock")
        else:
            wait_for(lambda: all(d.is_alive() for d in deliveries), timeout=30, what="both deliveries started")
    for delivery in deliveries:
        delivery.join(timeout=60)
    assert not any(d.is_alive() for d in deliveries), "a delivery hung"
    assert errors == []

    assert sorted(o.duplicate for o in outcomes) == [False, True]
    applied = next(o for o in outcomes if not o.duplicate)
    assert (applied.invoice_status, applied.reactivated) == ("paid", True)
    with db.read() as session:
        paid = session.scalar(select(Invoice.amount_paid).where(Invoice.id == invoice_id))
        events = session.scalar(select(func.count()).select_from(BillingEvent))
        activations = session.scalar(
            select(func.count())
            .select_from(StatusChange)
            .where(StatusChange.customer_id == cid, StatusChange.event == "activate")
        )
    assert paid == Decimal("99.90")  # paid once, not twice
    assert (events, activations) == (1, 1)
