"""Every customer a register search matches, with what it owes, a chunk at a time: for exports
that must not hold 100,000 customers in memory nor one long transaction."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select

from ..db.bulk import id_list
from ..db.engine import Database
from ..db.models import Customer, Invoice
from .customers import matching_conditions
from .delinquency import money_of_cents, overdue_subquery

CHUNK = 1000


@dataclass(frozen=True)
class CustomerLine:
    id: int
    name: str
    document: str
    external_ref: str | None
    email: str | None
    phone: str | None
    status: str
    inactivation_reason: str | None
    delinquency_stage: str
    status_changed_at: datetime
    auto_block_exempt: bool
    trust_unlock_until: datetime | None
    return_on: date | None
    forced_hold_until: date | None
    created_at: datetime
    overdue_total: Decimal  # open invoices past due on `today`, less what was paid
    oldest_due: date | None


_COLUMNS = (
    Customer.id,
    Customer.name,
    Customer.document,
    Customer.external_ref,
    Customer.email,
    Customer.phone,
    Customer.status,
    Customer.inactivation_reason,
    Customer.delinquency_stage,
    Customer.status_changed_at,
    Customer.auto_block_exempt,
    Customer.trust_unlock_until,
    Customer.return_on,
    Customer.forced_hold_until,
    Customer.created_at,
)


def matching_customers(
    db: Database,
    *,
    status: str | None,
    q: str | None,
    stage: str | None,
    today: date,
    chunk: int | None = None,
) -> Iterator[list[CustomerLine]]:
    """The search's matches by id, `chunk` at a time, each chunk read in a short transaction of its
    own (keyset on the id: a customer added or changed meanwhile is seen at most once)."""
    conditions = matching_conditions(status, q, stage)  # here, not in the generator: a bad filter fails at the call
    size = chunk or CHUNK

    def chunks() -> Iterator[list[CustomerLine]]:
        after = 0
        while True:
            with db.read() as session:
                rows = session.execute(
                    select(*_COLUMNS).where(*conditions, Customer.id > after).order_by(Customer.id).limit(size)
                ).all()
                # The debts of this chunk's customers only (the invoices' index by customer), not of all.
                ids = [row.id for row in rows]
                owed = overdue_subquery(today).where(Invoice.customer_id.in_(id_list("ids")))
                debts = {d.customer_id: d for d in session.execute(owed, {"ids": ids})} if ids else {}
            if not rows:
                return
            yield [_line(row._asdict(), debts.get(row.id)) for row in rows]
            after = rows[-1].id

    return chunks()


def _line(values: dict, debt) -> CustomerLine:
    if debt is None:
        return CustomerLine(**values, overdue_total=money_of_cents(0), oldest_due=None)
    return CustomerLine(**values, overdue_total=money_of_cents(debt.cents), oldest_due=debt.oldest_due)
