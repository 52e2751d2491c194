"""What the billing-event tests share: the signing secrets, signed deliveries to the endpoint, and
customers and invoices set up through the services."""

import base64
import json
from datetime import UTC, datetime

from sqlalchemy import select
from standardwebhooks import Webhook

from tests.conftest import VALID_CPFS, add_invoice
from workflow.db.models import Invoice
from workflow.domain.customer_machine import TransitionRequest
from workflow.domain.vocabulary import CustomerEvent, Role, Source
from workflow.usecases import customers, transitions

OLD_SECRET = "whsec_" + base64.b64encode(b"old-billing-secret-32-bytes-long!").decode()
NEW_SECRET = "whsec_" + base64.b64encode(b"new-billing-secret-32-bytes-long!").decode()
URL = "/api/v1/billing/events"


def client_for(db, secret):
    from fastapi.testclient import TestClient

    from workflow.application import create_app
    from workflow.settings import Settings

    return TestClient(create_app(Settings(database_url=db.url, billing_inbound_secret=secret), db))


def signed(body: dict | bytes, webhook_id: str, secret: str = NEW_SECRET, at: datetime | None = None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    at = at or datetime.now(UTC)
    headers = {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, at, raw.decode()),
        "content-type": "application/json",
    }
    return raw, headers


def send(client, body, webhook_id, **kw):
    raw, headers = signed(body, webhook_id, **kw)
    return client.post(URL, content=raw, headers=headers)


def event(kind, invoice, customer_id, **data):
    return {"type": f"invoice.{kind}", "data": {"invoice_id": invoice, "customer_id": customer_id, **data}}


def new_customer(db, n=0, ref=None) -> int:
    with db.write() as session:
        return customers.create_customer(session, customers.CustomerDraft(f"C{n}", VALID_CPFS[n], external_ref=ref)).id


def inactivate(db, cid, reason, note=None):
    actor = transitions.Actor("token:ops", Role.OPERATOR)
    with db.write() as session:
        transitions.transition_customer(
            session,
            cid,
            CustomerEvent.INACTIVATE,
            TransitionRequest(reason, note, actor_role=Role.OPERATOR),
            actor,
            Source.API,
        )


def invoice(db, external_id) -> Invoice:
    with db.read() as session:
        return session.scalar(select(Invoice).where(Invoice.external_id == external_id))


def status(db, cid) -> tuple[str, str | None]:
    from workflow.db.models import Customer

    with db.read() as session:
        c = session.get(Customer, cid)
        return c.status, c.inactivation_reason


def delinquent_customer(db, n=0, *, amount="100.00", days=20) -> tuple[int, str]:
    cid = new_customer(db, n)
    inv_id = add_invoice(db, cid, days_overdue=days, amount=amount)
    inactivate(db, cid, "delinquency")
    with db.read() as session:
        return cid, session.get(Invoice, inv_id).external_id
