"""What the freeze's tests share: payments seeded into billing_events as the billing endpoint
records them, at the hours the payment-silence rule compares."""

from datetime import datetime, timedelta

from sqlalchemy import insert

from tests.conftest import VALID_CNPJ
from workflow.db.engine import Database
from workflow.db.models import BillingEvent
from workflow.domain.freeze import WEEKS_SEARCHED, BusinessHours, last_business_hours
from workflow.usecases import customers


def seed_payments(db: Database, times: list[datetime]) -> None:
    """One `invoice.paid` event at each time, from one paying customer."""
    with db.write() as session:
        payer = customers.create_customer(session, customers.CustomerDraft("Pagador", VALID_CNPJ)).id
        if times:
            session.execute(
                insert(BillingEvent),
                [
                    {
                        "webhook_id": f"evt-{n}",
                        "type": "invoice.paid",
                        "customer_id": payer,
                        "invoice_external_id": f"inv-{n}",
                        "outcome": "paid",
                        "received_at": at,
                    }
                    for n, at in enumerate(times)
                ],
            )


def flowing_before(now: datetime, hours: int, calendar: BusinessHours) -> list[datetime]:
    """A payment in the middle of each of the last `hours` business hours before `now` (local),
    in each of the weeks the rule may compare them with (however holidays fall): payments that
    flowed, then stopped. Ask for an hour more than the rule's window, so an hour that ends while
    the test runs still finds them."""
    spans = last_business_hours(now, hours, calendar)
    starts = [start + timedelta(hours=n) for start, end in spans for n in range((end - start) // timedelta(hours=1))]
    return [
        start + timedelta(minutes=30) - timedelta(weeks=k) for start in starts for k in range(1, WEEKS_SEARCHED + 1)
    ]
