"""The collection ladder's job, payments, acknowledgements and the snooze timer on SQLite and
PostgreSQL (on PostgreSQL with RADIUS in the main database: the login's group moves in the same
transaction): each step is a recorded change with its effects in the outbox, and nothing else
moves a customer along the ladder or leaves one behind on it."""

import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, text, update

from tests.conftest import VALID_CPFS, add_invoice, empty_tables
from workflow.db.engine import Database
from workflow.db.models import Customer, Invoice, OutboxEffect, Plan, StatusChange
from workflow.db.types import utcnow
from workflow.domain.delinquency import Ladder, Policy
from workflow.domain.errors import GuardFailed
from workflow.domain.vocabulary import Role, Source
from workflow.settings import Settings, get_settings
from workflow.usecases import billing, customer_services, customers, delinquency, ladder
from workflow.usecases.radius import enforcement
from workflow.usecases.transitions import Actor

TUESDAY = date(2026, 12, 1)
OPERATOR = Actor("token:ops", Role.OPERATOR)
# Every day a cut day, a cent's minimum: the dates below are the ladder's, not the calendar's.
POLICY = Policy(15, Decimal("0.01"), frozenset(), lambda day: None, Ladder(notice_after_days=5, reduce_after_days=10))


@pytest.fixture
def used(db) -> Settings:
    get_settings.cache_clear()
    settings = get_settings()
    with db.write_core() as conn:
        enforcement.sync_configuration(conn, settings)
    return settings


def radius_on(db: Database) -> bool:
    return db.engine.dialect.name == "postgresql"


def subscriber(db: Database, n: int, **draft) -> tuple[int, str, int]:
    """A customer with one active service holding a login on a plan: (customer id, login, plan id)."""
    now = utcnow()
    login = f"cliente{n}"
    with db.write() as session:
        plan = Plan(
            name=f"Fibra {n}",
            name_key=f"fibra {n}",
            download_kbps=8000,
            upload_kbps=2000,
            created_at=now,
            updated_at=now,
        )
        session.add(plan)
        session.flush()
        plan_id = plan.id
    with db.write() as session:
        cid = customers.create_customer(session, customers.CustomerDraft(f"Cliente {n}", VALID_CPFS[n], **draft)).id
    with db.write() as session:
        customer_services.add_service(
            session, cid, "Fibra", f"svc-{n}", customer_services.Access(login, "senha-1", plan_id)
        )
    return cid, login, plan_id


def row(db: Database, cid: int) -> Customer:
    with db.read() as session:
        return session.get(Customer, cid)


def history(db: Database, cid: int) -> list[StatusChange]:
    with db.read() as session:
        return list(
            session.scalars(select(StatusChange).where(StatusChange.customer_id == cid).order_by(StatusChange.id))
        )


def effects_of(db: Database, transition_id: int) -> list[str]:
    with db.read() as session:
        return list(
            session.scalars(
                select(OutboxEffect.name).where(OutboxEffect.transition_id == transition_id).order_by(OutboxEffect.id)
            )
        )


def group(db: Database, login: str) -> list[str]:
    with db.read() as session:
        return list(session.scalars(text("SELECT groupname FROM radusergroup WHERE username = :u"), {"u": login}))


def expect_group(db: Database, login: str, name: str) -> None:
    if radius_on(db):
        assert group(db, login) == [name]


def session_effect(db: Database, transition_id: int) -> list[str]:
    """The session effect a ladder change queued for the login (RADIUS on), else none."""
    return [name for name in effects_of(db, transition_id) if name.startswith("radius_")]


def pay(db: Database, cid: int, invoice_id: int, webhook_id: str, amount: str | None = None, today=TUESDAY):
    with db.read() as session:
        external = session.get(Invoice, invoice_id).external_id
    return billing.apply_event(
        db,
        billing.InvoiceEvent(
            webhook_id, "invoice.paid", external, cid, None, None if amount is None else Decimal(amount), None, None
        ),
        today=today,
    )


def set_columns(db: Database, cid: int, **values) -> None:
    with db.write() as session:
        session.execute(update(Customer).where(Customer.id == cid).values(**values))


def test_each_step_is_a_recorded_change_taken_once(db, used):
    cid, login, plan = subscriber(db, 0)
    add_invoice(db, cid, days_overdue=6, amount="120.00", today=TUESDAY)
    expect_group(db, login, f"ativa_plano_{plan}")
    version = row(db, cid).version

    run = ladder.advance_ladder(db, POLICY, TUESDAY, used)
    assert (run.advanced, run.cleared, run.kept) == ({cid: "notice"}, [], {})
    customer = row(db, cid)
    assert (customer.status, customer.delinquency_stage, customer.version) == ("active", "notice", version + 1)
    [step] = history(db, cid)[-1:]
    assert (step.event, step.reason, step.source, step.actor) == (
        "advance_stage",
        "delinquency",
        "scheduler",
        "scheduler",
    )
    assert (step.from_status, step.to_status, step.delinquency_stage, step.customer_version) == (
        "active",
        "active",
        "notice",
        version + 1,
    )
    assert "etapa aviso" in step.note and "R$ 120,00" in step.note
    assert effects_of(db, step.id)[0] == "notify_stage"
    assert session_effect(db, step.id) == (["radius_coa"] if radius_on(db) else [])
    expect_group(db, login, f"ativa_plano_{plan}_aviso")

    # The same day again: nothing to do.
    count = len(history(db, cid))
    again = ladder.advance_ladder(db, POLICY, TUESDAY, used)
    assert (again.advanced, again.cleared, again.kept) == ({}, [], {})
    assert (len(history(db, cid)), row(db, cid).version) == (count, version + 1)

    # Five days later, past the reduction's days: the next step, once.
    later = TUESDAY + timedelta(days=5)
    assert ladder.advance_ladder(db, POLICY, later, used).advanced == {cid: "reduced"}
    step = history(db, cid)[-1]
    assert (step.event, step.reason, step.delinquency_stage, step.customer_version) == (
        "advance_stage",
        "delinquency",
        "reduced",
        version + 2,
    )
    assert effects_of(db, step.id)[0] == "notify_stage"
    # Off the notice list: a Disconnect (a CoA cannot be trusted to take an address off a list).
    assert session_effect(db, step.id) == (["radius_disconnect"] if radius_on(db) else [])
    expect_group(db, login, f"ativa_plano_{plan}_reduzido")
    assert ladder.advance_ladder(db, POLICY, later, used).advanced == {}
    assert (row(db, cid).delinquency_stage, row(db, cid).version) == ("reduced", version + 2)


def test_a_late_job_goes_straight_to_the_rules_stage(db, used):
    cid, login, plan = subscriber(db, 0)
    add_invoice(db, cid, days_overdue=12, today=TUESDAY)
    assert ladder.advance_ladder(db, POLICY, TUESDAY, used).advanced == {cid: "reduced"}
    assert [h.event for h in history(db, cid)] == ["advance_stage"]
    expect_group(db, login, f"ativa_plano_{plan}_reduzido")


def test_exempt_held_and_trust_unlocked_customers_do_not_move(db, used):
    exempt, _, _ = subscriber(db, 0, auto_block_exempt=True)
    held, _, _ = subscriber(db, 1)
    unlocked, _, _ = subscriber(db, 2)
    below, _, _ = subscriber(db, 3)
    set_columns(db, held, forced_hold_until=TUESDAY)
    set_columns(db, unlocked, trust_unlock_until=utcnow() + timedelta(days=1), trust_unlocks_used=1)
    for cid in (exempt, held, unlocked):
        add_invoice(db, cid, days_overdue=12, today=TUESDAY)
    add_invoice(db, below, days_overdue=12, amount="0.00", today=TUESDAY)  # nothing owed
    run = ladder.advance_ladder(db, POLICY, TUESDAY, used)
    assert (run.advanced, run.cleared, run.kept) == ({}, [], {})
    assert all(
        row(db, cid).delinquency_stage == "none" and history(db, cid) == [] for cid in (exempt, held, unlocked, below)
    )
    # The hold's last day passed: the held customer moves.
    assert ladder.advance_ladder(db, POLICY, TUESDAY + timedelta(days=1), used).advanced == {held: "reduced"}


def test_a_customer_made_exempt_at_a_stage_is_cleared_at_once_with_reason_delinquency(db, used):
    cid, login, plan = subscriber(db, 0)
    add_invoice(db, cid, days_overdue=12, today=TUESDAY)
    assert ladder.advance_ladder(db, POLICY, TUESDAY, used).advanced == {cid: "reduced"}
    with db.write() as session:
        saved = customers.edit_customer(
            session, cid, customers.CustomerEdit({"auto_block_exempt": True}), OPERATOR, Source.API
        )
    # The save itself takes the customer off the ladder, in its transaction: nothing left for the job.
    assert saved.transition is not None and saved.customer.delinquency_stage == "none"
    run = ladder.advance_ladder(db, POLICY, TUESDAY, used)
    assert (run.advanced, run.cleared) == ({}, [])
    step = history(db, cid)[-1]
    assert (step.event, step.reason, step.source, step.delinquency_stage) == (
        "clear_stage",
        "delinquency",
        "api",
        "none",
    )
    assert effects_of(db, step.id)[0] == "notify_stage"
    assert row(db, cid).delinquency_stage == "none"
    expect_group(db, login, f"ativa_plano_{plan}")
    assert ladder.advance_ladder(db, POLICY, TUESDAY, used).cleared == []


@pytest.mark.parametrize("stage_days", [6, 12])
def test_a_payment_clears_any_stage_at_once(db, used, stage_days):
    cid, login, plan = subscriber(db, 0)
    invoice = add_invoice(db, cid, days_overdue=stage_days, amount="99.90", today=TUESDAY)
    add_invoice(db, cid, days_overdue=-3, amount="99.90", today=TUESDAY)  # not due yet: owes nothing past due
    stage = ladder.advance_ladder(db, POLICY, TUESDAY, used).advanced[cid]
    before = row(db, cid).version

    outcome = pay(db, cid, invoice, f"paid-{stage_days}")
    assert (outcome.stage_cleared, outcome.reactivated) == (True, False)
    customer = row(db, cid)
    assert (customer.status, customer.delinquency_stage, customer.notice_snoozed_until) == ("active", "none", None)
    assert customer.version == before + 1
    step = history(db, cid)[-1]
    assert (step.id, step.event, step.reason, step.source, step.delinquency_stage) == (
        outcome.transition_id,
        "clear_stage",
        "payment_received",
        "billing",
        "none",
    )
    assert effects_of(db, step.id)[0] == "notify_stage"
    # Off the notice list: Disconnect; back from the reduction: CoA.
    packet = "radius_disconnect" if stage == "notice" else "radius_coa"
    assert session_effect(db, step.id) == ([packet] if radius_on(db) else [])
    expect_group(db, login, f"ativa_plano_{plan}")
    assert ladder.advance_ladder(db, POLICY, TUESDAY, used).advanced == {}


def test_a_cancelled_invoice_clears_the_stage_when_nothing_else_is_past_due(db, used):
    cid, login, plan = subscriber(db, 0)
    first = add_invoice(db, cid, days_overdue=12, today=TUESDAY)
    second = add_invoice(db, cid, days_overdue=8, today=TUESDAY)
    assert ladder.advance_ladder(db, POLICY, TUESDAY, used).advanced == {cid: "reduced"}
    with db.read() as session:
        externals = [session.get(Invoice, i).external_id for i in (first, second)]

    def cancel(external: str, webhook_id: str):
        return billing.apply_event(
            db,
            billing.InvoiceEvent(webhook_id, "invoice.cancelled", external, cid, None, None, None, None),
            today=TUESDAY,
        )

    assert cancel(externals[0], "cancel-1").stage_cleared is False  # the second is still past due
    assert row(db, cid).delinquency_stage == "reduced"
    assert cancel(externals[1], "cancel-2").stage_cleared is True
    step = history(db, cid)[-1]
    assert (step.event, step.reason, step.source, row(db, cid).delinquency_stage) == (
        "clear_stage",
        "payment_received",
        "billing",
        "none",
    )
    expect_group(db, login, f"ativa_plano_{plan}")


def test_a_partial_payment_does_not_undo_a_step(db, used):
    cid, login, plan = subscriber(db, 0)
    oldest = add_invoice(db, cid, days_overdue=12, amount="100.00", today=TUESDAY)
    newer = add_invoice(db, cid, days_overdue=7, amount="100.00", today=TUESDAY)
    assert ladder.advance_ladder(db, POLICY, TUESDAY, used).advanced == {cid: "reduced"}
    count = len(history(db, cid))

    # Part of the oldest: still past due.
    assert pay(db, cid, oldest, "part", amount="40.00").stage_cleared is False
    # The oldest paid: the rule asks for the notice now, but a step waits for the payment.
    assert pay(db, cid, oldest, "oldest").stage_cleared is False
    run = ladder.advance_ladder(db, POLICY, TUESDAY, used)
    assert (run.advanced, run.cleared) == ({}, [])
    assert (row(db, cid).delinquency_stage, len(history(db, cid))) == ("reduced", count)
    expect_group(db, login, f"ativa_plano_{plan}_reduzido")
    # The last one paid: back to the plan.
    assert pay(db, cid, newer, "newer").stage_cleared is True
    assert row(db, cid).delinquency_stage == "none"
    expect_group(db, login, f"ativa_plano_{plan}")


def test_the_cut_resets_the_stage_and_the_payment_returns_the_plan(db, used):
    cid, _, _ = subscriber(db, 0)
    invoice = add_invoice(db, cid, days_overdue=20, today=TUESDAY)
    assert ladder.advance_ladder(db, POLICY, TUESDAY, used).advanced == {cid: "reduced"}
    assert delinquency.run_sweep(db, POLICY, TUESDAY, batch_size=10).inactivated == [cid]
    customer = row(db, cid)
    assert (customer.status, customer.delinquency_stage, customer.notice_snoozed_until) == ("inactive", "none", None)
    cut = history(db, cid)[-1]
    assert (cut.event, cut.delinquency_stage) == ("inactivate", None)
    assert ladder.advance_ladder(db, POLICY, TUESDAY, used).advanced == {}  # an inactive customer has no ladder

    outcome = pay(db, cid, invoice, "after-cut")
    assert outcome.reactivated is True
    customer = row(db, cid)
    assert (customer.status, customer.delinquency_stage) == ("active", "none")


def test_an_acknowledged_notice_comes_back_when_its_snooze_is_over(db, used):
    cid, login, plan = subscriber(db, 0)
    add_invoice(db, cid, days_overdue=6, today=TUESDAY)
    ladder.advance_ladder(db, POLICY, TUESDAY, used)

    outcome = ladder.acknowledge_notice(db, cid, TUESDAY, "Continuar navegando")
    snoozed = row(db, cid).notice_snoozed_until
    assert snoozed is not None and timedelta(hours=23) < snoozed - utcnow() <= timedelta(hours=24)
    step = history(db, cid)[-1]
    assert (step.id, step.event, step.reason, step.source, step.delinquency_stage) == (
        outcome.transition.id,
        "acknowledge_notice",
        "delinquency",
        "notice_page",
        "notice",
    )
    assert effects_of(db, step.id) == (["radius_disconnect"] if radius_on(db) else [])  # off the list: no billing
    expect_group(db, login, f"ativa_plano_{plan}")
    with pytest.raises(GuardFailed) as refused:
        ladder.acknowledge_notice(db, cid, TUESDAY, "de novo")
    assert refused.value.rule == "notice_already_acknowledged"

    # The snooze runs on: the timer leaves it.
    assert ladder.resume_notices(db, TUESDAY).resumed == []
    set_columns(db, cid, notice_snoozed_until=utcnow() - timedelta(seconds=1))
    run = ladder.resume_notices(db, TUESDAY)
    assert (run.resumed, run.kept) == ([cid], {})
    customer = row(db, cid)
    assert (customer.delinquency_stage, customer.notice_snoozed_until) == ("notice", None)
    step = history(db, cid)[-1]
    assert (step.event, step.reason, step.source, step.delinquency_stage) == (
        "resume_notice",
        "delinquency",
        "scheduler",
        "notice",
    )
    assert effects_of(db, step.id) == (["radius_coa"] if radius_on(db) else [])
    expect_group(db, login, f"ativa_plano_{plan}_aviso")
    assert ladder.resume_notices(db, TUESDAY).resumed == []


def test_an_acknowledgement_is_refused_off_the_notice(db, used):
    cid, _, _ = subscriber(db, 0)
    with pytest.raises(GuardFailed) as refused:
        ladder.acknowledge_notice(db, cid, TUESDAY, "n")
    assert refused.value.rule == "not_on_notice"
    add_invoice(db, cid, days_overdue=12, today=TUESDAY)
    ladder.advance_ladder(db, POLICY, TUESDAY, used)
    with pytest.raises(GuardFailed) as refused:
        ladder.acknowledge_notice(db, cid, TUESDAY, "n")
    assert refused.value.rule == "not_on_notice"
    assert [h.event for h in history(db, cid)] == ["advance_stage"]


# -- a payment racing the stage change ------------------------------------------------------------


@pytest.mark.postgres
def test_a_payment_racing_a_step_leaves_no_stage_behind(postgres_url, pg_db):
    get_settings.cache_clear()
    used = get_settings()
    with pg_db.write_core() as conn:
        enforcement.sync_configuration(conn, used)
    database = Database(postgres_url, pool_size=4)
    try:
        for round_ in range(8):
            empty_tables(database)
            cid, login, plan = subscriber(database, 0)
            # Two steps apart on alternate rounds: the notice, or straight to the reduction.
            invoice = add_invoice(database, cid, days_overdue=6 if round_ % 2 else 12, today=TUESDAY)
            start = threading.Barrier(2)
            errors: list[BaseException] = []

            def step():
                start.wait()
                try:
                    ladder.advance_ladder(database, POLICY, TUESDAY, used)
                except BaseException as error:  # noqa: BLE001 - reported by the test
                    errors.append(error)

            def payment():
                start.wait()
                try:
                    pay(database, cid, invoice, f"race-{round_}")
                except BaseException as error:  # noqa: BLE001 - reported by the test
                    errors.append(error)

            threads = [threading.Thread(target=step), threading.Thread(target=payment)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            assert not any(t.is_alive() for t in threads), "a thread hung"
            assert errors == []
            customer = row(database, cid)
            assert (customer.status, customer.delinquency_stage, customer.notice_snoozed_until) == (
                "active",
                "none",
                None,
            ), f"round {round_}"
            assert group(database, login) == [f"ativa_plano_{plan}"], f"round {round_}"
            events = [h.event for h in history(database, cid)]
            # Paid first (nothing to do), or the step then the payment's clearing.
            assert events in ([], ["advance_stage", "clear_stage"]), f"round {round_}: {events}"
    finally:
        database.dispose()
