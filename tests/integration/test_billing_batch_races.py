"""A batch of billing events against the other units that lock the same customers, on SQLite and
PostgreSQL: the delinquency sweep's batch, a single event carrying one of the batch's ids, another
batch; and against units that share no customer with it but claim the same new invoice. On
PostgreSQL each order is forced (the units queue in turn behind a transaction holding the rows, or
a key) and they also race freely; SQLite runs one writer at a time, so there the same scenarios run
in each order one after the other, and race freely through its busy wait.

Whatever the order: every payer ends active, every event applied once, each customer's history
follows on version by version with the effects of each change, and nothing deadlocks."""

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert, select, update

from tests.conftest import cpf
from tests.support import Ran, at_once, in_lock_order, lock_waiters, wait_for
from workflow.db.models import BillingEvent, Customer, Invoice, OutboxEffect, StatusChange
from workflow.db.types import utcnow
from workflow.domain.customer_machine import EFFECTS
from workflow.domain.delinquency import Policy
from workflow.domain.errors import InvalidInput
from workflow.domain.vocabulary import CustomerEvent
from workflow.usecases import billing, billing_batch, delinquency
from workflow.usecases.business_day import provider_today

# Every day a cut day: the scenarios run on the provider's today, whatever the weekday.
POLICY = Policy(15, Decimal("50.00"), frozenset(), lambda day: None)
CUT = ("inactivate", "active", "inactive", "delinquency")
PAID_BACK = ("activate", "inactive", "active", "payment_received")
_numbers = itertools.count()


def _customer(db, invoices: int = 1, inactive: bool = False) -> int:
    """An active customer due for a cut (or already cut: inactive for delinquency, version 2,
    without history), owing `invoices` invoices 30 days past due, external ids inv-<id>-<k>."""
    from workflow.usecases import customers

    n = next(_numbers)
    with db.write() as session:
        cid = customers.create_customer(session, customers.CustomerDraft(f"Corrida {n}", cpf(1000 + n))).id
        values = {"external_ref": f"ref-{cid}"}
        if inactive:
            values |= {"status": "inactive", "inactivation_reason": "delinquency", "version": 2}
        session.execute(update(Customer).where(Customer.id == cid).values(**values))
        for k in range(invoices):
            session.add(
                Invoice(
                    external_id=f"inv-{cid}-{k}",
                    customer_id=cid,
                    amount=Decimal("90.00"),
                    amount_paid=Decimal(0),
                    due_date=provider_today() - timedelta(days=30),
                    status="open",
                    created_at=utcnow(),
                    updated_at=utcnow(),
                )
            )
    return cid


def _paid(event_id: str, cid: int, k: int = 0, by_ref: bool = False) -> billing.InvoiceEvent:
    return billing.InvoiceEvent(
        event_id,
        "invoice.paid",
        f"inv-{cid}-{k}",
        None if by_ref else cid,
        f"ref-{cid}" if by_ref else None,
        None,
        None,
        None,
    )


def _history(db, cid: int) -> list[tuple]:
    """The customer's changes as (event, from, to, reason), after checking they follow on: each
    a version after the previous, the customer at the last one, each with its event's effects."""
    with db.read() as session:
        customer = session.get(Customer, cid)
        changes = session.scalars(select(StatusChange).where(StatusChange.customer_id == cid)).all()
        effects = session.scalars(select(OutboxEffect).where(OutboxEffect.customer_id == cid)).all()
    changes = sorted(changes, key=lambda c: c.customer_version)
    first = customer.version - len(changes)
    assert [c.customer_version for c in changes] == list(range(first + 1, customer.version + 1))
    assert first in (1, 2)  # created (1), or seeded already cut (2)
    for before, after in itertools.pairwise(changes):
        assert after.from_status == before.to_status
    if changes:
        assert changes[-1].to_status == customer.status
    by_change: dict[int | None, list[str]] = {}
    for effect in effects:
        by_change.setdefault(effect.transition_id, []).append(effect.name)
    expected = {c.id: sorted(e.value for e in EFFECTS[CustomerEvent(c.event)]) for c in changes}
    assert {key: sorted(names) for key, names in by_change.items()} == {k: v for k, v in expected.items() if v}
    return [(c.event, c.from_status, c.to_status, c.reason) for c in changes]


def _recorded(db, event_ids: list[str]) -> dict[str, BillingEvent]:
    with db.read() as session:
        rows = session.scalars(select(BillingEvent).where(BillingEvent.webhook_id.in_(event_ids))).all()
    assert len(rows) == len({r.webhook_id for r in rows})  # once each
    return {r.webhook_id: r for r in rows}


def _invoice_status(db, external_id: str) -> str:
    with db.read() as session:
        return session.scalar(select(Invoice.status).where(Invoice.external_id == external_id))


def _in_order(db, locked: list[int], first, second) -> tuple:
    """Both units, `first` taking the customers' rows before `second`: queued behind a holder on
    PostgreSQL, one after the other on SQLite."""
    if db.is_sqlite:
        return first(), second()
    return tuple(in_lock_order(db, locked, first, second))


# -- the scenarios: two units, `a` and `b`, over the same customers (`locked`); `check` asserts the
# outcome is one order's or the other's and answers whether `a` came first.


class SweepRace:
    """A payment batch (a) and the sweep's batch (b): four payers (half the payments naming them by
    reference), one more payer at the collection ladder's notice step (the batch takes the single
    event's path for it) and two who do not pay, all due for a cut. The sweep first: it cuts the
    payers and the payments reactivate them; the payments first: the sweep finds them no longer
    due (the ladder's step ended by the payment)."""

    def __init__(self, db, tag: str):
        self.db = db
        self.payers = [_customer(db) for _ in range(4)]
        self.noticed = _customer(db)
        with db.write() as session:
            session.execute(update(Customer).where(Customer.id == self.noticed).values(delinquency_stage="notice"))
        self.others = [_customer(db) for _ in range(2)]
        self.locked = [*self.payers, self.noticed, *self.others]
        self.events = [_paid(f"{tag}-{cid}", cid, by_ref=n % 2 == 1) for n, cid in enumerate(self.payers)]
        self.events.append(_paid(f"{tag}-{self.noticed}", self.noticed))
        self.today = provider_today()

    def a(self) -> list[billing_batch.EventResult]:
        return billing_batch.apply_batch(self.db, list(self.events), self.today)

    def b(self) -> delinquency.BatchResult:
        return delinquency.inactivate_due(self.db, POLICY, self.locked, self.today)

    def check(self, results, swept) -> bool:
        histories = [_history(self.db, cid) for cid in self.payers]
        cut_first = histories[0] == [CUT, PAID_BACK]
        # One unit each: either every payer was cut then paid back, or none was touched.
        assert histories == [[CUT, PAID_BACK] if cut_first else []] * len(self.payers)
        step_ended = ("clear_stage", "active", "active", "payment_received")
        assert _history(self.db, self.noticed) == ([CUT, PAID_BACK] if cut_first else [step_ended])
        assert [(r.status, r.reactivated) for r in results] == [("accepted", cut_first)] * len(self.events)
        assert [_history(self.db, cid) for cid in self.others] == [[CUT]] * len(self.others)
        payers = [*self.payers, self.noticed]
        assert sorted(swept.inactivated) == sorted(self.others + (payers if cut_first else []))
        if not cut_first:
            assert all("no longer due" in swept.skipped[cid] for cid in payers), swept.skipped
        with self.db.read() as session:
            people = {
                c.id: (c.status, c.inactivation_reason, c.delinquency_stage) for c in session.scalars(select(Customer))
            }
            reactivations = {
                c.customer_id: c.id
                for c in session.scalars(select(StatusChange).where(StatusChange.event == "activate"))
            }
        assert [people[cid] for cid in payers] == [("active", None, "none")] * len(payers)
        assert [people[cid] for cid in self.others] == [("inactive", "delinquency", "none")] * len(self.others)
        recorded = _recorded(self.db, [e.webhook_id for e in self.events])
        for event, cid in zip(self.events[:-1], self.payers, strict=True):
            assert recorded[event.webhook_id].customer_id == cid
            assert recorded[event.webhook_id].transition_id == (reactivations[cid] if cut_first else None)
            assert _invoice_status(self.db, event.invoice_id) == "paid"
        return not cut_first


class SameId:
    """One event id sent singly (a) and in a batch (b) that also pays two other customers; all
    three cut for one invoice each. Each unit reads the ids seen before it waits for the rows, so
    on PostgreSQL the second finds the id taken when it writes: applied again (the batch, which is
    what its retry on the unique key is for) or answered duplicate (the single event)."""

    def __init__(self, db, tag: str):
        self.db = db
        self.locked = [_customer(db, inactive=True) for _ in range(3)]
        self.shared = _paid(f"{tag}-shared", self.locked[0])
        self.events = [self.shared] + [_paid(f"{tag}-{cid}", cid) for cid in self.locked[1:]]

    def a(self) -> billing.EventOutcome:
        return billing.apply_event(self.db, self.shared)

    def b(self) -> list[billing_batch.EventResult]:
        return billing_batch.apply_batch(self.db, list(self.events))

    def check(self, single, results) -> bool:
        by_single = not single.duplicate
        assert single.reactivated is by_single
        assert [(r.id, r.status, r.reactivated) for r in results] == [
            (self.shared.webhook_id, "duplicate" if by_single else "accepted", not by_single),
            *((e.webhook_id, "accepted", True) for e in self.events[1:]),
        ]
        for cid in self.locked:
            assert _history(self.db, cid) == [PAID_BACK]
        recorded = _recorded(self.db, [e.webhook_id for e in self.events])
        assert sorted(recorded) == sorted(e.webhook_id for e in self.events)
        assert all(_invoice_status(self.db, e.invoice_id) == "paid" for e in self.events)
        return by_single


class TwoBatches:
    """Two batches over the same five customers, each cut for two invoices: one batch (a) pays
    every first invoice, the other (b) every second one, by reference and in the opposite order.
    Both are applied whole; whichever comes second reactivates every customer, once."""

    def __init__(self, db, tag: str):
        self.db = db
        self.locked = [_customer(db, invoices=2, inactive=True) for _ in range(5)]
        self.first = [_paid(f"{tag}-a-{cid}", cid, 0) for cid in self.locked]
        self.second = [_paid(f"{tag}-b-{cid}", cid, 1, by_ref=True) for cid in reversed(self.locked)]

    def a(self) -> list[billing_batch.EventResult]:
        return billing_batch.apply_batch(self.db, list(self.first))

    def b(self) -> list[billing_batch.EventResult]:
        return billing_batch.apply_batch(self.db, list(self.second))

    def check(self, one, other) -> bool:
        one_first = one[0].reactivated is False
        assert [(r.status, r.reactivated) for r in one] == [("accepted", not one_first)] * len(self.locked)
        assert [(r.status, r.reactivated) for r in other] == [("accepted", one_first)] * len(self.locked)
        for cid in self.locked:
            assert _history(self.db, cid) == [PAID_BACK]
        events = self.first + self.second
        assert sorted(_recorded(self.db, [e.webhook_id for e in events])) == sorted(e.webhook_id for e in events)
        assert all(_invoice_status(self.db, e.invoice_id) == "paid" for e in events)
        return one_first


SCENARIOS = {
    "payments and the sweep": SweepRace,
    "one id singly and in a batch": SameId,
    "two batches": TwoBatches,
}


@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
@pytest.mark.parametrize("a_first", [True, False], ids=["a first", "b first"])
def test_in_either_order(db, scenario, a_first):
    """Each order forced: on PostgreSQL the units queue in turn behind a transaction holding the
    customers' rows (a deadlock or a lost retry would fail here), on SQLite one after the other."""
    race = scenario(db, "order")
    if a_first:
        a, b = _in_order(db, race.locked, race.a, race.b)
    else:
        b, a = _in_order(db, race.locked, race.b, race.a)
    assert race.check(a, b) is a_first


@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_racing(db, scenario):
    """Started together (a barrier), a few rounds: whichever order each round takes is consistent."""
    for round_ in range(4):
        race = scenario(db, f"free{round_}")
        race.check(*at_once(race.a, race.b))


# -- one new invoice claimed for two customers at once ----------------------------------------------


def _created(event_id: str, invoice_id: str, cid: int) -> billing.InvoiceEvent:
    return billing.InvoiceEvent(
        event_id, "invoice.created", invoice_id, cid, None, Decimal("10.00"), provider_today(), None
    )


def _held_at_last_write(db, held_id: str, first, second) -> tuple:
    """`first` and `second` (units sharing no customer) both past their reads before either
    commits, on PostgreSQL: an uncommitted billing_events row with `first`'s event id `held_id`
    stops `first` at its last write (everything else written), then `second` runs until it waits
    for a key `first` wrote; then the row is rolled back. On SQLite one after the other."""
    if db.is_sqlite:
        return first(), second()
    bystander = _customer(db)  # the held row's customer: not one the units lock
    holder = db.engine.connect()
    holder.begin()
    holder.execute(
        insert(BillingEvent).values(
            webhook_id=held_id,
            type="invoice.paid",
            customer_id=bystander,
            invoice_external_id="held",
            outcome="held",
            received_at=utcnow(),
        )
    )
    try:
        threads = []
        for unit in (first, second):
            threads.append(Ran(unit))
            threads[-1].start()
            wait_for(lambda: lock_waiters(db) == len(threads), what=f"unit {len(threads)} waiting for a key")
    finally:
        holder.rollback()
        holder.close()
    return tuple(thread.result() for thread in threads)


@pytest.mark.parametrize("other", ["batch", "single event"])
@pytest.mark.parametrize("batch_first", [True, False], ids=["batch first", "other first"])
def test_a_new_invoice_claimed_for_two_customers_at_once_goes_to_the_first(db, other, batch_first):
    """A batch and another delivery (a batch, a single event) that share no customer create the
    same invoice for different customers, neither seeing the other's: the unique key lets the first
    through, and the other, applied again, refuses its event as another customer's invoice (no
    error); the rest of it is applied."""
    x, y = _customer(db, inactive=True), _customer(db, inactive=True)
    batch_events = [_created(f"a-new-{x}", "NEW", x), _paid(f"a-pay-{x}", x)]
    other_events = [_created(f"b-new-{y}", "NEW", y), _paid(f"b-pay-{y}", y)]

    def batch():
        return [(r.status, r.reactivated) for r in billing_batch.apply_batch(db, batch_events)]

    def other_unit():
        if other == "batch":
            return [(r.status, r.reactivated) for r in billing_batch.apply_batch(db, other_events)]
        try:
            outcome = billing.apply_event(db, other_events[0])
        except InvalidInput as refused:
            assert "belongs to another customer" in str(refused)
            return [("rejected", False)]
        return [("duplicate" if outcome.duplicate else "accepted", outcome.reactivated)]

    if batch_first:
        batch_results, other_results = _held_at_last_write(db, batch_events[-1].webhook_id, batch, other_unit)
    else:
        other_results, batch_results = _held_at_last_write(db, other_events[0].webhook_id, other_unit, batch)
    with db.read() as session:
        owner = session.scalar(select(Invoice.customer_id).where(Invoice.external_id == "NEW"))
    assert owner == (x if batch_first else y)
    assert batch_results == [("accepted" if batch_first else "rejected", False), ("accepted", True)]
    expected_other = [("rejected" if batch_first else "accepted", False), ("accepted", True)]
    assert other_results == expected_other[: len(other_results)]
