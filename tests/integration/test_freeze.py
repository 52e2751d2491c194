"""The freeze of automatic cuts on SQLite and PostgreSQL: the sweep, trust-unlock expiry and the
ladder's steps stop while it holds; people and payments do not; every change is recorded; a
payment silence trips it."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import holidays
import pytest
from sqlalchemy import insert, select, update

from tests.conftest import VALID_CNPJ, VALID_CPFS, add_invoice
from workflow.db.models import BillingEvent, Customer, FreezeChange
from workflow.domain.customer_machine import TransitionRequest
from workflow.domain.delinquency import Policy, parse_weekdays
from workflow.domain.errors import InvalidInput
from workflow.domain.freeze import PAYMENT_SILENCE
from workflow.domain.vocabulary import CustomerEvent, Role, Source
from workflow.settings import get_settings
from workflow.usecases import customers, delinquency, freeze, transitions

TUESDAY = date(2026, 12, 1)
POLICY = Policy(15, Decimal("50.00"), parse_weekdays("sat,sun"), holidays.country_holidays("BR").get)


def _due_customer(db, n: int) -> int:
    with db.write() as session:
        customer_id = customers.create_customer(session, customers.CustomerDraft(f"C{n}", VALID_CPFS[n])).id
    add_invoice(db, customer_id, days_overdue=30, amount="80.00", today=TUESDAY)
    return customer_id


def _status(db, customer_id: int) -> str:
    with db.read() as session:
        return session.get(Customer, customer_id).status


def test_a_freeze_stops_the_sweep_and_its_batches(db):
    due = _due_customer(db, 0)
    freeze.freeze_cuts(db, "banco fora do ar", None, "user:maria", Source.UI)
    run = delinquency.run_sweep(db, POLICY, TUESDAY, 200)
    assert run.frozen is not None and run.frozen.reason == "banco fora do ar"
    assert run.inactivated == [] and run.candidates == 0
    # A batch already handed out before the freeze is stopped by its own check.
    batch = delinquency.inactivate_due(db, POLICY, [due], TUESDAY)
    assert batch.inactivated == [] and "frozen" in batch.skipped[due]
    assert _status(db, due) == "active"

    assert freeze.lift_freeze(db, "user:maria", Source.UI) is not None
    assert freeze.lift_freeze(db, "user:maria", Source.UI) is None  # nothing left to lift
    assert delinquency.run_sweep(db, POLICY, TUESDAY, 200).inactivated == [due]
    with db.read() as session:
        actions = session.scalars(select(FreezeChange.action).order_by(FreezeChange.id)).all()
    assert actions == ["on", "off"]


def test_people_still_cut_by_hand_while_frozen(db):
    due = _due_customer(db, 1)
    freeze.freeze_cuts(db, "auditoria", None, "user:maria", Source.UI)
    with db.write() as session:
        transitions.transition_customer(
            session,
            due,
            CustomerEvent.INACTIVATE,
            TransitionRequest("delinquency", None, actor_role=Role.OPERATOR),
            transitions.Actor("user:joao", Role.OPERATOR),
            Source.UI,
        )
    assert _status(db, due) == "inactive"


def test_a_freeze_past_its_last_day_no_longer_holds(db):
    due = _due_customer(db, 2)
    today = freeze.provider_today()
    freeze.freeze_cuts(db, "feriado bancário", today, "cli:root", Source.CLI)
    assert freeze.lift_expired(db, today) is False
    assert freeze.lift_expired(db, today + timedelta(days=1)) is True
    assert delinquency.run_sweep(db, POLICY, TUESDAY, 200).inactivated == [due]


def _paid_events(db, times: list[datetime]) -> None:
    with db.write() as session:
        customer_id = customers.create_customer(session, customers.CustomerDraft("Pagador", VALID_CNPJ)).id
        session.execute(
            insert(BillingEvent),
            [
                {
                    "webhook_id": f"evt-{n}",
                    "type": "invoice.paid",
                    "customer_id": customer_id,
                    "invoice_external_id": f"inv-{n}",
                    "outcome": "paid",
                    "received_at": at,
                }
                for n, at in enumerate(times)
            ],
        )


@pytest.mark.parametrize("paid_today", [False, True])
def test_a_payment_silence_trips_the_freeze(db, paid_today):
    # Wednesday 2026-12-02, 15:00 in São Paulo (18:00 UTC): the last 24 business hours (whole
    # weekdays by default) reach back to Tuesday 15:00; each of the previous four weeks had 25
    # payments in those hours (their Wednesdays at 13:00).
    now = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)
    times = [now - timedelta(weeks=week, hours=2) for week in range(1, 5) for _ in range(25)]
    if paid_today:
        times.append(now - timedelta(hours=5))  # this morning: the bank is alive
    _paid_events(db, times)
    settings = get_settings()
    tripped = freeze.trip_on_payment_silence(db, settings, now)
    if paid_today:
        assert tripped is None
        return
    assert tripped is not None and tripped.reason == PAYMENT_SILENCE
    with db.read() as session:
        change = session.scalars(select(FreezeChange)).one()
    assert change.action == "tripped" and change.alert_state == "pending" and "no payment" in change.detail
    assert freeze.trip_on_payment_silence(db, settings, now) is None  # already frozen


def test_a_lift_during_a_silence_holds_until_a_new_silence(db):
    """A person who lifts the automatic freeze has judged that silence: the next run does not trip
    it again; only a window that opens after the lift can."""
    now = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)
    _paid_events(db, [now - timedelta(weeks=week, hours=2) for week in range(1, 5) for _ in range(25)])
    settings = get_settings()
    assert freeze.trip_on_payment_silence(db, settings, now) is not None
    freeze.lift_freeze(db, "user:maria", Source.UI)
    with db.write() as session:  # lifted half a minute after the trip, on the test's clock
        session.execute(
            update(FreezeChange).where(FreezeChange.action == "off").values(created_at=now + timedelta(seconds=30))
        )
    assert freeze.trip_on_payment_silence(db, settings, now + timedelta(minutes=1)) is None
    # A lift from before this window opened (Tuesday 15:00) was about another silence.
    with db.write() as session:
        session.execute(
            update(FreezeChange).where(FreezeChange.action == "off").values(created_at=now - timedelta(days=2))
        )
    assert freeze.trip_on_payment_silence(db, settings, now + timedelta(minutes=2)) is not None
    with db.read() as session:
        actions = session.scalars(select(FreezeChange.action).order_by(FreezeChange.id)).all()
    assert actions == ["tripped", "off", "tripped"]


def test_people_cannot_pass_for_the_automatic_freeze(db):
    with pytest.raises(InvalidInput):
        freeze.freeze_cuts(db, " Payment_Silence ", None, "user:maria", Source.UI)
    with db.read() as session:
        assert freeze.read_state(session).freeze is None
