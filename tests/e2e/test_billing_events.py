"""Inbound billing events over HTTP, on SQLite and PostgreSQL: signatures, deduplication, the
invoice ledger, and reactivation of customers inactive for delinquency (and only them)."""

import base64
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.conftest import add_invoice
from tests.e2e.billing_support import (
    NEW_SECRET,
    OLD_SECRET,
    URL,
    client_for,
    delinquent_customer,
    event,
    inactivate,
    invoice,
    new_customer,
    send,
    signed,
    status,
)
from workflow.db.models import BillingEvent, Invoice, StatusChange


@pytest.fixture
def billing(db):
    with client_for(db, f"{OLD_SECRET},{NEW_SECRET}") as client:
        yield client


# -- signatures ------------------------------------------------------------------------------------


def test_a_signed_event_is_accepted_and_a_duplicate_changes_nothing(db, billing):
    cid = new_customer(db)
    body = event("created", "INV-1", cid, amount="89.90", due_date="2026-12-10")
    first = send(billing, body, "msg_1")
    assert (first.status_code, first.json()["status"]) == (202, "accepted")
    again = send(billing, event("paid", "INV-1", cid), "msg_1")  # same id, other body: still a duplicate
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    stored = invoice(db, "INV-1")
    assert (str(stored.amount), stored.status, str(stored.due_date)) == ("89.90", "open", "2026-12-10")


@pytest.mark.parametrize(
    "tamper",
    [
        "wrong secret",
        "stale timestamp",
        "future timestamp",
        "altered body",
        "no id",
        "no timestamp",
        "no signature",
        "garbage signature",
    ],
)
def test_bad_signatures_are_refused_and_change_nothing(db, billing, tamper):
    cid = new_customer(db)
    body = event("created", "INV-X", cid, amount="10.00", due_date="2026-12-10")
    wrong = "whsec_" + base64.b64encode(b"somebody-else-entirely-32-bytes!").decode()
    at = {
        "stale timestamp": datetime.now(UTC) - timedelta(minutes=6),
        "future timestamp": datetime.now(UTC) + timedelta(minutes=6),
    }.get(tamper)
    raw, headers = signed(body, "msg_t", secret=wrong if tamper == "wrong secret" else NEW_SECRET, at=at)
    if tamper == "altered body":
        raw = raw.replace(b"10.00", b"0.01")
    drop = {"no id": "webhook-id", "no timestamp": "webhook-timestamp", "no signature": "webhook-signature"}
    if tamper in drop:
        del headers[drop[tamper]]
    if tamper == "garbage signature":
        headers["webhook-signature"] = "v1,@@not-base64@@"
    response = billing.post(URL, content=raw, headers=headers)
    assert response.status_code == 401 and response.json()["code"] == "unauthorized"
    assert invoice(db, "INV-X") is None


def test_rotation_accepts_the_old_and_the_new_secret(db, billing):
    cid = new_customer(db)
    assert send(billing, event("created", "INV-A", cid, amount="1.00"), "a", secret=OLD_SECRET).status_code == 202
    assert send(billing, event("created", "INV-B", cid, amount="1.00"), "b", secret=NEW_SECRET).status_code == 202


@pytest.mark.parametrize("secret", [None, "", " , "])
def test_without_a_secret_every_event_is_refused(db, secret):
    cid = new_customer(db)
    with client_for(db, secret) as client:
        response = send(client, event("created", "INV-N", cid, amount="1.00"), "n")
    assert response.status_code == 401
    assert invoice(db, "INV-N") is None


@pytest.mark.parametrize(
    "body",
    [
        {"type": "invoice.refunded", "data": {"invoice_id": "I", "customer_id": 1}},
        {"type": "invoice.paid", "data": {"customer_id": 1}},
        {"type": "invoice.paid", "data": {"invoice_id": "I"}},
        {"type": "invoice.paid", "data": {"invoice_id": "I", "customer_id": 1, "amount": "-3"}},
        b"{not json",
    ],
)
def test_malformed_bodies_are_422_and_can_be_resent(db, billing, body):
    response = send(billing, body, "msg_bad")
    assert response.status_code == 422 and response.json()["code"] == "validation_error"
    cid = new_customer(db)  # the same id, now well formed, is not taken as a duplicate
    assert send(billing, event("created", "I", cid, amount="1.00"), "msg_bad").status_code == 202


def test_unknown_customer_is_422(db, billing):
    response = send(billing, {"type": "invoice.paid", "data": {"invoice_id": "I", "customer_ref": "nobody"}}, "u")
    assert response.status_code == 422 and "unknown customer" in response.json()["detail"]
    with db.read() as session:
        assert session.scalar(select(BillingEvent.id)) is None


# -- reactivation ------------------------------------------------------------------------------------


def test_payment_reactivates_a_delinquent_customer_in_the_same_transaction(db, billing):
    cid, inv = delinquent_customer(db)
    response = send(billing, event("paid", inv, cid, amount="100.00", paid_at="2026-11-28T10:00:00Z"), "pay-1")
    assert response.status_code == 202 and response.json()["reactivated"] is True
    assert status(db, cid) == ("active", None)
    with db.read() as session:
        change = session.scalar(select(StatusChange).order_by(StatusChange.id.desc()))
        assert (change.event, change.reason, change.source, change.actor) == (
            "activate",
            "payment_received",
            "billing",
            "billing",
        )
        assert change.note == "Nenhuma fatura vencida em aberto após o evento pay-1 da cobrança."
        recorded = session.scalar(select(BillingEvent).where(BillingEvent.webhook_id == "pay-1"))
        assert "reactivated" in recorded.outcome
    assert invoice(db, inv).status == "paid"


@pytest.mark.parametrize("reason", ["customer_request", "contract_termination", "other"])
def test_payment_never_undoes_another_kind_of_inactivation(db, billing, reason):
    cid = new_customer(db)
    inv_id = add_invoice(db, cid, days_overdue=20)
    inactivate(db, cid, reason, note="fraud check" if reason == "other" else None)
    with db.read() as session:
        inv = session.get(Invoice, inv_id).external_id
    response = send(billing, event("paid", inv, cid), "pay-x")
    assert response.json()["reactivated"] is False
    assert status(db, cid) == ("inactive", reason)


def test_a_partial_payment_reactivates_nothing_until_the_rest_arrives(db, billing):
    cid, inv = delinquent_customer(db, amount="100.00")
    assert send(billing, event("paid", inv, cid, amount="40.00"), "p1").json()["reactivated"] is False
    assert (invoice(db, inv).status, str(invoice(db, inv).amount_paid)) == ("open", "40.00")
    assert status(db, cid) == ("inactive", "delinquency")
    assert send(billing, event("paid", inv, cid, amount="60.00"), "p2").json()["reactivated"] is True
    assert status(db, cid) == ("active", None)


def test_every_overdue_invoice_must_be_settled(db, billing):
    cid, first = delinquent_customer(db, amount="50.00")
    second = add_invoice(db, cid, days_overdue=40, amount="70.00")
    with db.read() as session:
        second = session.get(Invoice, second).external_id
    assert send(billing, event("paid", first, cid), "s1").json()["reactivated"] is False
    assert send(billing, event("cancelled", second, cid), "s2").json()["reactivated"] is True


def test_out_of_order_paid_before_created(db, billing):
    cid = new_customer(db, ref="ERP-9")
    paid = {"type": "invoice.paid", "data": {"invoice_id": "INV-9", "customer_ref": "ERP-9"}}
    assert send(billing, paid, "o1").json()["invoice_status"] == "paid"
    created = event("created", "INV-9", cid, amount="59.90", due_date="2026-10-01")
    assert send(billing, created, "o2").json()["invoice_status"] == "paid"  # stays paid
    stored = invoice(db, "INV-9")
    assert (stored.status, str(stored.amount), str(stored.due_date)) == ("paid", "59.90", "2026-10-01")


def test_a_cancelled_invoice_stays_cancelled_and_ownership_is_checked(db, billing):
    cid = new_customer(db, 0)
    other = new_customer(db, 1)
    send(billing, event("created", "INV-C", cid, amount="10.00", due_date="2026-10-01"), "c1")
    send(billing, event("cancelled", "INV-C", cid), "c2")
    assert send(billing, event("paid", "INV-C", cid), "c3").json()["invoice_status"] == "cancelled"
    stolen = send(billing, event("paid", "INV-C", other), "c4")
    assert stolen.status_code == 422 and "another customer" in stolen.json()["detail"]
