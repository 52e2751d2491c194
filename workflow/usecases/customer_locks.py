"""The customer row locks: one prebuilt statement per purpose, each a whole `customers` row.

One lock order everywhere: a unit that changes a customer, or anything hanging off it (invoices,
services, effects, history), locks the customer row first; a unit that locks several customers
locks them in one statement, in id order. Two units that want the same customers then queue
behind each other instead of each holding what the other waits for (no deadlock).

PostgreSQL renders FOR UPDATE; SQLite does not, and needs none: its write unit takes the database
lock up front (BEGIN IMMEDIATE). A caller reads whatever else it needs (overdue invoices, pending
effects) with a statement of its own *after* the lock: on PostgreSQL a statement that waited for a
row lock keeps its old snapshot for everything but the locked rows.
"""

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Row, bindparam, select
from sqlalchemy.orm import Session

from ..db.bulk import id_list
from ..db.driver import DriverStatement, rows_in_turn
from ..db.models import Customer
from ..domain.errors import NotFound

_customers = Customer.__table__

LOCK_CUSTOMER = select(_customers).where(_customers.c.id == bindparam("customer_id")).with_for_update()
"""One customer by id: every transition, edit, effect and timer of that customer."""

LOCK_CUSTOMER_BY_REF = (
    select(_customers).where(_customers.c.external_ref == bindparam("customer_ref")).with_for_update()
)
"""One customer by the billing system's reference (`external_ref`, unique): a billing event that
names the customer only that way locks the same row, in the same place in the order."""

LOCK_CUSTOMERS_IN_ID_ORDER = (
    select(_customers).where(_customers.c.id.in_(id_list("customer_ids"))).order_by(_customers.c.id).with_for_update()
)
"""A batch of customers (the sweep's cut), in id order: two overlapping batches lock their common
customers in the same order, so one waits for the other instead of deadlocking."""

# The ORM's view of LOCK_CUSTOMER, for the paths that edit the entity. populate_existing: an object
# already in the session is refreshed with what the lock sees, never left stale.
_LOCK_CUSTOMER_ENTITY = select(Customer).from_statement(LOCK_CUSTOMER).execution_options(populate_existing=True)


# Every transition's first statement: on the driver's cursor on PostgreSQL (db/driver.py).
_LOCK_CUSTOMER_ROW = DriverStatement(LOCK_CUSTOMER, "CustomerLockRow")
_LOCK_CUSTOMER_ROW_BY_REF = DriverStatement(LOCK_CUSTOMER_BY_REF, "CustomerLockRow")


def lock_customer_row(db: Connection, customer_id: int):
    """The customer's row under its lock (Core: the hot paths); a row with the columns as
    attributes and _asdict()."""
    return lock_customer_row_then(db, customer_id)[0]


def lock_customer_row_then(db: Connection, customer_id: int, *after: tuple[DriverStatement, Mapping[str, Any]]):
    """The customer's row under its lock, then the rows of each statement `after` it, each run
    once the lock is held and with a snapshot of its own (sent together on PostgreSQL)."""
    locked, *rest = rows_in_turn(db, [(_LOCK_CUSTOMER_ROW, {"customer_id": customer_id}), *after])
    if not locked:
        raise NotFound(f"customer {customer_id} does not exist")
    return locked[0], *rest


def lock_customer_row_or_none_then(
    db: Connection,
    customer_id: int | None,
    customer_ref: str | None,
    *after: tuple[DriverStatement, Mapping[str, Any]],
):
    """The row of the customer named by id (else by billing reference) under its lock, or None if
    there is none; then the rows of each statement `after` it, as lock_customer_row_then does."""
    first: tuple[DriverStatement, Mapping[str, Any]] = (
        (_LOCK_CUSTOMER_ROW, {"customer_id": customer_id})
        if customer_id is not None
        else (_LOCK_CUSTOMER_ROW_BY_REF, {"customer_ref": customer_ref})
    )
    locked, *rest = rows_in_turn(db, [first, *after])
    return (locked[0] if locked else None), *rest


def lock_customer(session: Session, customer_id: int) -> Customer:
    """The customer under its lock as an ORM entity (the paths that edit fields through the ORM)."""
    customer = session.scalar(_LOCK_CUSTOMER_ENTITY, {"customer_id": customer_id})
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist")
    return customer


def lock_customer_by_ref(db: Connection, external_ref: str) -> Row | None:
    """The customer with that billing reference under its lock, or None."""
    return db.execute(LOCK_CUSTOMER_BY_REF, {"customer_ref": external_ref}).one_or_none()


def lock_customers_in_id_order(db: Connection, customer_ids: list[int]) -> list[Row]:
    """The rows of those customers that exist, locked in id order."""
    return list(db.execute(LOCK_CUSTOMERS_IN_ID_ORDER, {"customer_ids": customer_ids}))
