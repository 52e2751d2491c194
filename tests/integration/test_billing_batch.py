"""A batch of billing events writes exactly what the same events sent one by one write, on SQLite
and PostgreSQL: two mirrored worlds of customers, one fed event by event (billing.apply_event),
the other as one batch (billing_batch.apply_batch); every row is compared."""

import random
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from tests.conftest import add_invoice, cpf
from workflow.db.models import BillingEvent, Customer, Invoice, OutboxEffect, StatusChange
from workflow.domain import limits
from workflow.domain.customer_machine import TransitionRequest
from workflow.domain.errors import InvalidInput
from workflow.domain.vocabulary import CustomerEvent, Role, Source
from workflow.usecases import billing, billing_batch, customers, transitions
from workflow.usecases.business_day import provider_today

OPERATOR = transitions.Actor("token:ops", Role.OPERATOR)
# Given, so both worlds book the same time (left out, it is each event's arrival).
PAID_AT = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
KINDS = ("active", "delinquent", "delinquent2", "requested", "held", "noticed")


def _customer(db, world: str, n: int, kind: str) -> int:
    with db.write() as session:
        cid = customers.create_customer(
            session, customers.CustomerDraft(f"{world}{n}", cpf(n * 2 + (world == "B")), external_ref=f"{world}-ref{n}")
        ).id
    for k in range(2 if kind == "delinquent2" else 1):
        add_invoice(db, cid, days_overdue=10 + k, amount="50.00")
    with db.write() as session:
        # The invoices' ids are the world's mirror of each other.
        for k, invoice in enumerate(session.scalars(select(Invoice).where(Invoice.customer_id == cid))):
            invoice.external_id = f"{world}-inv{n}-{k}"
    reason = {"delinquent": "delinquency", "delinquent2": "delinquency", "requested": "customer_request"}.get(kind)
    if reason:
        with db.write() as session:
            transitions.transition_customer(
                session,
                cid,
                CustomerEvent.INACTIVATE,
                TransitionRequest(reason, None, actor_role=Role.OPERATOR),
                OPERATOR,
                Source.API,
            )
    with db.write() as session:  # the rarer states, set as the ladder and a forced activation leave them
        if kind == "held":
            session.execute(
                update(Customer)
                .where(Customer.id == cid)
                .values(forced_hold_until=provider_today() + timedelta(days=9))
            )
        if kind == "noticed":
            session.execute(update(Customer).where(Customer.id == cid).values(delinquency_stage="notice"))
    return cid


def _scenario(seed: int, count: int):
    """Customers (kinds) and a random stream of events naming them by index."""
    rng = random.Random(seed)  # noqa: S311 - a repeatable scenario, not a secret
    kinds = [KINDS[n % len(KINDS)] for n in range(count)]
    events = []
    for _ in range(count * 6):
        n = rng.randrange(count + 1)  # count: a customer that does not exist
        invoice = rng.choice([f"inv{n}-0", f"inv{n}-1", f"new{n}-{rng.randrange(3)}", f"inv{(n + 1) % count}-0"])
        kind = rng.choice(["paid", "paid", "paid", "cancelled", "created"])
        data: dict = {"invoice": invoice}
        if kind == "created":
            data["due"] = rng.choice([-5, 3, None])
            data["amount"] = rng.choice(["30.00", None])
        if kind == "paid":
            data["amount"] = rng.choice([None, "20.00", "50.00", "100.00"])
        event_id = f"e{rng.randrange(count * 5)}"  # repeats: duplicates
        events.append((event_id, kind, n, rng.random() < 0.3, data))
    return kinds, events


def _event(world: str, ids: list[int], spec) -> billing.InvoiceEvent:
    event_id, kind, n, by_ref, data = spec
    due = data.get("due")
    return billing.InvoiceEvent(
        webhook_id=f"{world}-{event_id}",
        type=f"invoice.{kind}",
        invoice_id=f"{world}-{data['invoice']}",
        customer_id=None if by_ref else (ids[n] if n < len(ids) else limits.MAX_ROW_ID),
        customer_ref=f"{world}-ref{n}" if by_ref else None,
        amount=Decimal(data["amount"]) if data.get("amount") else None,
        due_date=provider_today() - timedelta(days=due) if due is not None else None,
        paid_at=PAID_AT if kind == "paid" else None,
    )


def _world(db, world: str, ids: list[int]) -> dict:
    """Every row the events wrote, with the world's ids replaced by indexes."""
    index = {cid: n for n, cid in enumerate(ids)}

    def plain(text):
        return text.replace(f"{world}-", "") if isinstance(text, str) else text

    with db.read() as session:
        people = [
            (c.status, c.inactivation_reason, c.version, c.delinquency_stage, c.forced_hold_until, c.invoicing_enabled)
            for c in sorted(session.scalars(select(Customer).where(Customer.id.in_(ids))), key=lambda c: index[c.id])
        ]
        history = sorted(
            (
                *(index[h.customer_id], h.customer_version, h.event, h.from_status, h.to_status, h.reason),
                *(plain(h.note), h.forced, h.hold_until, h.delinquency_stage, h.actor, h.source),
            )
            for h in session.scalars(select(StatusChange).where(StatusChange.customer_id.in_(ids)))
        )
        effects = sorted(
            (index[e.customer_id], e.name, e.state, e.origin, e.service_id)
            for e in session.scalars(select(OutboxEffect).where(OutboxEffect.customer_id.in_(ids)))
        )
        invoices = sorted(
            (plain(i.external_id), index[i.customer_id], i.amount, i.amount_paid, i.due_date, i.status, i.paid_at)
            for i in session.scalars(select(Invoice).where(Invoice.customer_id.in_(ids)))
        )
        events = sorted(
            (plain(e.webhook_id), e.type, index.get(e.customer_id), plain(e.invoice_external_id), _no_ids(e.outcome))
            for e in session.scalars(select(BillingEvent).where(BillingEvent.webhook_id.like(f"{world}-%")))
        )
    return {"customers": people, "history": history, "effects": effects, "invoices": invoices, "events": events}


def _no_ids(outcome: str) -> str:
    return re.sub(r"\(transition \d+\)", "(transition N)", outcome)


def _single(db, event) -> tuple[str, bool]:
    try:
        outcome = billing.apply_event(db, event)
    except InvalidInput:
        return "rejected", False
    return ("duplicate", False) if outcome.duplicate else ("accepted", outcome.reactivated)


@pytest.mark.parametrize("seed", range(6))
def test_a_batch_writes_what_the_same_events_one_by_one_write(db, seed):
    kinds, specs = _scenario(seed, count=8)
    one_by_one = [_customer(db, "A", n, kind) for n, kind in enumerate(kinds)]
    batched = [_customer(db, "B", n, kind) for n, kind in enumerate(kinds)]
    singles = [_single(db, _event("A", one_by_one, spec)) for spec in specs]
    results = billing_batch.apply_batch(db, [_event("B", batched, spec) for spec in specs])

    assert [(r.status, r.reactivated) for r in results] == singles
    assert [r.id for r in results] == [f"B-{spec[0]}" for spec in specs]
    assert all((r.problem is not None) == (r.status == "rejected") for r in results)
    a, b = _world(db, "A", one_by_one), _world(db, "B", batched)
    for table in a:
        assert b[table] == a[table], table


def test_in_one_batch_payments_reactivate_end_holds_and_clear_steps_as_one_by_one(db):
    """The cases the random scenarios may miss, named: the batch's history rows are those of the
    single path (compared above); here, that they are there at all."""
    kinds = ["delinquent", "delinquent2", "held", "noticed", "requested"]
    ids = [_customer(db, "B", n, kind) for n, kind in enumerate(kinds)]
    specs = [
        ("p0", "paid", 0, False, {"invoice": "inv0-0"}),
        ("p1a", "paid", 1, True, {"invoice": "inv1-0", "amount": "50.00"}),
        ("p1b", "cancelled", 1, False, {"invoice": "inv1-1"}),
        ("p2", "paid", 2, False, {"invoice": "inv2-0"}),
        ("p3", "paid", 3, False, {"invoice": "inv3-0"}),
        ("p4", "paid", 4, False, {"invoice": "inv4-0"}),
        ("p0", "paid", 0, False, {"invoice": "inv0-0"}),
    ]
    results = billing_batch.apply_batch(db, [_event("B", ids, spec) for spec in specs])
    assert [(r.status, r.reactivated) for r in results] == [
        ("accepted", True),
        ("accepted", False),
        ("accepted", True),  # the second overdue invoice gone: reactivated at that event
        ("accepted", False),
        ("accepted", False),
        ("accepted", False),
        ("duplicate", False),
    ]
    with db.read() as session:
        events = {
            (h.customer_id, h.event, h.reason)
            for h in session.scalars(select(StatusChange).where(StatusChange.source == "billing"))
        }
        assert events == {
            (ids[0], "activate", "payment_received"),
            (ids[1], "activate", "payment_received"),
            (ids[2], "end_forced_hold", "payment_received"),
            (ids[3], "clear_stage", "payment_received"),
        }
        state = {c.id: (c.status, c.forced_hold_until, c.delinquency_stage) for c in session.scalars(select(Customer))}
    assert state[ids[4]][0] == "inactive"
    assert state[ids[2]] == ("active", None, "none") and state[ids[3]] == ("active", None, "none")
