"""The delinquency sweep on SQLite and PostgreSQL: who is due, the set-based batch cut writing what
normal transitions write, the SQL re-check against the Python rules, idempotence, cut days,
exemptions, and payments racing the run."""

import threading
from datetime import date, timedelta
from decimal import Decimal

import holidays
import pytest
from sqlalchemy import func, select, update

from tests.conftest import VALID_CPFS, add_invoice
from workflow.db.models import Customer, Invoice, OutboxEffect, StatusChange
from workflow.db.types import utcnow
from workflow.domain.customer_machine import TransitionRequest
from workflow.domain.delinquency import InvoiceFacts, Policy, overdue_of, parse_weekdays
from workflow.domain.errors import AtivaError
from workflow.domain.vocabulary import CustomerEvent, InvoiceStatus, Role, Source
from workflow.usecases import customers, delinquency, transitions

TUESDAY = date(2026, 12, 1)
POLICY = Policy(15, Decimal("50.00"), parse_weekdays("sat,sun"), holidays.country_holidays("BR").get)


def run_at_once(*targets) -> None:
    """Start every target in its own thread, then wait for all."""
    threads = [threading.Thread(target=target) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def customer(db, n, **kw) -> int:
    with db.write() as session:
        return customers.create_customer(session, customers.CustomerDraft(f"C{n}", VALID_CPFS[n], **kw)).id


def seed(db) -> dict[str, int]:
    ids = {
        "due": customer(db, 0),
        "grace": customer(db, 1),
        "exempt": customer(db, 2, auto_block_exempt=True),
        "small": customer(db, 3),
        "partial": customer(db, 4),
    }
    add_invoice(db, ids["due"], days_overdue=20, amount="80.00", today=TUESDAY)
    add_invoice(db, ids["due"], days_overdue=5, amount="80.00", today=TUESDAY)
    add_invoice(db, ids["grace"], days_overdue=15, amount="500.00", today=TUESDAY)
    add_invoice(db, ids["exempt"], days_overdue=90, amount="500.00", today=TUESDAY)
    add_invoice(db, ids["small"], days_overdue=90, amount="49.99", today=TUESDAY)
    partial = add_invoice(db, ids["partial"], days_overdue=60, amount="100.00", today=TUESDAY)
    with db.write() as session:  # paid 60 of 100: 40 left, under the minimum
        session.execute(update(Invoice).where(Invoice.id == partial).values(amount_paid=Decimal("60.00")))
    add_invoice(db, ids["small"], days_overdue=90, amount="80.00", status=InvoiceStatus.PAID, today=TUESDAY)
    return ids


def test_candidates_follow_the_policy(db):
    ids = seed(db)
    with db.read() as session:
        found = delinquency.candidates(session, POLICY, TUESDAY)
    assert [c.customer_id for c in found] == [ids["due"]]
    (due,) = found
    assert (due.overdue_total, due.oldest_due, due.days_overdue, due.overdue_invoices) == (
        Decimal("160.00"),
        date(2026, 11, 11),
        20,
        2,
    )


def test_the_run_cuts_through_normal_transitions_and_is_idempotent(db):
    ids = seed(db)
    run = delinquency.run_sweep(db, POLICY, TUESDAY, batch_size=2)
    assert (run.not_a_cut_day, run.candidates, run.inactivated) == (None, 1, [ids["due"]])
    with db.read() as session:
        change = session.scalar(select(StatusChange))
        assert (change.customer_id, change.reason, change.source, change.actor) == (
            ids["due"],
            "delinquency",
            "scheduler",
            "scheduler",
        )
        assert "R$ 160,00" in change.note
        assert session.query(OutboxEffect).filter_by(transition_id=change.id).count() == 3
    again = delinquency.run_sweep(db, POLICY, TUESDAY, batch_size=2)
    assert (again.candidates, again.inactivated) == (0, [])


def test_no_cuts_on_weekends_or_holidays(db):
    ids = seed(db)
    for day in (date(2026, 12, 5), date(2026, 12, 25)):
        run = delinquency.run_sweep(db, POLICY, day, batch_size=10)
        assert run.not_a_cut_day and run.inactivated == []
    with db.read() as session:
        assert session.get(Customer, ids["due"]).status == "active"


def test_many_customers_in_batches(db):
    many = [customer(db, n) for n in range(5)]
    for cid in many:
        add_invoice(db, cid, days_overdue=30, amount="99.90", today=TUESDAY)
    run = delinquency.run_sweep(db, POLICY, TUESDAY, batch_size=2)
    assert (run.candidates, run.batches, sorted(run.inactivated)) == (5, 3, many)


def test_a_payment_racing_the_run_wins(db):
    ids = seed(db)
    with db.read() as session:
        batch = [c.customer_id for c in delinquency.candidates(session, POLICY, TUESDAY)]
    assert batch == [ids["due"]]
    with db.write() as session:  # paid after the candidates were read, before the cut
        session.execute(update(Invoice).where(Invoice.customer_id == ids["due"]).values(status="paid"))
    result = delinquency.inactivate_due(db, POLICY, batch, TUESDAY)
    assert result.inactivated == [] and "no longer due" in result.skipped[ids["due"]]
    with db.read() as session:
        assert session.get(Customer, ids["due"]).status == "active"


def test_exemption_and_status_are_rechecked_under_the_lock(db):
    ids = seed(db)
    with db.write() as session:
        session.execute(update(Customer).where(Customer.id == ids["due"]).values(auto_block_exempt=True))
    result = delinquency.inactivate_due(db, POLICY, [ids["due"]], TUESDAY)
    assert result.skipped == {ids["due"]: "exempt from automatic blocks"}
    with db.write() as session:
        session.execute(update(Customer).where(Customer.id == ids["due"]).values(auto_block_exempt=False))
    actor = transitions.Actor("token:ops", Role.OPERATOR)
    with db.write() as session:
        transitions.transition_customer(
            session,
            ids["due"],
            CustomerEvent.INACTIVATE,
            TransitionRequest("customer_request", None, actor_role=Role.OPERATOR),
            actor,
            Source.API,
        )
    result = delinquency.inactivate_due(db, POLICY, [ids["due"]], TUESDAY)
    assert result.skipped == {ids["due"]: "already inactive"}


def test_a_payment_racing_the_sweep_never_leaves_a_paid_customer_inactive(db):
    import threading

    from workflow.usecases import billing

    outcomes = []
    for round_ in range(6):
        cid = customer(db, round_ % 5) if round_ < 5 else None
        if cid is None:
            break
        inv = add_invoice(db, cid, days_overdue=30, amount="90.00", today=TUESDAY)
        with db.read() as session:
            external = session.get(Invoice, inv).external_id
        start = threading.Barrier(2)
        errors = []

        def sweep():
            start.wait()
            delinquency.inactivate_due(db, POLICY, [cid], TUESDAY)

        def pay():
            start.wait()
            try:
                billing.apply_event(
                    db,
                    billing.InvoiceEvent(f"race-{round_}", "invoice.paid", external, cid, None, None, None, None),
                    today=TUESDAY,
                )
            except Exception as error:  # noqa: BLE001
                errors.append(error)

        run_at_once(sweep, pay)
        assert errors == []
        with db.read() as session:
            row = session.get(Customer, cid)
            outcomes.append(session.query(StatusChange).filter_by(customer_id=cid).count())
            assert row.status == "active", f"round {round_}: paid but {row.status}"
        with db.write() as session:  # next round on a fresh customer slot
            session.execute(update(Customer).where(Customer.id == cid).values(document=f"9000000000{round_}"))
    # Either order happened: no cut (paid first) or a cut then a reactivation by the payment.
    assert all(n in (0, 2) for n in outcomes)


# -- the set-based batch cut ----------------------------------------------------------------------


def bare_customer(db, n: int, **values) -> int:
    """A customer row written directly: many of them, beyond the few valid CPFs of the fixtures."""
    now = utcnow()
    with db.write() as session:
        columns = {
            "name": f"Batch {n}",
            "document": f"{n:011d}",
            "document_type": "cpf",
            "status": "active",
            "status_changed_at": now,
            "invoicing_enabled": True,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        row = Customer(**(columns | values))
        session.add(row)
        session.flush()
        return row.id


def invoice(
    db, customer_id: int, *, days_overdue: int, amount: str | None, paid: str = "0", status: str = "open"
) -> None:
    with db.write() as session:
        session.add(
            Invoice(
                external_id=f"b-{customer_id}-{days_overdue}-{amount}-{status}",
                customer_id=customer_id,
                amount=None if amount is None else Decimal(amount),
                amount_paid=Decimal(paid),
                due_date=TUESDAY - timedelta(days=days_overdue),
                status=status,
                created_at=utcnow(),
                updated_at=utcnow(),
            )
        )


VARIED = {  # name: (customer columns, invoices as (days overdue, amount, paid, status))
    "due": ({}, [(20, "80.00", "0", "open")]),
    "one day past the grace": ({}, [(16, "50.00", "0", "open")]),
    "last day of grace": ({}, [(15, "500.00", "0", "open")]),
    "due today, not overdue": ({}, [(0, "500.00", "0", "open")]),
    "exactly the minimum": ({}, [(30, "50.00", "0", "open")]),
    "a cent under the minimum": ({}, [(30, "49.99", "0", "open")]),
    "two small invoices reach the minimum": ({}, [(40, "25.00", "0", "open"), (5, "25.00", "0", "open")]),
    "a recent invoice, an old one paid": ({}, [(3, "90.00", "0", "open"), (60, "90.00", "90.00", "paid")]),
    "partly paid under the minimum": ({}, [(60, "100.00", "60.00", "open")]),
    "partly paid still due": ({}, [(60, "100.00", "40.00", "open")]),
    "amount unknown": ({}, [(60, None, "0", "open")]),
    "cancelled": ({}, [(60, "300.00", "0", "cancelled")]),
    "no invoices": ({}, []),
    "exempt": ({"auto_block_exempt": True}, [(60, "300.00", "0", "open")]),
    "already inactive": (
        {"status": "inactive", "inactivation_reason": "customer_request", "version": 2},
        [(60, "300.00", "0", "open")],
    ),
    "active on a trust unlock": (
        {"trust_unlock_until": utcnow() + timedelta(days=2), "trust_unlocks_used": 1},
        [(60, "300.00", "0", "open")],
    ),
    "trust unlock ended": (
        {"trust_unlock_until": utcnow() - timedelta(minutes=1), "trust_unlocks_used": 1},
        [(60, "300.00", "0", "open")],
    ),
    "held by a forced activation": ({"forced_hold_until": TUESDAY + timedelta(days=5)}, [(60, "300.00", "0", "open")]),
    "hold ends today": ({"forced_hold_until": TUESDAY}, [(60, "300.00", "0", "open")]),
    "hold ended yesterday": ({"forced_hold_until": TUESDAY - timedelta(days=1)}, [(60, "300.00", "0", "open")]),
}


def seed_varied(db) -> dict[str, int]:
    ids = {}
    for n, (name, (columns, invoices)) in enumerate(VARIED.items(), start=1):
        ids[name] = bare_customer(db, n, **columns)
        for days, amount, paid, status in invoices:
            invoice(db, ids[name], days_overdue=days, amount=amount, paid=paid, status=status)
    return ids


def due_by_the_python_rules(db, customer_id: int) -> bool:
    """The rule as the domain states it (Policy.not_due over the invoices' facts, with no SQL), and
    the machine's own guards."""
    with db.read() as session:
        row = session.get(Customer, customer_id)
        invoices = [
            InvoiceFacts(i.status, i.due_date, i.amount, i.amount_paid)
            for i in session.scalars(select(Invoice).where(Invoice.customer_id == customer_id))
        ]
    overdue = overdue_of(invoices, TUESDAY)
    now = utcnow()
    if POLICY.not_due(delinquency.cut_facts(row), overdue, TUESDAY, now) is not None:
        return False
    try:
        transitions.decide(
            customer_id,
            transitions.state_of(row),
            CustomerEvent.INACTIVATE,
            TransitionRequest("delinquency", None, actor_role=Role.ADMIN),
            transitions.guard_facts(overdue.invoices, now, TUESDAY),
        )
    except AtivaError:
        return False
    return True


def test_the_sql_recheck_and_the_python_rules_pick_the_same_customers(db):
    ids = seed_varied(db)
    with db.read() as session:
        by_sql = {
            c.customer_id
            for c in delinquency.candidates(session.connection(), POLICY, TUESDAY, among=list(ids.values()))
        }
    by_python = {cid for cid in ids.values() if due_by_the_python_rules(db, cid)}
    names = {cid: name for name, cid in ids.items()}
    assert sorted(names[c] for c in by_sql) == sorted(names[c] for c in by_python)
    assert {names[c] for c in by_python} == {  # the set is not trivially empty or full
        "due",
        "one day past the grace",
        "exactly the minimum",
        "two small invoices reach the minimum",
        "partly paid still due",
        "trust unlock ended",
        "hold ended yesterday",
    }


def comparable(row, *left_out: str) -> dict:
    return {k: v for k, v in row._asdict().items() if k not in left_out}


def written_for(db, customer_id: int) -> tuple[dict, list[dict], list[dict]]:
    """The customer, its history and its outbox rows, without what differs between two customers."""
    with db.read() as session:
        conn = session.connection()
        customer = conn.execute(select(Customer.__table__).where(Customer.id == customer_id)).one()
        changes = conn.execute(
            select(StatusChange.__table__).where(StatusChange.customer_id == customer_id).order_by(StatusChange.id)
        ).all()
        effects = conn.execute(
            select(OutboxEffect.__table__).where(OutboxEffect.customer_id == customer_id).order_by(OutboxEffect.id)
        ).all()
    (change,) = changes
    moment = customer.status_changed_at  # one clock reading per transition, on every row it writes
    assert customer.updated_at == change.created_at == moment
    assert all(e.transition_id == change.id and e.created_at == e.next_attempt_at == moment for e in effects)
    return (
        comparable(customer, "id", "name", "document", "created_at", "updated_at", "status_changed_at"),
        [comparable(change, "id", "customer_id", "created_at")],
        [comparable(e, "id", "transition_id", "customer_id", "created_at", "next_attempt_at") for e in effects],
    )


def test_the_batch_cut_writes_what_a_single_transition_writes(db):
    # A trust unlock past its deadline (not cut by the timers yet): the cut clears it.
    before = {
        "plain": {},
        "on a trust unlock": {
            "trust_unlock_until": utcnow() - timedelta(minutes=1),
            "trust_unlocks_used": 1,
            "version": 4,
        },
        "after a forced activation's hold": {"forced_hold_until": TUESDAY - timedelta(days=1), "version": 3},
    }
    pairs = {}
    for n, (kind, columns) in enumerate(before.items()):
        pairs[kind] = (bare_customer(db, 10 + n, **columns), bare_customer(db, 20 + n, **columns))
        for cid in pairs[kind]:
            invoice(db, cid, days_overdue=30, amount="120.00")
            invoice(db, cid, days_overdue=2, amount="120.00")
    by_batch = [batch for batch, _ in pairs.values()]
    assert delinquency.inactivate_due(db, POLICY, by_batch, TUESDAY).inactivated == by_batch
    for _, single in pairs.values():
        with db.write() as session:
            (facts,) = delinquency.candidates(session.connection(), POLICY, TUESDAY, among=[single])
            transitions.transition_customer(
                session,
                single,
                CustomerEvent.INACTIVATE,
                delinquency.cut_request(TUESDAY, facts),
                delinquency.SCHEDULER,
                Source.SCHEDULER,
                today=TUESDAY,
            )
    for batch, single in pairs.values():
        assert written_for(db, batch) == written_for(db, single)
    customer, (change,), effects = written_for(db, pairs["on a trust unlock"][0])
    assert (
        customer["status"],
        customer["trust_unlock_until"],
        customer["trust_unlocks_used"],
        customer["version"],
    ) == ("inactive", None, 1, 5)
    held_before, (held_change,), _ = written_for(db, pairs["after a forced activation's hold"][0])
    assert (held_before["status"], held_before["forced_hold_until"], held_change["hold_until"]) == (
        "inactive",
        None,
        None,
    )
    assert change["note"] == (
        "Corte automático de 01/12/2026: 2 fatura(s) vencida(s), total R$ 240,00, a mais antiga vencida em 01/11/2026."
    )
    assert [e["name"] for e in effects] == ["suspend_services", "pause_invoicing", "notify_billing"]


def test_the_batch_cut_publishes_its_effects_after_commit(db, monkeypatch):
    from workflow.usecases import effect_bus

    published = []
    monkeypatch.setattr(effect_bus, "_publisher", published.extend)  # a group per customer cut
    cids = [bare_customer(db, 30 + n) for n in range(3)]
    for cid in cids:
        invoice(db, cid, days_overdue=30, amount="99.90")
    assert delinquency.inactivate_due(db, POLICY, cids, TUESDAY).inactivated == cids
    with db.read() as session:
        queued = list(session.scalars(select(OutboxEffect.id).order_by(OutboxEffect.id)))
    assert len(queued) == 9 and sorted(i for group in published for i in group) == queued
    with db.read() as session:
        owners = dict(session.execute(select(OutboxEffect.id, OutboxEffect.customer_id)).tuples().all())
    assert sorted(tuple({owners[i] for i in group}) for group in published) == [(cid,) for cid in sorted(cids)]


def test_a_batch_the_machine_refuses_fails_loudly_and_writes_nothing(db, monkeypatch):
    from workflow.domain import customer_machine
    from workflow.domain.errors import GuardFailed

    cids = [bare_customer(db, 40 + n) for n in range(2)]
    for cid in cids:
        invoice(db, cid, days_overdue=30, amount="99.90")

    def refuse(self, request, facts):
        raise GuardFailed("drifted", "a rule the SQL re-check does not know")

    monkeypatch.setattr(customer_machine.CustomerLifecycle, "check_inactivation", refuse)
    with pytest.raises(delinquency.SweepRuleDrift, match=r"drifted|SQL re-check does not know"):
        delinquency.inactivate_due(db, POLICY, cids, TUESDAY)
    with db.read() as session:
        assert {c.status for c in session.scalars(select(Customer))} == {"active"}
        assert session.scalar(select(func.count()).select_from(StatusChange)) == 0
        assert session.scalar(select(func.count()).select_from(OutboxEffect)) == 0


def test_a_batch_skips_with_reasons_and_cuts_nobody_twice(db):
    ids = seed_varied(db)
    batch = [*ids.values(), 999_999]
    first = delinquency.inactivate_due(db, POLICY, batch, TUESDAY)
    assert len(first.inactivated) == 7
    assert first.skipped[ids["hold ends today"]] == "held by a forced activation through 2026-12-01"
    assert first.skipped[ids["exempt"]] == "exempt from automatic blocks"
    assert first.skipped[ids["already inactive"]] == "already inactive"
    assert first.skipped[ids["last day of grace"]].startswith("no longer due")
    assert first.skipped[999_999] == "customer 999999 does not exist"
    again = delinquency.inactivate_due(db, POLICY, batch, TUESDAY)
    assert again.inactivated == [] and all(again.skipped[c] == "already inactive" for c in first.inactivated)


def test_a_payment_racing_a_batch_never_leaves_the_payer_inactive(db):
    import threading

    from workflow.usecases import billing

    for round_ in range(4):
        batch = [bare_customer(db, 100 + 10 * round_ + n) for n in range(5)]
        for cid in batch:
            invoice(db, cid, days_overdue=30, amount="90.00")
        payer = batch[2]
        with db.read() as session:
            external = session.scalar(select(Invoice.external_id).where(Invoice.customer_id == payer))
        start = threading.Barrier(2)
        errors = []

        def sweep():
            start.wait()
            delinquency.inactivate_due(db, POLICY, batch, TUESDAY)

        def pay():
            start.wait()
            try:
                billing.apply_event(
                    db,
                    billing.InvoiceEvent(
                        f"batch-race-{round_}", "invoice.paid", external, payer, None, None, None, None
                    ),
                    today=TUESDAY,
                )
            except Exception as error:  # noqa: BLE001
                errors.append(error)

        run_at_once(sweep, pay)
        assert errors == []
        with db.read() as session:
            status = {c: session.get(Customer, c).status for c in batch}
            payer_changes = session.scalar(
                select(func.count()).select_from(StatusChange).where(StatusChange.customer_id == payer)
            )
        assert status.pop(payer) == "active", f"round {round_}: paid but inactive"
        assert set(status.values()) == {"inactive"}
        assert payer_changes in (0, 2)  # not cut (paid first), or cut then reactivated by the payment


def test_a_customer_on_a_trust_unlock_is_not_cut_before_its_deadline(db):
    """The sweep leaves a trust unlock alone; the timers cut it at the deadline if still unpaid."""
    on_unlock = bare_customer(db, 1, trust_unlock_until=utcnow() + timedelta(days=2), trust_unlocks_used=1)
    invoice(db, on_unlock, days_overdue=60, amount="300.00")
    # Listed by an earlier run, then unlocked before its batch ran: the re-check under lock skips it.
    done = delinquency.inactivate_due(db, POLICY, [on_unlock], TUESDAY)
    assert done.inactivated == [] and done.skipped == {on_unlock: "on a trust unlock until its deadline"}
    with db.read() as session:
        assert delinquency.candidates(session, POLICY, TUESDAY) == []
    with db.write() as session:
        session.execute(
            update(Customer).where(Customer.id == on_unlock).values(trust_unlock_until=utcnow() - timedelta(seconds=1))
        )
    assert delinquency.inactivate_due(db, POLICY, [on_unlock], TUESDAY).inactivated == [on_unlock]
