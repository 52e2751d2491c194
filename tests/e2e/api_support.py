"""What the HTTP API tests share: paths, the fields of each record, and helpers that call the API
or check its answers (problem+json, a state that a refusal must leave untouched)."""

import re
from datetime import datetime

from sqlalchemy import text

from tests.conftest import add_invoice
from workflow.domain.vocabulary import Role

API = "/api/v1"
CUSTOMERS = f"{API}/customers"
TOKENS = f"{API}/tokens"
PROBLEM_JSON = "application/problem+json"
MAX_BODY = 65536  # the fixture's Settings(max_body_bytes=...)

CUSTOMER_FIELDS = {
    "id", "name", "document", "document_type", "email", "phone", "external_ref", "status",
    "inactivation_reason", "status_changed_at", "invoicing_enabled", "auto_block_exempt", "trust_unlock_until",
    "trust_unlocks_used", "return_on", "forced_hold_until", "delinquency_stage", "notice_snoozed_until", "version",
    "created_at", "updated_at",
}  # fmt: skip
TRANSITION_FIELDS = {
    "id", "event", "from_status", "to_status", "reason", "note", "forced", "hold_until", "delinquency_stage", "actor",
    "source", "created_at", "effects",
}  # fmt: skip
SERVICE_FIELDS = {
    "id", "customer_id", "name", "external_ref", "status", "suspension_cause", "suspension_note",
    "suspended_at", "created_at",
}  # fmt: skip
INACTIVATION_EFFECTS = ["suspend_services", "pause_invoicing", "notify_billing"]
ACTIVATION_EFFECTS = ["restore_services", "resume_invoicing", "notify_billing"]

READERS = [Role.VIEWER, Role.BILLING, Role.OPERATOR, Role.ADMIN]
WRITERS = [Role.OPERATOR, Role.ADMIN]
NON_WRITERS = [Role.VIEWER, Role.BILLING]


def customer_path(customer_id: int, tail: str = "") -> str:
    return f"{CUSTOMERS}/{customer_id}{tail}"


def service_path(service_id: int, action: str) -> str:
    return f"{API}/services/{service_id}/{action}"


def assert_problem(response, status: int, code: str, rule: str | None = None) -> dict:
    """An RFC 9457 problem with the given status and machine code (and guard rule, if any)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    assert body["type"] == f"urn:ativa:problem:{code}"
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    if rule is not None:
        assert body["rule"] == rule, body
        assert rule in body["detail"], body
    return body


def assert_ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    return response.json()


def is_utc_timestamp(value) -> bool:
    return isinstance(value, str) and datetime.fromisoformat(value).utcoffset() is not None


def history(api, customer_id: int) -> list[dict]:
    return assert_ok(api.get(customer_path(customer_id, "/history")))["items"]


def services_of(api, customer_id: int) -> list[dict]:
    return assert_ok(api.get(customer_path(customer_id, "/services")))["items"]


def all_customers(api) -> list[dict]:
    return assert_ok(api.get(CUSTOMERS, params={"limit": 200}))["items"]


def state(api, customer_id: int) -> dict:
    """Everything a refusal must leave untouched."""
    return {
        "customer": assert_ok(api.get(customer_path(customer_id))),
        "history": history(api, customer_id),
        "services": services_of(api, customer_id),
    }


def inactivate(api, customer_id, reason="customer_request", role=Role.OPERATOR, headers=None, **body):
    return api.post(
        customer_path(customer_id, "/inactivate"),
        role=role,
        json={"reason": reason, **body},
        headers=headers or {},
    )


def activate(api, customer_id, reason="payment_received", role=Role.OPERATOR, headers=None, **body):
    return api.post(
        customer_path(customer_id, "/activate"),
        role=role,
        json={"reason": reason, **body},
        headers=headers or {},
    )


def add_service(api, customer_id, name="Fibra 500", role=Role.OPERATOR, **body):
    return api.post(customer_path(customer_id, "/services"), role=role, json={"name": name, **body})


def new_service(api, customer_id, name="Fibra 500", **body) -> dict:
    return assert_ok(add_service(api, customer_id, name, **body), 201)


def inactive_for_delinquency(api, customer_id: int) -> None:
    """Inactivated for delinquency, with an invoice still past due."""
    add_invoice(api.db, customer_id, days_overdue=10)
    assert_ok(inactivate(api, customer_id, "delinquency"))


def token_id(api, role: Role) -> int:
    items = assert_ok(api.get(TOKENS))["items"]
    return next(t["id"] for t in items if t["name"] == f"test-{role.value}")


def set_raw_status(api, customer_id: int, status: str) -> None:
    with api.db.write() as s:
        s.execute(text("UPDATE customers SET status=:s WHERE id=:i"), {"s": status, "i": customer_id})


def metric_sample(metrics: str, metric: str, **labels: str) -> float:
    """The value of one Prometheus sample in /metrics text, with exactly these labels."""
    label_text = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(f"{metric}{{{label_text}}}" if labels else metric) + r" ([0-9.e+-]+)"
    match = re.search(pattern, metrics)
    assert match, f"{metric} {labels} not in:\n{metrics}"
    return float(match.group(1))
