"""Hostile input to every write endpoint (and the queries that parse values), on SQLite and
PostgreSQL: control characters, lone surrogates, huge numbers, far dates, deep nesting, wrong
content types and bodies that are not JSON. Each is refused with a 4xx problem+json that names a
machine `code` (422 validation_error for malformed values), never a 5xx, and nothing is stored.

Each test walks one kind of hostile input over every endpoint and reports all that failed at once.
"""

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook

from tests.conftest import VALID_CPFS
from workflow.db.models import Base
from workflow.domain.vocabulary import Role

PROBLEM_JSON = "application/problem+json"
SECRET = "whsec_" + base64.b64encode(b"hostile-input-billing-secret-32b").decode()
CONTROL_CHARACTERS = ["\x00", "\x01", "\x07", "\x08", "\x1b", "\x1f"]  # C0, as domain/limits.py
HUGE = [2**63, 10**20]
FAR_DATES = ["0001-01-01", "9999-12-31"]


@dataclass
class Target:
    """One running app with a customer (and its service) that hostile requests aim at."""

    client: object
    token: str
    customer_id: int
    service_id: int
    away_customer_id: int  # inactive at their own request: their return date may change
    db: object

    def send(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        content_type: str | None = None,
        headers: dict | None = None,
        **kw,
    ):
        all_headers = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        if content_type is not None:
            all_headers["Content-Type"] = content_type
        return self.client.request(method, path, content=content, headers=all_headers, **kw)

    def post_json(self, path: str, raw: bytes, method: str = "POST"):
        return self.send(method, path, content=raw, content_type="application/json")

    def billing(self, raw: bytes, content_type: str | None = "application/json", webhook_id: str | None = None):
        webhook_id = webhook_id or f"evt-{uuid.uuid4().hex}"  # never a duplicate of an earlier case
        at = datetime.now(UTC)
        try:
            signature = Webhook(SECRET).sign(webhook_id, at, raw.decode())
        except UnicodeDecodeError:
            signature = "v1,bm90LXV0Zi04"
        headers = {
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signature,
        }
        if content_type is not None:
            headers["Content-Type"] = content_type
        return self.client.post("/api/v1/billing/events", content=raw, headers=headers)


@pytest.fixture
def target(db) -> Iterator[Target]:
    from fastapi.testclient import TestClient

    from workflow.application import create_app
    from workflow.settings import Settings
    from workflow.usecases.tokens import create_token

    with db.write() as session:
        token = create_token(session, "hostile", Role.ADMIN.value)[1]
    app = create_app(Settings(database_url=db.url, billing_inbound_secret=SECRET), db)
    with TestClient(app, raise_server_exceptions=False) as client:

        def post(path: str, body: dict) -> dict:
            response = client.post(path, headers={"Authorization": f"Bearer {token}"}, json=body)
            assert response.status_code in (200, 201), response.text
            return response.json()

        customer = post("/api/v1/customers", {"name": "Dona Rosa", "document": VALID_CPFS[0]})["id"]
        service = post(f"/api/v1/customers/{customer}/services", {"name": "Fibra"})["id"]
        away = post("/api/v1/customers", {"name": "Seu Jorge", "document": VALID_CPFS[2]})["id"]
        post(f"/api/v1/customers/{away}/inactivate", {"reason": "customer_request"})
        yield Target(client, token, customer, service, away, db)


def snapshot(db) -> dict[str, list[tuple]]:
    """Every row of every table: what a refused request must leave as it was."""
    with db.read() as session:
        return {
            table.name: sorted(map(tuple, session.execute(select(table)).all()), key=repr)
            for table in Base.metadata.sorted_tables
        }


def refusal_problem(response, expect_status: int | None = 422, expect_code: str | None = "validation_error"):
    """None when the response is the expected refusal, else what is wrong with it."""
    if response.status_code >= 500 or response.status_code < 400:
        return f"answered {response.status_code}: {response.text[:200]}"
    if not response.headers.get("content-type", "").startswith(PROBLEM_JSON):
        return f"answered {response.headers.get('content-type')}, not problem+json: {response.text[:200]}"
    body = response.json()
    if not body.get("code"):
        return f"the problem has no code: {body}"
    if expect_status is not None and response.status_code != expect_status:
        return f"answered {response.status_code} {body.get('code')}, expected {expect_status}: {body.get('detail')}"
    if expect_code is not None and body["code"] != expect_code:
        return f"answered code {body['code']}, expected {expect_code}: {body.get('detail')}"
    return None


def check_all(target: Target, cases: list[tuple], **expect) -> None:
    """Sends each case (a label, a thunk, and optionally its own expectation) and asserts that every
    one was refused and left the database as it was; reports all the cases that were not."""
    failures = []
    for label, send, *own in cases:
        before = snapshot(target.db)
        problem = refusal_problem(send(), **(own[0] if own else expect))
        if snapshot(target.db) != before:
            problem = f"{problem or 'refused'}, and it changed the database"
        if problem:
            failures.append(f"{label}: {problem}")
    assert not failures, "\n".join(failures)


def json_bytes(value) -> bytes:
    return json.dumps(value).encode()


def text_field_bodies(t: Target, value: str) -> list[tuple[str, str, bytes]]:
    """(label, path, raw JSON body) with `value` in each free-text field of each write endpoint,
    each with its own document and the transitions last, so that on a server that wrongly accepts
    one case the next ones still fail for their own reason."""
    customer = f"/api/v1/customers/{t.customer_id}"
    return [
        ("POST customers name", "/api/v1/customers", json_bytes({"name": f"Ana{value}", "document": VALID_CPFS[1]})),
        (
            "POST customers external_ref",
            "/api/v1/customers",
            json_bytes({"name": "Ana", "document": VALID_CPFS[3], "external_ref": f"ref{value}"}),
        ),
        (
            "POST customers email",
            "/api/v1/customers",
            json_bytes({"name": "Ana", "document": VALID_CPFS[4], "email": f"ana{value}@example.com"}),
        ),
        ("PATCH customer name", customer, json_bytes({"name": f"Ana{value}"})),
        ("PATCH customer external_ref", customer, json_bytes({"external_ref": f"patched{value}"})),
        ("POST services name", f"{customer}/services", json_bytes({"name": f"Fibra{value}"})),
        (
            "POST services external_ref",
            f"{customer}/services",
            json_bytes({"name": "Fibra", "external_ref": f"svc{value}"}),
        ),
        ("POST suspend reason", f"/api/v1/services/{t.service_id}/suspend", json_bytes({"reason": f"obra{value}"})),
        (
            "POST inactivate note",
            f"{customer}/inactivate",
            json_bytes({"reason": "customer_request", "note": f"pediu{value}"}),
        ),
        (
            "PATCH customer note",
            f"/api/v1/customers/{t.away_customer_id}",
            json_bytes({"status": "active", "reason": "manual", "note": f"voltou{value}"}),
        ),
        (
            "POST bulk-jobs note",
            "/api/v1/bulk-jobs",
            json_bytes(
                {"action": "inactivate", "reason": "other", "note": f"lote{value}", "customers": [t.customer_id]}
            ),
        ),
        (
            "POST bulk-jobs customers",
            "/api/v1/bulk-jobs",
            json_bytes(
                {"action": "activate", "reason": "manual", "customers": [f"ref{value}"], "match": "external_ref"}
            ),
        ),
    ]


def _post(t: Target, path: str, raw: bytes, method: str = "POST"):
    return lambda: t.post_json(path, raw, method)


def _method(path: str) -> str:
    return "PATCH" if path.count("/") == 4 and path.startswith("/api/v1/customers/") else "POST"


@pytest.mark.parametrize("character", CONTROL_CHARACTERS, ids=lambda ch: f"U+{ord(ch):04X}")
def test_control_characters_are_refused_in_bodies_queries_and_billing_events(target, character):
    t = target
    cases = [(label, _post(t, path, raw, _method(path))) for label, path, raw in text_field_bodies(t, character)]
    cases += [
        ("GET customers q", lambda: t.send("GET", "/api/v1/customers", params={"q": f"Rosa{character}"})),
        ("GET customers cursor", lambda: t.send("GET", "/api/v1/customers", params={"cursor": f"Yz{character}"})),
        ("GET effects state", lambda: t.send("GET", "/api/v1/effects", params={"state": f"done{character}"})),
        (
            "billing invoice_id",
            lambda: t.billing(
                json_bytes(
                    {
                        "type": "invoice.created",
                        "data": {
                            "invoice_id": f"inv{character}",
                            "customer_id": t.customer_id,
                            "amount": "10.00",
                            "due_date": "2026-01-10",
                        },
                    }
                )
            ),
        ),
        (
            "billing customer_ref",
            lambda: t.billing(
                json_bytes(
                    {"type": "invoice.created", "data": {"invoice_id": "inv-2", "customer_ref": f"ref{character}"}}
                )
            ),
        ),
        (
            "billing webhook-id",
            lambda: t.billing(
                json_bytes({"type": "invoice.created", "data": {"invoice_id": "inv-3", "customer_id": t.customer_id}}),
                webhook_id=f"evt{character}",
            ),
        ),
    ]
    check_all(t, cases)


def test_lone_surrogates_are_refused(target):
    t = target
    lone = '"\\ud800"'  # raw JSON text: an escape Python's json accepts but no encoder can store
    doc = VALID_CPFS[1]
    customer = f"/api/v1/customers/{t.customer_id}"
    raws = [
        ("POST customers name", "/api/v1/customers", f'{{"name": {lone}, "document": "{doc}"}}'),
        (
            "POST customers external_ref",
            "/api/v1/customers",
            f'{{"name": "Ana", "document": "{doc}", "external_ref": {lone}}}',
        ),
        ("PATCH customer name", customer, f'{{"name": {lone}}}'),
        ("POST inactivate note", f"{customer}/inactivate", f'{{"reason": "customer_request", "note": {lone}}}'),
        ("POST services name", f"{customer}/services", f'{{"name": {lone}}}'),
        ("POST suspend reason", f"/api/v1/services/{t.service_id}/suspend", f'{{"reason": {lone}}}'),
        (
            "POST bulk-jobs customers",
            "/api/v1/bulk-jobs",
            f'{{"action": "activate", "reason": "manual", "customers": [{lone}], "match": "document"}}',
        ),
    ]
    cases = [(label, _post(t, path, raw.encode(), _method(path))) for label, path, raw in raws]
    invoice = f'{{"type": "invoice.created", "data": {{"invoice_id": {lone}, "customer_id": {t.customer_id}}}}}'
    cases.append(("billing invoice_id", lambda: t.billing(invoice.encode())))
    check_all(t, cases)


@pytest.mark.parametrize("number", HUGE, ids=["2^63", "10^20"])
def test_huge_numbers_are_refused_in_paths_queries_and_bodies(target, number):
    t = target
    customer = f"/api/v1/customers/{t.customer_id}"
    cases = [
        (f"GET customer {number}", lambda: t.send("GET", f"/api/v1/customers/{number}")),
        (
            f"POST inactivate {number}",
            lambda: t.post_json(f"/api/v1/customers/{number}/inactivate", json_bytes({"reason": "customer_request"})),
        ),
        (
            f"POST suspend service {number}",
            lambda: t.post_json(f"/api/v1/services/{number}/suspend", json_bytes({"reason": "obra"})),
        ),
        (f"POST retry effect {number}", lambda: t.send("POST", f"/api/v1/effects/{number}/retry")),
        (f"GET bulk job {number}", lambda: t.send("GET", f"/api/v1/bulk-jobs/{number}")),
        (f"POST run bulk job {number}", lambda: t.send("POST", f"/api/v1/bulk-jobs/{number}/run")),
        (
            "POST bulk-jobs customers",
            lambda: t.post_json(
                "/api/v1/bulk-jobs", json_bytes({"action": "activate", "reason": "manual", "customers": [number]})
            ),
        ),
        (f"POST revoke token {number}", lambda: t.send("POST", f"/api/v1/tokens/{number}/revoke")),
        ("GET effects customer_id", lambda: t.send("GET", "/api/v1/effects", params={"customer_id": number})),
        ("GET effects limit", lambda: t.send("GET", "/api/v1/effects", params={"limit": number})),
        ("GET customers limit", lambda: t.send("GET", "/api/v1/customers", params={"limit": number})),
        ("GET history limit", lambda: t.send("GET", f"{customer}/history", params={"limit": number})),
        (
            "PATCH customer version",
            lambda: t.post_json(customer, json_bytes({"name": "Ana", "version": number}), "PATCH"),
        ),
        (
            "POST activate days",
            lambda: t.post_json(f"{customer}/activate", json_bytes({"reason": "trust_unlock", "days": number})),
        ),
        (
            "billing customer_id",
            lambda: t.billing(
                json_bytes({"type": "invoice.created", "data": {"invoice_id": "inv-huge", "customer_id": number}})
            ),
        ),
        (
            "billing amount",
            lambda: t.billing(
                json_bytes(
                    {
                        "type": "invoice.created",
                        "data": {"invoice_id": "inv-huge", "customer_id": t.customer_id, "amount": number},
                    }
                )
            ),
        ),
    ]
    check_all(t, cases)


@pytest.mark.parametrize("day", [*FAR_DATES, 0], ids=["year-1", "year-9999", "zero"])
def test_far_dates_and_numbers_as_dates_are_refused(target, day):
    t = target
    customer = f"/api/v1/customers/{t.customer_id}"
    cases = [
        ("GET delinquency preview as_of", lambda: t.send("GET", "/api/v1/delinquency/preview", params={"as_of": day})),
        ("POST delinquency run as_of", lambda: t.post_json("/api/v1/delinquency/run", json_bytes({"as_of": day}))),
        (
            "POST bulk-jobs preset date",
            lambda: t.post_json("/api/v1/bulk-jobs", json_bytes({"preset": "undo_cuts", "date": day, "note": "banco"})),
        ),
        (
            "POST bulk-jobs filter cut_date",
            lambda: t.post_json(
                "/api/v1/bulk-jobs",
                json_bytes({"action": "activate", "reason": "manual", "filter": {"cut_date": day}}),
            ),
        ),
        (
            "POST inactivate until",
            lambda: t.post_json(f"{customer}/inactivate", json_bytes({"reason": "customer_request", "until": day})),
            # A well-formed day in the past is the machine's guard to refuse, not a malformed value.
            {"expect_status": 409, "expect_code": "guard_failed"} if day == FAR_DATES[0] else {},
        ),
        (
            "POST return-date until",
            lambda: t.post_json(f"/api/v1/customers/{t.away_customer_id}/return-date", json_bytes({"until": day})),
            # The same guard, the same refusal as the inactivation's (one rule, one error).
            {"expect_status": 409, "expect_code": "guard_failed"} if day == FAR_DATES[0] else {},
        ),
        (
            "billing due_date",
            lambda: t.billing(
                json_bytes(
                    {
                        "type": "invoice.created",
                        "data": {
                            "invoice_id": "inv-far",
                            "customer_id": t.customer_id,
                            "amount": "10.00",
                            "due_date": day,
                        },
                    }
                )
            ),
        ),
        (
            "billing paid_at",
            lambda: t.billing(
                json_bytes(
                    {
                        "type": "invoice.paid",
                        "data": {
                            "invoice_id": "inv-far",
                            "customer_id": t.customer_id,
                            "paid_at": day if day == 0 else f"{day}T12:00:00Z",
                        },
                    }
                )
            ),
        ),
    ]
    check_all(t, cases)


def write_endpoints(t: Target) -> list[tuple[str, str]]:
    """(method, path) of every endpoint that takes a JSON body."""
    customer = f"/api/v1/customers/{t.customer_id}"
    return [
        ("POST", "/api/v1/customers"),
        ("PATCH", customer),
        ("POST", f"{customer}/inactivate"),
        ("POST", f"{customer}/activate"),
        ("POST", f"{customer}/return-date"),
        ("POST", f"{customer}/services"),
        ("POST", f"/api/v1/services/{t.service_id}/suspend"),
        ("POST", "/api/v1/delinquency/run"),
    ]


def test_hundred_level_nesting_is_refused_everywhere(target):
    t = target
    deep = "[" * 100 + "]" * 100
    cases = [
        (
            f"{method} {path}",
            lambda m=method, p=path: t.send(
                m,
                p,
                content=f'{{"name": {deep}, "reason": {deep}, "as_of": {deep}}}'.encode(),
                content_type="application/json",
            ),
        )
        for method, path in write_endpoints(t)
    ]
    cases.append(
        (
            "billing",
            lambda: t.billing(
                f'{{"type": "invoice.created", "data": {{"invoice_id": {deep}, "customer_id": 1}}}}'.encode()
            ),
        )
    )
    check_all(t, cases)


def test_bodies_that_are_not_json_are_refused_everywhere(target):
    t = target
    cases = []
    for method, path in write_endpoints(t):
        for label, raw in [
            ("not JSON", b"name=Ana"),
            ("truncated JSON", b'{"name": "Ana"'),
            ("not UTF-8", b'{"name": "\xff\xfe"}'),
        ]:
            cases.append(
                (
                    f"{method} {path} {label}",
                    lambda m=method, p=path, r=raw: t.send(m, p, content=r, content_type="application/json"),
                )
            )
    cases += [
        ("billing not JSON", lambda: t.billing(b"type=invoice.created")),
        ("billing truncated JSON", lambda: t.billing(b'{"type": "invoice.created"')),
    ]
    check_all(t, cases)


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", None], ids=["text-plain", "form", "none"]
)
def test_wrong_content_types_are_refused_everywhere(target, content_type):
    t = target
    valid = {
        "/api/v1/customers": {"name": "Ana", "document": VALID_CPFS[1]},
        "inactivate": {"reason": "customer_request"},
        "activate": {"reason": "manual"},
        "return-date": {"until": None},
        "services": {"name": "Fibra"},
        "suspend": {"reason": "obra"},
        "run": {"as_of": "2026-01-05"},
    }

    def body_for(path: str) -> bytes:
        key = path if path == "/api/v1/customers" else path.rsplit("/", 1)[-1]
        value = valid.get(key, {"name": "Ana Maria"})
        if content_type == "application/x-www-form-urlencoded":
            return "&".join(f"{k}={v}" for k, v in value.items() if v is not None).encode()
        return json_bytes(value)

    cases = [
        (f"{method} {path}", lambda m=method, p=path: t.send(m, p, content=body_for(p), content_type=content_type))
        for method, path in write_endpoints(t)
    ]
    cases.append(
        (
            "billing",
            lambda: t.billing(
                json_bytes({"type": "invoice.created", "data": {"invoice_id": "inv-ct", "customer_id": t.customer_id}}),
                content_type=content_type,
            ),
        )
    )
    check_all(t, cases, expect_status=None, expect_code=None)
