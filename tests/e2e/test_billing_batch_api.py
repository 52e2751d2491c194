"""POST /api/v1/billing/events/batch over HTTP, on SQLite and PostgreSQL: the batch's signature and
envelope, each event's outcome in input order, deduplication shared with the single endpoint,
replays, the limits, hostile input."""

import json

import pytest
from sqlalchemy import func, select

from tests.e2e.billing_support import (
    NEW_SECRET,
    URL,
    client_for,
    delinquent_customer,
    event,
    invoice,
    new_customer,
    send,
    signed,
    status,
)
from workflow.db.models import BillingEvent, Customer, Invoice, OutboxEffect, StatusChange
from workflow.settings import BATCH_EVENT_BYTES

BATCH_URL = URL + "/batch"


@pytest.fixture
def billing(db):
    with client_for(db, NEW_SECRET) as client:
        yield client


def post_batch(client, events, batch_id="batch-1", **kw):
    raw, headers = signed({"events": events} if isinstance(events, list) else events, batch_id, **kw)
    return client.post(BATCH_URL, content=raw, headers=headers)


def item(event_id, kind, invoice_id, customer_id, **data):
    return {"id": event_id, **event(kind, invoice_id, customer_id, **data)}


def rows(db, model) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_each_event_gets_its_outcome_in_input_order(db, billing):
    paying, inv = delinquent_customer(db, 0)
    other = new_customer(db, 1)
    response = post_batch(
        billing,
        [
            item("e1", "created", "NEW-1", other, amount="10.00", due_date="2026-12-20"),
            item("e2", "paid", inv, paying),
            {"id": "e3", "type": "invoice.paid", "data": {"invoice_id": "X", "customer_ref": "nobody"}},
            {"id": "e4", "type": "invoice.refunded", "data": {"invoice_id": "X", "customer_id": other}},
            item("e1", "paid", "NEW-1", other),
            "not an object",
        ],
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [(r["id"], r["status"], r["reactivated"]) for r in results] == [
        ("e1", "accepted", False),
        ("e2", "accepted", True),
        ("e3", "rejected", False),
        ("e4", "rejected", False),
        ("e1", "duplicate", False),
        (None, "rejected", False),
    ]
    assert "unknown customer 'nobody'" in results[2]["problem"]
    assert results[3]["problem"].startswith("type:")
    assert [r["problem"] for r in results if r["status"] != "rejected"] == [None, None, None]
    assert status(db, paying) == ("active", None)
    assert invoice(db, "NEW-1").status == "open"  # the second e1 (a payment) was a duplicate
    with db.read() as session:
        assert sorted(session.scalars(select(BillingEvent.webhook_id))) == ["e1", "e2"]
        change = session.scalar(
            select(StatusChange).where(StatusChange.customer_id == paying).order_by(StatusChange.id.desc())
        )
        assert (change.reason, change.source, change.actor) == ("payment_received", "billing", "billing")
        assert change.note == "Nenhuma fatura vencida em aberto após o evento e2 da cobrança."
        effects = session.scalars(select(OutboxEffect.name).where(OutboxEffect.transition_id == change.id)).all()
        assert sorted(effects) == ["notify_billing", "restore_services", "resume_invoicing"]
        recorded = session.scalar(select(BillingEvent).where(BillingEvent.webhook_id == "e2"))
        assert recorded.transition_id == change.id


def _snapshot(db) -> dict:
    """Every row a batch may write or touch, all columns (updated_at included)."""
    with db.read() as session:
        return {
            model.__tablename__: [tuple(row) for row in session.execute(select(model.__table__).order_by("id"))]
            for model in (BillingEvent, StatusChange, OutboxEffect, Invoice, Customer)
        }


def test_replaying_a_batch_answers_duplicate_for_every_event_and_changes_nothing(db, billing):
    cid, inv = delinquent_customer(db)
    events = [item("r1", "paid", inv, cid), item("r2", "created", "R-2", cid, amount="5.00")]
    first = post_batch(billing, events)
    before = _snapshot(db)
    again = post_batch(billing, events, batch_id="batch-1-retry")
    assert [r["status"] for r in first.json()["results"]] == ["accepted", "accepted"]
    assert [(r["status"], r["reactivated"]) for r in again.json()["results"]] == [("duplicate", False)] * 2
    assert _snapshot(db) == before


def test_a_rejected_event_touches_nothing_not_even_the_invoice_it_names(db, billing):
    owner, owned = delinquent_customer(db, 0)
    intruder = new_customer(db, 1)
    before = _snapshot(db)
    response = post_batch(billing, [item("steal", "paid", owned, intruder)])
    assert response.json()["results"][0]["status"] == "rejected"
    assert "another customer" in response.json()["results"][0]["problem"]
    assert _snapshot(db) == before
    assert status(db, owner) == ("inactive", "delinquency")


def test_single_and_batch_share_one_deduplication(db, billing):
    cid, inv = delinquent_customer(db)
    assert send(billing, event("paid", inv, cid), "shared-1").status_code == 202
    batch = post_batch(billing, [item("shared-1", "paid", inv, cid), item("shared-2", "created", "S-2", cid)])
    assert [r["status"] for r in batch.json()["results"]] == ["duplicate", "accepted"]
    single = send(billing, event("created", "S-2", cid, amount="1.00"), "shared-2")
    assert (single.status_code, single.json()) == (200, {"status": "duplicate"})
    assert str(invoice(db, inv).amount_paid) == "100.00"  # paid once


def test_a_rejected_event_can_be_sent_again_and_then_counts(db, billing):
    cid = new_customer(db)
    bad = post_batch(billing, [{"id": "late", "type": "invoice.paid", "data": {"invoice_id": "L", "customer_id": 999}}])
    assert bad.json()["results"][0]["status"] == "rejected"
    good = post_batch(billing, [item("late", "created", "L", cid, amount="3.00")], batch_id="batch-2")
    assert good.json()["results"][0]["status"] == "accepted"


@pytest.mark.parametrize("tamper", ["wrong secret", "altered body", "no signature", "stale timestamp"])
def test_a_bad_signature_refuses_the_whole_batch_and_records_nothing(db, billing, tamper):
    from datetime import UTC, datetime, timedelta

    cid, inv = delinquent_customer(db)
    raw, headers = signed(
        {"events": [item("t1", "paid", inv, cid)]},
        "batch-t",
        secret=NEW_SECRET if tamper != "wrong secret" else "whsec_" + "A" * 44,
        at=datetime.now(UTC) - timedelta(minutes=10) if tamper == "stale timestamp" else None,
    )
    if tamper == "altered body":
        raw = raw.replace(b"t1", b"t2")
    if tamper == "no signature":
        del headers["webhook-signature"]
    response = billing.post(BATCH_URL, content=raw, headers=headers)
    assert response.status_code == 401 and response.headers["content-type"] == "application/problem+json"
    assert rows(db, BillingEvent) == 0 and status(db, cid) == ("inactive", "delinquency")


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b'{"events": {}}',
        b'{"events": []}',
        b'{"nothing": 1}',
        b'{"events": [{"id": "n", "type": "invoice.paid", "data": {"invoice_id": "I", "amount": NaN}}]}',
        b'"just a string"',
        b'{"events": [{"id": "deep", "type": "invoice.paid", "data": {"x": ' + b"[" * 100_000 + b"}}]}",
        b"[" * 100_000,
    ],
)
def test_a_malformed_envelope_is_422_and_records_nothing(db, billing, body):
    response = post_batch(billing, body)
    assert response.status_code == 422 and response.json()["code"] == "validation_error"
    assert rows(db, BillingEvent) == 0


def test_a_batch_over_the_limit_is_413_and_records_nothing(db):
    from fastapi.testclient import TestClient

    from workflow.application import create_app
    from workflow.settings import Settings

    settings = Settings(database_url=db.url, billing_inbound_secret=NEW_SECRET, billing_batch_max=3)
    cid = new_customer(db)
    with TestClient(create_app(settings, db)) as client:
        events = [item(f"o{k}", "created", f"O-{k}", cid, amount="1.00") for k in range(4)]
        too_many = post_batch(client, events)
        assert too_many.status_code == 413 and "at most 3 events" in too_many.json()["detail"]
        assert post_batch(client, events[:3]).status_code == 200
    assert rows(db, BillingEvent) == 3


def test_the_body_limit_is_sized_for_a_full_batch_and_only_for_this_endpoint(db, billing):
    cid = new_customer(db)
    # 1,000 events with room to spare: far over ATIVA_MAX_BODY_BYTES (64 KiB), under the batch's limit.
    events = [
        item(f"big-{k}", "created", f"B-{k}", cid, amount="1.00", note="x" * 600, due_date="2026-12-20")
        for k in range(1000)
    ]
    raw = json.dumps({"events": events}).encode()
    assert 65536 < len(raw) < 1000 * BATCH_EVENT_BYTES
    response = post_batch(billing, events)
    assert response.status_code == 200
    assert {r["status"] for r in response.json()["results"]} == {"accepted"}
    assert rows(db, Invoice) == 1000
    # The single endpoint keeps its own limit.
    assert send(billing, {**event("created", "I", cid), "pad": "x" * 70000}, "big").status_code == 413
    # A body past the batch's limit is refused before it is read to the end.
    over = b'{"events": [' + b" " * (1000 * BATCH_EVENT_BYTES) + b"]}"
    assert post_batch(billing, over).status_code == 413


@pytest.mark.parametrize(
    "bad_id",
    ["", "a\x00b", "\ud800", "x" * 256, 12, None],
)
def test_hostile_event_ids_are_rejected_alone_without_echoing_them(db, billing, bad_id):
    cid = new_customer(db)
    raw = json.dumps(
        {"events": [{"id": bad_id, **event("created", "H", cid, amount="1.00")}, item("ok", "created", "H2", cid)]}
    ).encode()
    raw, headers = signed(raw, "batch-h")
    response = billing.post(BATCH_URL, content=raw, headers=headers)
    assert response.status_code == 200
    first, second = response.json()["results"]
    assert (first["id"], first["status"]) == (None, "rejected") and first["problem"].startswith("id")
    assert (second["id"], second["status"]) == ("ok", "accepted")


@pytest.mark.parametrize(
    "data",
    [
        {"invoice_id": "I\x00", "customer_id": 1},
        {"invoice_id": "I", "customer_id": 2**63},
        {"invoice_id": "I", "customer_id": 1, "due_date": "0001-01-01"},
        {"invoice_id": "I", "customer_id": 1, "paid_at": "9999-12-31T23:59:59Z"},
        {"invoice_id": "I", "customer_ref": "\udfff"},
        {"invoice_id": "I", "customer_id": 1, "amount": "1e400"},
    ],
)
def test_hostile_event_data_is_rejected_alone(db, billing, data):
    cid, inv = delinquent_customer(db)
    raw = json.dumps({"events": [{"id": "h1", "type": "invoice.paid", "data": data}, item("h2", "paid", inv, cid)]})
    raw, headers = signed(raw.encode(), "batch-d")
    response = billing.post(BATCH_URL, content=raw, headers=headers)
    assert response.status_code == 200
    assert [(r["status"], r["reactivated"]) for r in response.json()["results"]] == [
        ("rejected", False),
        ("accepted", True),
    ]


def test_the_batch_endpoint_is_in_the_openapi_document(billing):
    document = billing.app.openapi()
    operation = document["paths"]["/api/v1/billing/events/batch"]["post"]
    assert {p["name"] for p in operation["parameters"]} == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    events = operation["requestBody"]["content"]["application/json"]["schema"]["properties"]["events"]
    assert events["minItems"] == 1 and set(events["items"]["required"]) == {"id", "type", "data"}
    assert "in input order" in operation["responses"]["200"]["description"]
