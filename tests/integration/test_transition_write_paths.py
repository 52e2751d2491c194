"""PostgreSQL's one-statement write of a transition (data-modifying CTEs) writes exactly what the
generic statements write: the same customer row, history row and outbox rows, column by column.

Two customers in the same state get the same decided transition at the same instant, one through
each path; their rows must be equal but for the ids that tie them together. The cases cover every
column a transition sets: a return date, a forced activation's hold (which also starts a new
warning episode), a trust unlock, a note, a plain activation. Also: the hot statements on the
driver's cursor read what Connection.execute reads, and their errors are SQLAlchemy's.
"""

from dataclasses import fields
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from tests.conftest import VALID_CPFS, add_invoice
from workflow.db.driver import DriverStatement
from workflow.db.models import Customer, OutboxEffect, StatusChange
from workflow.db.types import utcnow
from workflow.domain.customer_machine import KEPT_STATUS_REASONS, TransitionRequest
from workflow.domain.vocabulary import CustomerEvent, Role, Source
from workflow.usecases import customer_locks, customers, transitions
from workflow.usecases.written_rows import CustomerRow, OutboxEffectRow, StatusChangeRow

OPERATOR = transitions.Actor("token:ops", Role.OPERATOR)
TODAY = date(2026, 12, 1)
DELINQUENT = {"status": "inactive", "inactivation_reason": "delinquency", "warned_for_due": date(2026, 11, 20)}

CASES = {
    "suspension with a return date": (
        {},
        CustomerEvent.INACTIVATE,
        0,
        TransitionRequest(
            "customer_request", None, force=False, actor_role=Role.OPERATOR, until=TODAY + timedelta(days=9)
        ),
    ),
    "inactivation for another reason, with a note": (
        {"warned_for_due": date(2026, 11, 20)},
        CustomerEvent.INACTIVATE,
        0,
        TransitionRequest("other", "  contrato em revisão ", force=False, actor_role=Role.OPERATOR),
    ),
    "forced activation with a hold": (
        DELINQUENT,
        CustomerEvent.ACTIVATE,
        2,
        TransitionRequest(
            "manual", "pagará na sexta", force=True, actor_role=Role.OPERATOR, hold_until=TODAY + timedelta(days=5)
        ),
    ),
    "forced activation with the default hold": (
        DELINQUENT,
        CustomerEvent.ACTIVATE,
        1,
        TransitionRequest("manual", "acordo verbal", force=True, actor_role=Role.ADMIN),
    ),
    "trust unlock": (
        {**DELINQUENT, "trust_unlocks_used": 0},
        CustomerEvent.ACTIVATE,
        1,
        TransitionRequest("trust_unlock", None, force=False, actor_role=Role.OPERATOR, days=2),
    ),
    "a change that keeps the status and has no effects (the end of a hold)": (
        {"forced_hold_until": TODAY + timedelta(days=2), "warned_for_due": date(2026, 11, 20)},
        CustomerEvent.END_FORCED_HOLD,
        0,
        TransitionRequest(
            KEPT_STATUS_REASONS[CustomerEvent.END_FORCED_HOLD], None, actor_role=Role.ADMIN, automatic=True
        ),
    ),
    "a return date rescheduled (keeps the status)": (
        {"status": "inactive", "inactivation_reason": "customer_request", "return_on": TODAY + timedelta(days=3)},
        CustomerEvent.RESCHEDULE_RETURN,
        0,
        TransitionRequest(
            KEPT_STATUS_REASONS[CustomerEvent.RESCHEDULE_RETURN],
            None,
            actor_role=Role.OPERATOR,
            until=TODAY + timedelta(days=20),
        ),
    ),
    "plain activation": (
        {"status": "inactive", "inactivation_reason": "customer_request", "return_on": TODAY + timedelta(days=3)},
        CustomerEvent.ACTIVATE,
        0,
        TransitionRequest("manual", None, force=False, actor_role=Role.OPERATOR),
    ),
}


def _customer(db, n: int, fields: dict) -> int:
    with db.write() as session:
        cid = customers.create_customer(session, customers.CustomerDraft(f"Cliente {n}", VALID_CPFS[n])).id
        # One status time for both customers of a case: a change that keeps the status keeps it.
        session.execute(
            update(Customer)
            .where(Customer.id == cid)
            .values({"status_changed_at": datetime(2026, 11, 2, 15, tzinfo=UTC), **fields})
        )
    return cid


def _written(db, cid: int) -> tuple[dict, list[dict], list[dict]]:
    """The customer's row, history rows and outbox rows, every column."""
    with db.read() as session:
        conn = session.connection()
        customer = conn.execute(select(Customer.__table__).where(Customer.id == cid)).one()._asdict()
        history = [
            row._asdict()
            for row in conn.execute(
                select(StatusChange.__table__).where(StatusChange.customer_id == cid).order_by(StatusChange.id)
            )
        ]
        effects = [
            row._asdict()
            for row in conn.execute(
                select(OutboxEffect.__table__).where(OutboxEffect.customer_id == cid).order_by(OutboxEffect.id)
            )
        ]
    return customer, history, effects


def _write(db, cid: int, event, request, overdue: int, now, *, one_statement: bool):
    with db.write() as session:
        conn = session.connection()
        row = customer_locks.lock_customer_row(conn, cid)
        decision = transitions.decide(
            cid, transitions.state_of(row), event, request, transitions.guard_facts(overdue, now, TODAY)
        )
        change = transitions.history_row(
            cid, row.version + 1, event, row.status, decision, request, OPERATOR, Source.API, now
        )
        new_episode = decision.state.forced_hold_until not in (None, row.forced_hold_until)
        return transitions.write_transition(
            conn, cid, decision, change, now, new_warning_episode=new_episode, one_statement=one_statement
        )


def _without_ids(customer: dict, history: list[dict], effects: list[dict]):
    """The rows with what differs between two customers by construction (ids, name, document,
    creation time)
    left out; the ties between them (history -> customer, outbox -> history) checked instead."""
    assert all(change["customer_id"] == customer["id"] for change in history)
    assert all(effect["transition_id"] in {change["id"] for change in history} for effect in effects)
    assert all(effect["customer_id"] == customer["id"] for effect in effects)
    drop = {"id", "customer_id", "transition_id"}
    return (
        {k: v for k, v in customer.items() if k not in drop | {"name", "document", "created_at"}},
        [{k: v for k, v in change.items() if k not in drop} for change in history],
        [{k: v for k, v in effect.items() if k not in drop} for effect in effects],
    )


@pytest.mark.parametrize("case", list(CASES))
def test_the_one_statement_write_writes_what_the_generic_statements_write(pg_db, case):
    fields, event, overdue, request = CASES[case]
    generic, single = _customer(pg_db, 0, fields), _customer(pg_db, 1, fields)
    now = utcnow()
    change_id, effects = _write(pg_db, generic, event, request, overdue, now, one_statement=False)
    one_change_id, one_effects = _write(pg_db, single, event, request, overdue, now, one_statement=True)

    written_generic, written_single = _written(pg_db, generic), _written(pg_db, single)
    assert _without_ids(*written_single) == _without_ids(*written_generic)
    # Each path returns the ids of the rows it wrote, each effect with its own row's id.
    for returned_change, returned_effects, (_, history, rows) in (
        (change_id, effects, written_generic),
        (one_change_id, one_effects, written_single),
    ):
        assert [change["id"] for change in history] == [returned_change]
        assert {e["id"]: e["name"] for e in returned_effects} == {r["id"]: r["name"] for r in rows}
        assert [e["name"] for e in returned_effects] == [r["name"] for r in rows]  # ids in effect order
    if request.force:
        assert written_single[0]["warned_for_due"] is None and written_single[1][0]["forced"]


def test_transition_customer_takes_the_one_statement_path_and_its_outcome_is_what_was_written(pg_db):
    cid = _customer(pg_db, 2, DELINQUENT)
    add_invoice(pg_db, cid, days_overdue=40, today=TODAY)
    request = TransitionRequest("manual", "pagará amanhã", force=True, actor_role=Role.OPERATOR)
    with pg_db.write() as session:
        outcome = transitions.transition_customer(
            session, cid, CustomerEvent.ACTIVATE, request, OPERATOR, Source.API, today=TODAY
        )
    customer, history, effects = _written(pg_db, cid)
    assert outcome.transition.forced and outcome.customer.forced_hold_until is not None
    assert CustomerRow(**customer) == outcome.customer
    assert [StatusChangeRow(**change) for change in history] == [outcome.transition]
    effect_columns = {field.name for field in fields(OutboxEffectRow)}
    assert [
        OutboxEffectRow(**{k: v for k, v in row.items() if k in effect_columns}) for row in effects
    ] == outcome.effects


def test_a_statement_on_the_driver_reads_what_connection_execute_reads(pg_db):
    cid = _customer(pg_db, 3, {"trust_unlock_until": utcnow() + timedelta(days=1), "return_on": TODAY})
    with pg_db.write() as session:
        conn = session.connection()
        by_driver = customer_locks.lock_customer_row(conn, cid)
        by_sqlalchemy = conn.execute(customer_locks.LOCK_CUSTOMER, {"customer_id": cid}).one()
    assert by_driver._asdict() == by_sqlalchemy._asdict()
    assert by_driver.created_at.tzinfo is not None and by_driver.created_at.utcoffset() == timedelta(0)
    assert by_driver.trust_unlock_until.utcoffset() == timedelta(0)


def test_an_error_on_the_driver_is_sqlalchemy_s_and_the_unit_rolls_back(pg_db):
    cid = _customer(pg_db, 4, {})
    twice = DriverStatement(
        text(
            "INSERT INTO status_changes (customer_id, customer_version, event, from_status, to_status, "
            "reason, forced, actor, source, created_at) VALUES "
            "(:c, 1, 'inactivate', 'active', 'inactive', 'other', false, 't', 'api', now()), "
            "(:c, 1, 'inactivate', 'active', 'inactive', 'other', false, 't', 'api', now())"
        )
    )
    with pytest.raises(IntegrityError, match="uq_status_changes_version"), pg_db.write() as session:
        twice.rows(session.connection(), {"c": cid})
    with pg_db.read() as session:
        assert session.scalar(select(StatusChange.id).where(StatusChange.customer_id == cid)) is None


def test_a_connection_lost_under_a_driver_statement_is_invalidated_as_under_sqlalchemy(pg_db, postgres_url):
    """reconnect.lost_connection() must recognise it, so that the request is run again."""
    from sqlalchemy.engine import make_url

    from tests.support import wait_for
    from workflow.db.reconnect import lost_connection

    cid = _customer(pg_db, 0, {})
    with pg_db.engine.connect() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        dsn = make_url(postgres_url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
            wait_for(
                lambda: not admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()[0],
                what="the backend to end",
            )
        with pytest.raises(DBAPIError) as raised:
            customer_locks.lock_customer_row(conn, cid)
        assert conn.invalidated
    assert raised.value.connection_invalidated and lost_connection(raised.value)
    with pg_db.write() as session:  # the pool hands out a live connection again
        assert customer_locks.lock_customer_row(session.connection(), cid).id == cid


def test_the_overdue_count_sent_with_the_lock_sees_what_was_committed_while_it_waited(pg_db):
    """The lock and the count go out together (one round trip); the count must still read after
    the lock is granted: an overdue invoice committed by the lock's holder is counted, so a cut for
    delinquency is allowed. (Counted in the lock's snapshot, it would be refused: no overdue invoice.)"""
    import threading

    from workflow.db.models import Invoice

    cid = _customer(pg_db, 1, {})
    holder_has_lock, outcome = threading.Event(), {}

    def cut() -> None:
        holder_has_lock.wait(10)
        request = TransitionRequest("delinquency", None, actor_role=Role.ADMIN)
        try:
            with pg_db.write() as session:
                outcome["cut"] = transitions.transition_customer(
                    session, cid, CustomerEvent.INACTIVATE, request, OPERATOR, Source.API, today=TODAY
                )
        except Exception as error:  # noqa: BLE001 - surfaced by the assertion below
            outcome["error"] = error

    cutter = threading.Thread(target=cut)
    cutter.start()
    with pg_db.write() as session:
        customer_locks.lock_customer_row(session.connection(), cid)
        holder_has_lock.set()
        wait_until_blocked = datetime.now(UTC) + timedelta(seconds=10)
        while (
            datetime.now(UTC) < wait_until_blocked
            and not session.execute(
                text("SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'")
            ).scalar_one()
        ):
            pass
        session.add(
            Invoice(
                customer_id=cid,
                external_id="late-1",
                amount=100,
                amount_paid=0,
                due_date=TODAY - timedelta(days=30),
                status="open",
            )
        )
    cutter.join(20)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["cut"].customer.status == "inactive"
    assert outcome["cut"].transition.reason == "delinquency"
