"""The transition use case on SQLite and PostgreSQL: what one transaction writes, and what it refuses."""

import pytest
from sqlalchemy import func, select, text

from tests.conftest import VALID_CPFS, add_invoice
from workflow.db.models import Customer, OutboxEffect, StatusChange
from workflow.domain.customer_machine import TransitionRequest
from workflow.domain.errors import (
    CustomerInactive,
    GuardFailed,
    NotFound,
    StaleVersion,
    TransitionNotAllowed,
    UnknownStoredStatus,
)
from workflow.domain.vocabulary import CustomerEvent, Role, ServiceEvent, Source
from workflow.usecases import customer_services, customers, transitions

OPERATOR = transitions.Actor("token:ops", Role.OPERATOR)


def new_customer(db, n=0) -> int:
    with db.write() as session:
        return customers.create_customer(session, customers.CustomerDraft(f"Cliente {n}", VALID_CPFS[n])).id


def transition(db, customer_id, event, reason, note=None, force=False, version=None, source=Source.API):
    with db.write() as session:
        outcome = transitions.transition_customer(
            session,
            customer_id,
            CustomerEvent(event),
            TransitionRequest(reason, note, force=force, actor_role=OPERATOR.role),
            OPERATOR,
            source,
            expected_version=version,
        )
        return outcome.transition.id


def counts(db, customer_id):
    with db.read() as session:
        history = session.scalar(
            select(func.count()).select_from(StatusChange).where(StatusChange.customer_id == customer_id)
        )
        outbox = session.scalar(
            select(func.count()).select_from(OutboxEffect).where(OutboxEffect.customer_id == customer_id)
        )
        customer = session.get(Customer, customer_id)
        return history, outbox, customer.status, customer.version


def test_inactivation_writes_history_and_pending_effects_in_one_go(db):
    cid = new_customer(db)
    tid = transition(db, cid, "inactivate", "customer_request", note=" vacation ", source=Source.CLI)
    with db.read() as session:
        customer = session.get(Customer, cid)
        change = session.get(StatusChange, tid)
        effects = session.scalars(select(OutboxEffect).where(OutboxEffect.transition_id == tid)).all()
        assert (customer.status, customer.inactivation_reason, customer.version) == ("inactive", "customer_request", 2)
        assert customer.status_changed_at == change.created_at
        assert (change.event, change.from_status, change.to_status, change.reason, change.note) == (
            "inactivate",
            "active",
            "inactive",
            "customer_request",
            "vacation",
        )
        assert (change.actor, change.source, change.customer_version, change.forced) == ("token:ops", "cli", 2, False)
        assert [(e.name, e.state, e.attempts) for e in effects] == [
            ("suspend_services", "pending", 0),
            ("pause_invoicing", "pending", 0),
            ("notify_billing", "pending", 0),
        ]

    transition(db, cid, "activate", "customer_return")
    with db.read() as session:
        latest = session.scalar(select(StatusChange).order_by(StatusChange.id.desc()))
        names = session.scalars(
            select(OutboxEffect.name).where(OutboxEffect.transition_id == latest.id).order_by(OutboxEffect.id)
        ).all()
    assert names == ["restore_services", "resume_invoicing", "notify_billing"]
    assert counts(db, cid) == (2, 6, "active", 3)


@pytest.mark.parametrize(
    "setup, event, reason, note, force, error",
    [
        (None, "activate", "manual", None, False, TransitionNotAllowed),
        ("customer_request", "inactivate", "customer_request", None, False, TransitionNotAllowed),
        (None, "inactivate", "other", None, False, GuardFailed),
        (None, "inactivate", "delinquency", None, False, GuardFailed),
    ],
)
def test_a_refusal_writes_nothing(db, setup, event, reason, note, force, error):
    cid = new_customer(db)
    if setup:
        transition(db, cid, "inactivate", setup)
    before = counts(db, cid)
    with pytest.raises(error):
        transition(db, cid, event, reason, note, force)
    assert counts(db, cid) == before


def test_delinquency_needs_an_invoice_past_due_not_one_due_today(db):
    cid = new_customer(db)
    add_invoice(db, cid, days_overdue=0)  # due today: not overdue yet
    with pytest.raises(GuardFailed) as refused:
        transition(db, cid, "inactivate", "delinquency")
    assert refused.value.rule == "no_overdue_invoice"
    add_invoice(db, cid, days_overdue=1)
    transition(db, cid, "inactivate", "delinquency")
    assert counts(db, cid)[2] == "inactive"


def test_paid_invoices_do_not_count_as_overdue(db):
    from workflow.domain.vocabulary import InvoiceStatus

    cid = new_customer(db)
    add_invoice(db, cid, days_overdue=30, status=InvoiceStatus.PAID)
    add_invoice(db, cid, days_overdue=30, status=InvoiceStatus.CANCELLED)
    with pytest.raises(GuardFailed):
        transition(db, cid, "inactivate", "delinquency")


def test_delinquent_customer_activates_only_when_paid_or_forced_with_a_note(db):
    cid = new_customer(db)
    add_invoice(db, cid, days_overdue=20)
    transition(db, cid, "inactivate", "delinquency")
    with pytest.raises(GuardFailed) as refused:
        transition(db, cid, "activate", "payment_received")
    assert refused.value.rule == "overdue_invoices"
    with pytest.raises(GuardFailed) as refused:
        transition(db, cid, "activate", "manual", force=True)
    assert refused.value.rule == "note_required"
    tid = transition(db, cid, "activate", "manual", note="pays on Monday", force=True)
    with db.read() as session:
        change = session.get(StatusChange, tid)
        assert (change.forced, change.note, change.reason) == (True, "pays on Monday", "manual")


def test_stale_version_is_refused(db):
    cid = new_customer(db)
    transition(db, cid, "inactivate", "customer_request", version=1)
    before = counts(db, cid)
    with pytest.raises(StaleVersion):
        transition(db, cid, "activate", "manual", version=1)
    assert counts(db, cid) == before


def test_unknown_stored_status_is_refused_and_nothing_is_written(db):
    cid = new_customer(db)
    with db.write() as session:
        session.execute(text("UPDATE customers SET status = 'frozen' WHERE id = :id"), {"id": cid})
    with pytest.raises(UnknownStoredStatus) as refused:
        transition(db, cid, "inactivate", "customer_request")
    assert "'frozen'" in refused.value.detail
    assert counts(db, cid) == (0, 0, "frozen", 1)


def test_edit_with_status_change_is_one_save(db):
    cid = new_customer(db)
    edit = customers.CustomerEdit(
        changes={"name": "Maria Silva", "email": "Maria@Example.com"},
        status="inactive",
        reason="contract_termination",
        version=1,
    )
    with db.write() as session:
        outcome = customers.edit_customer(session, cid, edit, OPERATOR, Source.UI)
        assert outcome.transition is not None
    with db.read() as session:
        customer = session.get(Customer, cid)
        assert (customer.name, customer.email, customer.status, customer.version) == (
            "Maria Silva",
            "Maria@example.com",
            "inactive",
            2,
        )
        assert session.scalar(select(StatusChange.source)) == "ui"


def test_a_failed_transition_in_an_edit_keeps_the_field_edits_out_too(db):
    cid = new_customer(db)
    edit = customers.CustomerEdit(changes={"name": "Outro Nome"}, status="inactive", reason="other")
    with pytest.raises(GuardFailed), db.write() as session:
        customers.edit_customer(session, cid, edit, OPERATOR, Source.UI)
    with db.read() as session:
        assert session.get(Customer, cid).name == "Cliente 0"


def test_a_service_changed_through_another_customer_is_not_found_and_stays_as_it_was(db):
    owner, other = new_customer(db, 0), new_customer(db, 1)
    with db.write() as session:
        sid = customer_services.add_service(session, owner, "Fibra 500M", "svc-1").id
    with pytest.raises(NotFound), db.write() as session:
        customer_services.change_service(session, sid, ServiceEvent.CANCEL, customer_id=other)
    with db.write() as session:
        assert customer_services.change_service(session, sid, ServiceEvent.SUSPEND, "x", customer_id=owner).status == (
            "suspended"
        )


def test_services_follow_their_own_machine_and_inactive_customers_get_none(db):
    cid = new_customer(db)
    with db.write() as session:
        sid = customer_services.add_service(session, cid, "Fibra 500M", "svc-1").id
    with db.write() as session:
        service = customer_services.change_service(session, sid, ServiceEvent.SUSPEND, "router swap")
        assert (service.status, service.suspension_cause, service.suspension_note) == (
            "suspended",
            "manual",
            "router swap",
        )
        assert service.suspended_at is not None
    transition(db, cid, "inactivate", "customer_request")
    with pytest.raises(CustomerInactive), db.write() as session:
        customer_services.add_service(session, cid, "TV")
    with pytest.raises(CustomerInactive), db.write() as session:
        customer_services.change_service(session, sid, ServiceEvent.RESUME)
    with db.write() as session:
        cancelled = customer_services.change_service(session, sid, ServiceEvent.CANCEL)
        assert cancelled.status == "cancelled" and cancelled.cancelled_at is not None
    with pytest.raises(TransitionNotAllowed), db.write() as session:
        customer_services.change_service(session, sid, ServiceEvent.SUSPEND, "x")
    with db.read() as session:
        assert [s.name for s in customer_services.list_services(session, cid)] == ["Fibra 500M"]
