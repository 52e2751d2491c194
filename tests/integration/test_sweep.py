"""The delinquency sweep on SQLite and PostgreSQL: who is due, cuts as normal transitions,
idempotence, cut days, exemptions, and payments racing the run."""

from datetime import date
from decimal import Decimal

from sqlalchemy import select, update

from tests.conftest import VALID_CPFS, add_invoice
from workflow.db.models import Customer, Invoice, OutboxEffect, StatusChange
from workflow.domain.customer_machine import TransitionRequest
from workflow.domain.delinquency import Policy, parse_weekdays
from workflow.domain.vocabulary import CustomerEvent, InvoiceStatus, Role, Source
from workflow.services import customers, delinquency, transitions

import holidays

TUESDAY = date(2026, 12, 1)
POLICY = Policy(15, Decimal("50.00"), parse_weekdays("sat,sun"), holidays.country_holidays("BR").get)


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
        Decimal("160.00"), date(2026, 11, 11), 20, 2)


def test_the_run_cuts_through_normal_transitions_and_is_idempotent(db):
    ids = seed(db)
    run = delinquency.run_sweep(db, POLICY, TUESDAY, batch_size=2)
    assert (run.not_a_cut_day, run.candidates, run.inactivated) == (None, 1, [ids["due"]])
    with db.read() as session:
        change = session.scalar(select(StatusChange))
        assert (change.customer_id, change.reason, change.source, change.actor) == (
            ids["due"], "delinquency", "scheduler", "scheduler")
        assert "R$ 160.00" in change.note
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
        transitions.transition_customer(session, ids["due"], CustomerEvent.INACTIVATE,
                                        TransitionRequest("customer_request", None, False, Role.OPERATOR),
                                        actor, Source.API)
    result = delinquency.inactivate_due(db, POLICY, [ids["due"]], TUESDAY)
    assert result.skipped == {ids["due"]: "already inactive"}


def test_a_payment_racing_the_sweep_never_leaves_a_paid_customer_inactive(db):
    import threading

    from workflow.services import billing

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
                billing.apply_event(db, billing.InvoiceEvent(f"race-{round_}", "invoice.paid", external, cid, None,
                                                             None, None, None), today=TUESDAY)
            except Exception as error:  # noqa: BLE001
                errors.append(error)

        threads = [threading.Thread(target=sweep), threading.Thread(target=pay)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        with db.read() as session:
            row = session.get(Customer, cid)
            outcomes.append(session.query(StatusChange).filter_by(customer_id=cid).count())
            assert row.status == "active", f"round {round_}: paid but {row.status}"
        with db.write() as session:  # next round on a fresh customer slot
            session.execute(update(Customer).where(Customer.id == cid).values(document=f"9000000000{round_}"))
    # Either order happened: no cut (paid first) or a cut then a reactivation by the payment.
    assert all(n in (0, 2) for n in outcomes)
