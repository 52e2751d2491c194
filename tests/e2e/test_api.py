"""The HTTP API end to end, on SQLite and on PostgreSQL (the `api` fixture runs each test on both).

What is pinned here: every problem `code` with its exact status and problem+json shape, that a
refused request changes nothing (customer, history and services are compared before and after),
the role matrix, the happy paths, Idempotency-Key, listing and paging, and that no token leaks.
"""

from datetime import datetime

import pytest
from sqlalchemy import text

from tests.conftest import VALID_CNPJ, VALID_CPFS, add_invoice
from workflow.domain.vocabulary import InvoiceStatus, Role

API = "/api/v1"
CUSTOMERS = f"{API}/customers"
TOKENS = f"{API}/tokens"
PROBLEM_JSON = "application/problem+json"
MAX_BODY = 65536  # the fixture's Settings(max_body_bytes=...)

CUSTOMER_FIELDS = {
    "id", "name", "document", "document_type", "email", "phone", "external_ref", "status",
    "inactivation_reason", "status_changed_at", "invoicing_enabled", "auto_block_exempt", "trust_unlock_until", "trust_unlocks_used", "return_on", "forced_hold_until", "version", "created_at",
    "updated_at",
}  # fmt: skip
TRANSITION_FIELDS = {
    "id", "event", "from_status", "to_status", "reason", "note", "forced", "hold_until", "actor", "source",
    "created_at", "effects",
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


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# validation_error 422
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"document": "529.982.247-26"}, id="cpf-check-digits"),
        pytest.param({"document": "52998224724"}, id="cpf-check-digits-bare"),
        pytest.param({"document": "11.222.333/0001-8"}, id="cnpj-13-digits"),
        pytest.param({"document": "112223330001811"}, id="document-15-digits"),
        pytest.param({"document": "11222333000182"}, id="cnpj-check-digits"),
        pytest.param({"document": "529982247AB"}, id="document-with-letters"),
        pytest.param({"email": "not-an-email"}, id="invalid-email"),
        pytest.param({"email": "ana@@example.com"}, id="invalid-email-double-at"),
        pytest.param({"phone": "12"}, id="phone-too-short"),
        pytest.param({"name": ""}, id="empty-name"),
        pytest.param({"name": "   "}, id="blank-name"),
        pytest.param({"name": "x" * 201}, id="name-too-long"),
        pytest.param({"nickname": "Zé"}, id="unknown-field"),
    ],
)
def test_create_refuses_invalid_input(api, body):
    response = api.post(CUSTOMERS, json={"name": "Ana", "document": VALID_CPFS[0], **body})
    assert_problem(response, 422, "validation_error")
    assert all_customers(api) == []


def test_create_without_document_is_a_validation_error(api):
    assert_problem(api.post(CUSTOMERS, json={"name": "Ana"}), 422, "validation_error")
    assert all_customers(api) == []


def test_unknown_field_names_the_field(api):
    body = assert_problem(
        api.post(CUSTOMERS, json={"name": "Ana", "document": VALID_CPFS[0], "nickname": "x"}),
        422,
        "validation_error",
    )
    assert {"loc": ["body", "nickname"], "type": "extra_forbidden"}.items() <= body["errors"][0].items()
    assert "nickname" in body["detail"]


@pytest.mark.parametrize(
    "raw", [b'{"name": "Ana", ', b"not json", b"", b"[1, 2]"], ids=["truncated", "garbage", "empty", "array"]
)
def test_malformed_json_is_a_validation_error(api, raw):
    response = api.post(CUSTOMERS, content=raw, headers={"Content-Type": "application/json"})
    assert_problem(response, 422, "validation_error")
    assert all_customers(api) == []


@pytest.mark.parametrize(
    "action, body",
    [
        ("inactivate", {"reason": "vacation"}),
        ("inactivate", {"reason": "payment_received"}),  # an activation reason
        ("inactivate", {}),
        ("inactivate", {"reason": "customer_request", "comment": "typo of note"}),
        ("inactivate", {"reason": "customer_request", "force": "maybe"}),
        ("activate", {"reason": "customer_request"}),  # an inactivation reason
        ("activate", {"reason": "manual", "extra": 1}),
    ],
)
def test_transition_body_is_validated_and_nothing_changes(api, action, body):
    customer_id = api.new_customer()["id"]
    if action == "activate":
        assert_ok(inactivate(api, customer_id))
    before = state(api, customer_id)
    response = api.post(customer_path(customer_id, f"/{action}"), json=body)
    assert_problem(response, 422, "validation_error")
    assert state(api, customer_id) == before


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 201},
        {"limit": "abc"},
        {"cursor": "not-a-cursor"},
        {"cursor": "!!!"},
        {"cursor": "eDEy"},  # base64 of "x12": well-formed base64, not ours
        {"cursor": "x" * 101},
        {"status": "frozen"},
        {"status": "ACTIVE"},
    ],
    ids=lambda p: "-".join(f"{k}={str(v)[:12]}" for k, v in p.items()),
)
def test_list_refuses_bad_parameters(api, params):
    api.new_customer()
    assert_problem(api.get(CUSTOMERS, params=params), 422, "validation_error")


@pytest.mark.parametrize("limit", [0, 501, "x"])
def test_history_refuses_bad_limit(api, limit):
    customer_id = api.new_customer()["id"]
    response = api.get(customer_path(customer_id, "/history"), params={"limit": limit})
    assert_problem(response, 422, "validation_error")


@pytest.mark.parametrize(
    "patch",
    [
        {"status": "frozen"},
        {"version": 0},
        {"email": "nope"},
        {"document": "123"},
        {"name": None},
        {"color": "blue"},
        {"status": "inactive", "reason": "vacation"},
    ],
    ids=["status-literal", "version-0", "email", "document", "name-null", "unknown-field", "bad-reason"],
)
def test_patch_refuses_invalid_input_and_nothing_changes(api, patch):
    customer_id = api.new_customer()["id"]
    before = state(api, customer_id)
    assert_problem(api.patch(customer_path(customer_id), json=patch), 422, "validation_error")
    assert state(api, customer_id) == before


@pytest.mark.parametrize("key", ["   ", "k" * 256], ids=["blank", "too-long"])
def test_bad_idempotency_key_is_a_validation_error(api, key):
    response = api.post(
        CUSTOMERS,
        json={"name": "Ana", "document": VALID_CPFS[0]},
        headers={"Idempotency-Key": key},
    )
    assert_problem(response, 422, "validation_error")
    assert all_customers(api) == []


# --------------------------------------------------------------------------------------------
# not_found 404
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("get", customer_path(999), None),
        ("patch", customer_path(999), {"name": "X"}),
        ("post", customer_path(999, "/inactivate"), {"reason": "customer_request"}),
        ("post", customer_path(999, "/activate"), {"reason": "manual"}),
        ("get", customer_path(999, "/history"), None),
        ("get", customer_path(999, "/services"), None),
        ("post", customer_path(999, "/services"), {"name": "Fibra"}),
        ("post", service_path(999, "suspend"), {"reason": "pedido"}),
        ("post", service_path(999, "resume"), None),
        ("post", service_path(999, "cancel"), None),
        ("post", f"{TOKENS}/999/revoke", None),
        ("get", f"{API}/nothing-here", None),
    ],
)
def test_unknown_resources_are_not_found(api, method, path, body):
    api.new_customer()  # customer 1 exists; 999 does not
    kwargs = {"json": body} if body is not None else {}
    assert_problem(getattr(api, method)(path, **kwargs), 404, "not_found")


# --------------------------------------------------------------------------------------------
# duplicate_document / duplicate_external_ref 409
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("written", ["529.982.247-25", " 529 982 247 25 ", "52998224725"])
def test_same_document_is_refused_whatever_its_punctuation(api, written):
    first = api.new_customer(0)
    response = api.post(CUSTOMERS, json={"name": "Outra", "document": written})
    assert_problem(response, 409, "duplicate_document")
    assert all_customers(api) == [first]


def test_patch_to_a_taken_document_is_refused(api):
    api.new_customer(0)
    other = api.new_customer(1)["id"]
    before = state(api, other)
    response = api.patch(customer_path(other), json={"document": "529.982.247-25", "name": "Novo"})
    assert_problem(response, 409, "duplicate_document")
    assert state(api, other) == before


def test_same_external_ref_is_refused(api):
    first = api.new_customer(0, external_ref="ERP-1")
    response = api.post(
        CUSTOMERS, json={"name": "Outra", "document": VALID_CPFS[1], "external_ref": " ERP-1 "}
    )
    assert_problem(response, 409, "duplicate_external_ref")
    assert all_customers(api) == [first]


def test_patch_to_a_taken_external_ref_is_refused(api):
    api.new_customer(0, external_ref="ERP-1")
    other = api.new_customer(1, external_ref="ERP-2")["id"]
    before = state(api, other)
    response = api.patch(customer_path(other), json={"external_ref": "ERP-1"})
    assert_problem(response, 409, "duplicate_external_ref")
    assert state(api, other) == before


# --------------------------------------------------------------------------------------------
# transition_not_allowed 409
# --------------------------------------------------------------------------------------------


def test_inactivate_twice_is_not_allowed(api):
    customer_id = api.new_customer()["id"]
    assert_ok(inactivate(api, customer_id))
    before = state(api, customer_id)
    assert_problem(inactivate(api, customer_id, "other", note="again"), 409, "transition_not_allowed")
    after = state(api, customer_id)
    assert after == before
    assert len(after["history"]) == 1


def test_activate_an_active_customer_is_not_allowed(api):
    customer_id = api.new_customer()["id"]
    before = state(api, customer_id)
    assert_problem(activate(api, customer_id, "manual"), 409, "transition_not_allowed")
    assert state(api, customer_id) == before
    assert before["history"] == []


def test_patch_to_the_current_status_with_a_reason_is_not_allowed(api):
    customer_id = api.new_customer()["id"]
    before = state(api, customer_id)
    response = api.patch(
        customer_path(customer_id), json={"name": "Novo", "status": "active", "reason": "manual"}
    )
    assert_problem(response, 409, "transition_not_allowed")
    assert state(api, customer_id) == before


def test_resume_an_active_service_is_not_allowed(api):
    customer_id = api.new_customer()["id"]
    service = new_service(api, customer_id)
    assert_problem(api.post(service_path(service["id"], "resume")), 409, "transition_not_allowed")
    assert services_of(api, customer_id) == [service]


@pytest.mark.parametrize(
    "action, body", [("resume", None), ("suspend", {"reason": "x"}), ("cancel", None)]
)
def test_a_cancelled_service_is_final(api, action, body):
    customer_id = api.new_customer()["id"]
    service_id = new_service(api, customer_id)["id"]
    cancelled = assert_ok(api.post(service_path(service_id, "cancel")))
    kwargs = {"json": body} if body else {}
    assert_problem(api.post(service_path(service_id, action), **kwargs), 409, "transition_not_allowed")
    assert services_of(api, customer_id) == [cancelled]


# --------------------------------------------------------------------------------------------
# guard_failed 409 (the rule is in `rule` and in `detail`)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, invoice, rule",
    [
        ({"reason": "other"}, None, "note_required"),
        ({"reason": "other", "note": "   "}, None, "note_required"),
        ({"reason": "delinquency"}, None, "no_overdue_invoice"),
        ({"reason": "delinquency"}, {"days_overdue": 0}, "no_overdue_invoice"),  # due today
        ({"reason": "delinquency"}, {"days_overdue": -5}, "no_overdue_invoice"),
        ({"reason": "delinquency"}, {"days_overdue": 9, "status": InvoiceStatus.PAID}, "no_overdue_invoice"),
        ({"reason": "customer_request", "force": True}, None, "force_not_applicable"),
    ],
    ids=["other-no-note", "other-blank-note", "no-invoice", "due-today", "due-later", "paid", "force"],
)
def test_inactivation_guards(api, body, invoice, rule):
    customer_id = api.new_customer()["id"]
    if invoice:
        add_invoice(api.db, customer_id, **invoice)
    before = state(api, customer_id)
    response = api.post(customer_path(customer_id, "/inactivate"), role=Role.OPERATOR, json=body)
    assert_problem(response, 409, "guard_failed", rule=rule)
    assert state(api, customer_id) == before
    assert before["customer"]["version"] == 1 and before["history"] == []


@pytest.mark.parametrize(
    "body, rule",
    [
        ({"reason": "payment_received"}, "overdue_invoices"),
        ({"reason": "manual", "force": False, "note": "pagou"}, "overdue_invoices"),
        ({"reason": "manual", "force": True}, "note_required"),
        ({"reason": "manual", "force": True, "note": "  "}, "note_required"),
    ],
    ids=["no-force", "note-without-force", "force-no-note", "force-blank-note"],
)
def test_activation_guards_for_a_delinquent_customer(api, body, rule):
    customer_id = api.new_customer()["id"]
    inactive_for_delinquency(api, customer_id)
    before = state(api, customer_id)
    response = api.post(customer_path(customer_id, "/activate"), role=Role.OPERATOR, json=body)
    assert_problem(response, 409, "guard_failed", rule=rule)
    assert state(api, customer_id) == before
    assert before["customer"]["status"] == "inactive"
    assert len(before["history"]) == 1


def test_patch_status_change_without_reason_changes_nothing(api):
    customer_id = api.new_customer()["id"]
    before = state(api, customer_id)
    response = api.patch(
        customer_path(customer_id), json={"name": "Nome Novo", "status": "inactive", "version": 1}
    )
    assert_problem(response, 409, "guard_failed", rule="reason_required")
    assert state(api, customer_id) == before  # the name edit was rolled back with the refusal


def test_patch_guard_also_applies_to_activation(api):
    customer_id = api.new_customer()["id"]
    inactive_for_delinquency(api, customer_id)
    before = state(api, customer_id)
    response = api.patch(
        customer_path(customer_id),
        json={"status": "active", "reason": "manual", "phone": "(11) 91234-5678"},
    )
    assert_problem(response, 409, "guard_failed", rule="overdue_invoices")
    assert state(api, customer_id) == before


def test_suspend_with_a_blank_reason_is_refused(api):
    customer_id = api.new_customer()["id"]
    service = new_service(api, customer_id)
    response = api.post(service_path(service["id"], "suspend"), json={"reason": "   "})
    assert_problem(response, 409, "guard_failed", rule="reason_required")
    assert services_of(api, customer_id) == [service]


# --------------------------------------------------------------------------------------------
# stale_version 409
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "patch",
    [{"name": "Tarde Demais"}, {"status": "inactive", "reason": "customer_request"}],
    ids=["fields", "status"],
)
def test_patch_with_an_old_version_is_refused(api, patch):
    customer_id = api.new_customer()["id"]
    assert_ok(api.patch(customer_path(customer_id), json={"name": "Primeira Edição", "version": 1}))
    before = state(api, customer_id)
    assert before["customer"]["version"] == 2
    response = api.patch(customer_path(customer_id), json={**patch, "version": 1})
    body = assert_problem(response, 409, "stale_version")
    assert "version 2" in body["detail"]
    assert state(api, customer_id) == before


# --------------------------------------------------------------------------------------------
# unauthorized 401 / forbidden 403
# --------------------------------------------------------------------------------------------


AUTH_HEADERS = {
    "none": lambda tokens: {},
    "empty": lambda tokens: {"Authorization": ""},
    "basic-scheme": lambda tokens: {"Authorization": f"Basic {tokens[Role.ADMIN]}"},
    "token-scheme": lambda tokens: {"Authorization": f"Token {tokens[Role.ADMIN]}"},
    "no-scheme": lambda tokens: {"Authorization": tokens[Role.ADMIN]},
    "bearer-only": lambda tokens: {"Authorization": "Bearer"},
    "bearer-blank": lambda tokens: {"Authorization": "Bearer    "},
    "unknown-token": lambda tokens: {"Authorization": "Bearer ativa_not-a-real-token"},
    "token-with-suffix": lambda tokens: {"Authorization": f"Bearer {tokens[Role.ADMIN]}x"},
}


def assert_unauthorized(response) -> None:
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("auth", AUTH_HEADERS.values(), ids=AUTH_HEADERS.keys())
def test_requests_without_a_valid_bearer_token_are_unauthorized(api, auth):
    customer_id = api.new_customer()["id"]
    headers = auth(api.tokens)
    assert_unauthorized(api.client.get(CUSTOMERS, headers=headers))
    assert_unauthorized(api.client.get(customer_path(customer_id, "/history"), headers=headers))
    assert_unauthorized(api.client.get(TOKENS, headers=headers))
    before = state(api, customer_id)
    create = {"name": "Intrusa", "document": VALID_CPFS[1]}
    assert_unauthorized(api.client.post(CUSTOMERS, json=create, headers=headers))
    assert_unauthorized(
        api.client.post(
            customer_path(customer_id, "/inactivate"),
            json={"reason": "customer_request"},
            headers={**headers, "Idempotency-Key": "k"},
        )
    )
    assert_unauthorized(api.client.patch(customer_path(customer_id), json={"name": "X"}, headers=headers))
    assert state(api, customer_id) == before
    assert len(all_customers(api)) == 1


def test_auth_comes_before_body_validation(api):
    # (Malformed JSON is the exception: FastAPI parses it before any dependency runs, so an
    # unauthenticated `{broken` gets 422. Pinned neither way.)
    response = api.client.post(CUSTOMERS, json={"nickname": "x"})
    assert_unauthorized(response)
    response = api.client.post(CUSTOMERS, json={"name": "x"}, headers={"Authorization": "Bearer nope"})
    assert_unauthorized(response)


def test_a_revoked_token_is_unauthorized(api):
    customer_id = api.new_customer()["id"]
    viewer_id = token_id(api, Role.VIEWER)
    assert_ok(api.get(CUSTOMERS, role=Role.VIEWER))

    revoked = assert_ok(api.post(f"{TOKENS}/{viewer_id}/revoke"))
    assert revoked["id"] == viewer_id and is_utc_timestamp(revoked["revoked_at"])

    assert_unauthorized(api.get(CUSTOMERS, role=Role.VIEWER))
    assert_unauthorized(api.get(customer_path(customer_id), role=Role.VIEWER))
    # Only that token: the others still work.
    assert_ok(api.get(CUSTOMERS, role=Role.OPERATOR))
    listed = {t["id"]: t for t in assert_ok(api.get(TOKENS))["items"]}
    assert listed[viewer_id]["revoked_at"] == revoked["revoked_at"]
    assert all(t["revoked_at"] is None for i, t in listed.items() if i != viewer_id)


def write_requests(customer_id: int, service_id: int):
    """(method, path, body) of every write a viewer or billing token must not make."""
    return [
        ("post", CUSTOMERS, {"name": "Nova", "document": VALID_CPFS[2]}),
        ("patch", customer_path(customer_id), {"name": "Outro Nome"}),
        ("patch", customer_path(customer_id), {"status": "inactive", "reason": "customer_request"}),
        ("post", customer_path(customer_id, "/inactivate"), {"reason": "customer_request"}),
        ("post", customer_path(customer_id, "/activate"), {"reason": "manual"}),
        ("post", customer_path(customer_id, "/services"), {"name": "Outro plano"}),
        ("post", service_path(service_id, "suspend"), {"reason": "pedido"}),
        ("post", service_path(service_id, "resume"), None),
        ("post", service_path(service_id, "cancel"), None),
        ("post", f"{TOKENS}/1/revoke", None),
    ]


@pytest.mark.parametrize("role", NON_WRITERS)
def test_viewer_and_billing_cannot_write(api, role):
    customer_id = api.new_customer()["id"]
    service_id = new_service(api, customer_id)["id"]
    before = state(api, customer_id)
    for method, path, body in write_requests(customer_id, service_id):
        kwargs = {"json": body} if body is not None else {}
        response = getattr(api, method)(path, role=role, **kwargs)
        problem = assert_problem(response, 403, "forbidden")
        assert role.value in problem["detail"], (method, path)
    assert state(api, customer_id) == before
    assert len(all_customers(api)) == 1
    assert all(t["revoked_at"] is None for t in assert_ok(api.get(TOKENS))["items"])


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.BILLING, Role.VIEWER])
def test_only_admin_manages_tokens(api, role):
    assert_problem(api.get(TOKENS, role=role), 403, "forbidden")
    assert_problem(api.post(f"{TOKENS}/{token_id(api, Role.VIEWER)}/revoke", role=role), 403, "forbidden")
    assert all(t["revoked_at"] is None for t in assert_ok(api.get(TOKENS))["items"])


# --------------------------------------------------------------------------------------------
# payload_too_large 413
# --------------------------------------------------------------------------------------------


def padded_body(size: int) -> bytes:
    """A JSON customer body of exactly `size` bytes (the name is far over its own limit)."""
    skeleton = '{"name": "%s", "document": "' + VALID_CPFS[0] + '"}'
    filler = size - len(skeleton) + 2
    raw = (skeleton % ("x" * filler)).encode()
    assert len(raw) == size
    return raw


def test_body_over_the_limit_is_refused(api):
    response = api.post(
        CUSTOMERS, content=padded_body(MAX_BODY + 1), headers={"Content-Type": "application/json"}
    )
    body = assert_problem(response, 413, "payload_too_large")
    assert str(MAX_BODY) in body["detail"]
    assert all_customers(api) == []


def test_chunked_body_over_the_limit_is_refused(api):
    raw = padded_body(MAX_BODY * 2)

    def chunks():
        for start in range(0, len(raw), 8192):
            yield raw[start : start + 8192]

    response = api.post(CUSTOMERS, content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "payload_too_large")
    assert all_customers(api) == []


def test_body_at_the_limit_is_parsed(api):
    response = api.post(
        CUSTOMERS, content=padded_body(MAX_BODY), headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 422, "validation_error")  # parsed; refused only for the long name


def test_oversized_transition_body_changes_nothing(api):
    customer_id = api.new_customer()["id"]
    before = state(api, customer_id)
    response = inactivate(api, customer_id, "other", note="n" * (MAX_BODY + 10))
    assert_problem(response, 413, "payload_too_large")
    assert state(api, customer_id) == before


# --------------------------------------------------------------------------------------------
# customer_inactive 409 / unknown_status 409
# --------------------------------------------------------------------------------------------


def test_an_inactive_customer_gets_no_new_service(api):
    customer_id = api.new_customer()["id"]
    existing = new_service(api, customer_id)
    assert_ok(inactivate(api, customer_id))
    assert_problem(add_service(api, customer_id, "Plano Novo"), 409, "customer_inactive")
    assert services_of(api, customer_id) == [existing]


def test_a_service_of_an_inactive_customer_cannot_be_resumed(api):
    customer_id = api.new_customer()["id"]
    service_id = new_service(api, customer_id)["id"]
    suspended = assert_ok(api.post(service_path(service_id, "suspend"), json={"reason": "reparo"}))
    assert_ok(inactivate(api, customer_id))
    response = api.post(service_path(service_id, "resume"))
    assert_problem(response, 409, "customer_inactive")
    assert services_of(api, customer_id) == [suspended]


@pytest.mark.parametrize(
    "method, tail, body",
    [
        ("post", "/inactivate", {"reason": "customer_request"}),
        ("post", "/activate", {"reason": "manual"}),
        ("patch", "", {"status": "inactive", "reason": "customer_request"}),
        ("patch", "", {"status": "active", "reason": "manual"}),
    ],
)
def test_an_unknown_stored_status_is_refused(api, method, tail, body):
    customer_id = api.new_customer()["id"]
    set_raw_status(api, customer_id, "frozen")
    before = state(api, customer_id)
    assert before["customer"]["status"] == "frozen"
    response = getattr(api, method)(customer_path(customer_id, tail), json=body)
    problem = assert_problem(response, 409, "unknown_status")
    assert "frozen" in problem["detail"]
    assert state(api, customer_id) == before
    assert before["history"] == []


# --------------------------------------------------------------------------------------------
# roles matrix
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", READERS)
def test_every_role_can_read(api, role):
    customer = api.new_customer()
    service = new_service(api, customer["id"])
    assert_ok(inactivate(api, customer["id"]))
    customer = assert_ok(api.get(customer_path(customer["id"])))

    assert assert_ok(api.get(CUSTOMERS, role=role))["items"] == [customer]
    assert assert_ok(api.get(customer_path(customer["id"]), role=role)) == customer
    assert len(assert_ok(api.get(customer_path(customer["id"], "/history"), role=role))["items"]) == 1
    assert assert_ok(api.get(customer_path(customer["id"], "/services"), role=role))["items"] == [service]


@pytest.mark.parametrize("role", WRITERS)
def test_operator_and_admin_can_write(api, role):
    created = assert_ok(
        api.post(CUSTOMERS, role=role, json={"name": "Ana", "document": VALID_CPFS[0]}), 201
    )
    customer_id = created["id"]
    edited = assert_ok(api.patch(customer_path(customer_id), role=role, json={"name": "Ana Maria"}))
    assert edited["customer"]["name"] == "Ana Maria"

    service_id = assert_ok(add_service(api, customer_id, role=role), 201)["id"]
    assert assert_ok(api.post(service_path(service_id, "suspend"), role=role, json={"reason": "x"}))[
        "status"
    ] == "suspended"
    assert assert_ok(api.post(service_path(service_id, "resume"), role=role))["status"] == "active"

    out = assert_ok(inactivate(api, customer_id, role=role))
    assert out["transition"]["actor"] == f"token:test-{role.value}"
    back = assert_ok(activate(api, customer_id, "customer_return", role=role))
    assert back["customer"]["status"] == "active"
    assert assert_ok(api.post(service_path(service_id, "cancel"), role=role))["status"] == "cancelled"
    assert [h["event"] for h in history(api, customer_id)] == ["activate", "inactivate"]


# --------------------------------------------------------------------------------------------
# happy paths
# --------------------------------------------------------------------------------------------


def test_create_returns_the_whole_customer(api):
    response = api.post(
        CUSTOMERS,
        role=Role.OPERATOR,
        json={
            "name": "  Ana Souza  ",
            "document": "529.982.247-25",
            "email": " Ana.Souza@Example.COM ",
            "phone": "(11) 98765-4321",
            "external_ref": " ERP-0042 ",
        },
    )
    customer = assert_ok(response, 201)
    assert set(customer) == CUSTOMER_FIELDS
    assert isinstance(customer["id"], int)
    assert customer["name"] == "Ana Souza"
    assert customer["document"] == "52998224725"
    assert customer["document_type"] == "cpf"
    assert customer["email"] == "Ana.Souza@example.com"
    assert customer["phone"] == "(11) 98765-4321"
    assert customer["external_ref"] == "ERP-0042"
    assert customer["status"] == "active"
    assert customer["inactivation_reason"] is None
    assert customer["invoicing_enabled"] is True
    assert customer["version"] == 1
    for stamp in ("status_changed_at", "created_at", "updated_at"):
        assert is_utc_timestamp(customer[stamp]), stamp
    assert assert_ok(api.get(customer_path(customer["id"]))) == customer
    assert history(api, customer["id"]) == []


def test_create_a_company_with_cnpj(api):
    body = {"name": "Provedor X Ltda", "document": "11.222.333/0001-81"}
    customer = assert_ok(api.post(CUSTOMERS, json=body), 201)
    assert customer["document"] == VALID_CNPJ
    assert customer["document_type"] == "cnpj"
    assert customer["email"] is None and customer["phone"] is None and customer["external_ref"] is None


def test_inactivate_then_activate(api):
    customer_id = api.new_customer()["id"]
    out = assert_ok(inactivate(api, customer_id, "customer_request", note="  mudou de cidade  "))
    assert set(out) == {"customer", "transition"}
    assert out["customer"]["status"] == "inactive"
    assert out["customer"]["inactivation_reason"] == "customer_request"
    assert out["customer"]["version"] == 2
    transition = out["transition"]
    assert TRANSITION_FIELDS <= set(transition)
    assert transition["event"] == "inactivate"
    assert (transition["from_status"], transition["to_status"]) == ("active", "inactive")
    assert transition["reason"] == "customer_request"
    assert transition["note"] == "mudou de cidade"
    assert transition["forced"] is False
    assert transition["actor"] == "token:test-operator"
    assert transition["source"] == "api"
    assert [(e["name"], e["state"]) for e in transition["effects"]] == [
        (name, "pending") for name in INACTIVATION_EFFECTS
    ]
    assert assert_ok(api.get(customer_path(customer_id))) == out["customer"]

    back = assert_ok(activate(api, customer_id, "customer_return"))
    assert back["customer"]["status"] == "active"
    assert back["customer"]["inactivation_reason"] is None
    assert back["customer"]["version"] == 3
    assert back["transition"]["event"] == "activate"
    assert (back["transition"]["from_status"], back["transition"]["to_status"]) == ("inactive", "active")
    assert back["transition"]["note"] is None
    assert [(e["name"], e["state"]) for e in back["transition"]["effects"]] == [
        (name, "pending") for name in ACTIVATION_EFFECTS
    ]


def test_history_is_newest_first_with_its_fields(api):
    customer_id = api.new_customer()["id"]
    first = assert_ok(inactivate(api, customer_id, "other", note="teste"))["transition"]
    second = assert_ok(activate(api, customer_id, "manual", role=Role.ADMIN))["transition"]

    items = history(api, customer_id)
    assert [h["id"] for h in items] == [second["id"], first["id"]]
    assert items == [second, first]  # history shows exactly what the transition answered
    newest = items[0]
    assert TRANSITION_FIELDS <= set(newest)
    assert newest["event"] == "activate"
    assert (newest["from_status"], newest["to_status"]) == ("inactive", "active")
    assert newest["reason"] == "manual" and newest["note"] is None
    assert newest["actor"] == "token:test-admin" and newest["source"] == "api"
    assert is_utc_timestamp(newest["created_at"])
    assert [{"name": e["name"], "state": e["state"]} for e in newest["effects"]] == [
        {"name": n, "state": "pending"} for n in ACTIVATION_EFFECTS
    ]
    assert items[1]["note"] == "teste" and items[1]["event"] == "inactivate"

    only_newest = assert_ok(api.get(customer_path(customer_id, "/history"), params={"limit": 1}))
    assert only_newest["items"] == [second]


def test_forced_activation_of_a_delinquent_customer(api):
    customer_id = api.new_customer()["id"]
    inactive_for_delinquency(api, customer_id)
    out = assert_ok(activate(api, customer_id, "manual", force=True, note="acordo de pagamento"))
    assert out["customer"]["status"] == "active"
    assert out["transition"]["forced"] is True
    assert out["transition"]["note"] == "acordo de pagamento"
    newest = history(api, customer_id)[0]
    assert newest["forced"] is True and newest["event"] == "activate"
    assert newest["actor"] == "token:test-operator"


def test_force_is_not_recorded_when_nothing_was_overridden(api):
    customer_id = api.new_customer()["id"]
    assert_ok(inactivate(api, customer_id, "customer_request"))
    out = assert_ok(activate(api, customer_id, "manual", force=True, note="sem motivo"))
    assert out["transition"]["forced"] is False


def test_delinquent_customer_activates_without_force_once_paid(api):
    customer_id = api.new_customer()["id"]
    inactive_for_delinquency(api, customer_id)
    with api.db.write() as s:
        s.execute(text("UPDATE invoices SET status='paid' WHERE customer_id=:i"), {"i": customer_id})
    out = assert_ok(activate(api, customer_id, "payment_received"))
    assert out["transition"]["forced"] is False


def test_patch_edit_and_save_with_a_status_change(api):
    customer_id = api.new_customer()["id"]
    response = api.patch(
        customer_path(customer_id),
        role=Role.OPERATOR,
        json={
            "name": "Nome Novo",
            "email": "NOVO@Example.com",
            "status": "inactive",
            "reason": "contract_termination",
            "note": "fim do contrato",
            "version": 1,
        },
    )
    out = assert_ok(response)
    customer, transition = out["customer"], out["transition"]
    assert customer["name"] == "Nome Novo"
    assert customer["email"] == "NOVO@example.com"
    assert customer["status"] == "inactive"
    assert customer["inactivation_reason"] == "contract_termination"
    assert customer["version"] == 2  # one save, one version
    assert transition["event"] == "inactivate"
    assert transition["reason"] == "contract_termination"
    assert transition["note"] == "fim do contrato"
    assert transition["source"] == "api"
    assert [e["name"] for e in transition["effects"]] == INACTIVATION_EFFECTS
    items = history(api, customer_id)
    assert items == [transition]
    assert assert_ok(api.get(customer_path(customer_id))) == customer


def test_patch_back_to_active_through_edit(api):
    customer_id = api.new_customer()["id"]
    assert_ok(inactivate(api, customer_id))
    out = assert_ok(
        api.patch(
            customer_path(customer_id),
            json={"status": "active", "reason": "customer_return", "version": 2},
        )
    )
    assert out["customer"]["status"] == "active" and out["customer"]["version"] == 3
    assert out["transition"]["event"] == "activate"
    assert len(history(api, customer_id)) == 2


def test_patch_fields_only_makes_no_transition(api):
    customer = api.new_customer(0, phone="1133334444")
    out = assert_ok(
        api.patch(
            customer_path(customer["id"]),
            json={"name": "Só Nome", "phone": "+55 11 3333-5555", "version": 1},
        )
    )
    assert out["transition"] is None
    assert out["customer"]["name"] == "Só Nome"
    assert out["customer"]["phone"] == "+55 11 3333-5555"
    assert out["customer"]["version"] == 2
    assert out["customer"]["status"] == customer["status"] == "active"
    assert out["customer"]["status_changed_at"] == customer["status_changed_at"]
    assert out["customer"]["created_at"] == customer["created_at"]
    assert history(api, customer["id"]) == []


def test_patch_with_the_current_status_and_no_reason_is_a_plain_edit(api):
    customer_id = api.new_customer()["id"]
    out = assert_ok(api.patch(customer_path(customer_id), json={"name": "Igual", "status": "active"}))
    assert out["transition"] is None
    assert out["customer"]["name"] == "Igual"
    assert out["customer"]["version"] == 2
    assert history(api, customer_id) == []


def test_patch_that_changes_nothing_keeps_the_version(api):
    customer = api.new_customer()
    out = assert_ok(
        api.patch(customer_path(customer["id"]), json={"name": customer["name"], "status": "active"})
    )
    assert out == {"customer": customer, "transition": None}


def test_patch_can_clear_optional_fields(api):
    customer = api.new_customer(0, email="a@example.com", external_ref="R1")
    out = assert_ok(api.patch(customer_path(customer["id"]), json={"email": None, "external_ref": ""}))
    assert out["customer"]["email"] is None and out["customer"]["external_ref"] is None
    assert out["customer"]["version"] == 2


# --------------------------------------------------------------------------------------------
# Idempotency-Key
# --------------------------------------------------------------------------------------------


def idem(key: str) -> dict:
    return {"Idempotency-Key": key}


def test_replayed_create_returns_the_first_response(api):
    body = {"name": "Ana", "document": VALID_CPFS[0]}
    first = api.post(CUSTOMERS, json=body, headers=idem("create-1"))
    assert_ok(first, 201)
    assert "idempotent-replayed" not in first.headers

    again = api.post(CUSTOMERS, json=body, headers=idem("create-1"))
    assert_ok(again, 201)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert again.content == first.content
    assert all_customers(api) == [first.json()]


def test_replayed_transition_makes_no_second_history_row(api):
    customer_id = api.new_customer()["id"]
    first = inactivate(api, customer_id, "other", note="x", headers=idem("inact-1"))
    assert_ok(first)
    after_first = state(api, customer_id)

    again = inactivate(api, customer_id, "other", note="x", headers=idem("inact-1"))
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    assert state(api, customer_id) == after_first
    assert len(after_first["history"]) == 1 and after_first["customer"]["version"] == 2


def test_replayed_service_actions(api):
    customer_id = api.new_customer()["id"]
    added = api.post(customer_path(customer_id, "/services"), json={"name": "Fibra"}, headers=idem("svc"))
    again = api.post(customer_path(customer_id, "/services"), json={"name": "Fibra"}, headers=idem("svc"))
    assert (added.status_code, again.status_code) == (201, 201)
    assert again.json() == added.json() and again.headers["idempotent-replayed"] == "true"
    assert len(services_of(api, customer_id)) == 1


def test_same_key_with_a_different_body_is_refused(api):
    body = {"name": "Ana", "document": VALID_CPFS[0]}
    created = assert_ok(api.post(CUSTOMERS, json=body, headers=idem("k")), 201)
    response = api.post(CUSTOMERS, json={**body, "document": VALID_CPFS[1]}, headers=idem("k"))
    problem = assert_problem(response, 422, "idempotency_key_reused")
    assert "k" in problem["detail"]
    assert all_customers(api) == [created]


def test_same_key_on_another_path_is_refused(api):
    a = api.new_customer(0)["id"]
    b = api.new_customer(1)["id"]
    assert_ok(inactivate(api, a, headers=idem("k")))
    before = state(api, b)
    assert_problem(inactivate(api, b, headers=idem("k")), 422, "idempotency_key_reused")
    assert state(api, b) == before


def test_a_refusal_is_replayed_even_after_the_condition_changed(api):
    customer_id = api.new_customer()["id"]
    refused = inactivate(api, customer_id, "delinquency", headers=idem("late-1"))
    assert_problem(refused, 409, "guard_failed", rule="no_overdue_invoice")

    add_invoice(api.db, customer_id, days_overdue=3)
    replay = inactivate(api, customer_id, "delinquency", headers=idem("late-1"))
    assert_problem(replay, 409, "guard_failed", rule="no_overdue_invoice")
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == refused.json()
    assert history(api, customer_id) == []

    fresh = inactivate(api, customer_id, "delinquency", headers=idem("late-2"))
    assert_ok(fresh)
    assert "idempotent-replayed" not in fresh.headers
    assert len(history(api, customer_id)) == 1


def test_a_first_refusal_is_not_marked_as_replayed(api):
    customer_id = api.new_customer()["id"]
    refused = inactivate(api, customer_id, "delinquency", headers=idem("first-refusal"))
    assert_problem(refused, 409, "guard_failed", rule="no_overdue_invoice")
    assert "idempotent-replayed" not in refused.headers


def test_keys_are_scoped_per_token(api):
    admin = api.post(
        CUSTOMERS, role=Role.ADMIN, json={"name": "A", "document": VALID_CPFS[0]}, headers=idem("shared")
    )
    operator = api.post(
        CUSTOMERS, role=Role.OPERATOR, json={"name": "B", "document": VALID_CPFS[1]}, headers=idem("shared")
    )
    assert_ok(admin, 201)
    assert_ok(operator, 201)  # not idempotency_key_reused: another token's key
    assert "idempotent-replayed" not in operator.headers
    assert admin.json()["id"] != operator.json()["id"]

    # Each token replays its own first response.
    replay = api.post(
        CUSTOMERS, role=Role.OPERATOR, json={"name": "B", "document": VALID_CPFS[1]}, headers=idem("shared")
    )
    assert replay.headers["idempotent-replayed"] == "true" and replay.json() == operator.json()
    # The admin's own "shared" still belongs to its first body.
    other = api.post(
        CUSTOMERS, role=Role.ADMIN, json={"name": "B", "document": VALID_CPFS[1]}, headers=idem("shared")
    )
    assert_problem(other, 422, "idempotency_key_reused")
    assert len(all_customers(api)) == 2


def test_same_key_same_body_from_another_token_runs_again(api):
    customer_id = api.new_customer()["id"]
    assert_ok(inactivate(api, customer_id, role=Role.ADMIN, headers=idem("k")))
    response = inactivate(api, customer_id, role=Role.OPERATOR, headers=idem("k"))
    assert_problem(response, 409, "transition_not_allowed")  # executed, not replayed
    assert len(history(api, customer_id)) == 1


# --------------------------------------------------------------------------------------------
# list: search, filter, paging
# --------------------------------------------------------------------------------------------


@pytest.fixture
def register(api):
    """Three customers with distinct searchable data; returns their ids in creation order."""
    maria = api.new_customer(0, name="Maria da Silva", email="maria@exemplo.com.br", external_ref="ERP-0042")
    joao = api.new_customer(1, name="João Pereira", email="joao@provedor.net", external_ref="ERP-0100")
    acme = api.new_customer(2, name="Acme Telecom", email="contato@acme.io", external_ref="X-77")
    return [maria["id"], joao["id"], acme["id"]]


@pytest.mark.parametrize(
    "q, expected",
    [
        ("maria", [0]),
        ("MARIA DA", [0]),
        ("  silva  ", [0]),
        ("529.982.247-25", [0]),
        ("52998224725", [0]),
        ("98224", [0]),
        ("111.444", [1]),
        ("ERP-0042", [0]),
        ("erp-0", [0, 1]),
        ("x-77", [2]),
        ("joao@provedor.net", [1]),
        ("acme.io", [2]),
        ("exemplo", [0]),
        ("nobody", []),
    ],
    ids=lambda v: v.strip() if isinstance(v, str) else "finds" + "".join(map(str, v)),
)
def test_search(api, register, q, expected):
    page = assert_ok(api.get(CUSTOMERS, params={"q": q}, role=Role.VIEWER))
    assert [c["id"] for c in page["items"]] == [register[i] for i in expected]
    assert page["next_cursor"] is None


def test_status_filter(api, register):
    assert_ok(inactivate(api, register[1]))
    inactive = assert_ok(api.get(CUSTOMERS, params={"status": "inactive"}))["items"]
    active = assert_ok(api.get(CUSTOMERS, params={"status": "active"}))["items"]
    assert [c["id"] for c in inactive] == [register[1]]
    assert [c["id"] for c in active] == [register[0], register[2]]
    both = assert_ok(api.get(CUSTOMERS, params={"status": "inactive", "q": "erp"}))["items"]
    assert [c["id"] for c in both] == [register[1]]


def test_pagination_walks_every_customer_once(api):
    ids = [api.new_customer(n)["id"] for n in range(5)]
    seen, pages, cursor = [], [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = assert_ok(api.get(CUSTOMERS, params=params))
        pages.append(len(page["items"]))
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str) and cursor
        assert len(pages) < 10, "paging does not end"
    assert pages == [2, 2, 1]
    assert seen == ids  # in order, none twice, none missing


def test_pagination_with_an_exact_last_page_ends_with_null_cursor(api):
    ids = [api.new_customer(n)["id"] for n in range(4)]
    first = assert_ok(api.get(CUSTOMERS, params={"limit": 2}))
    second = assert_ok(api.get(CUSTOMERS, params={"limit": 2, "cursor": first["next_cursor"]}))
    assert [c["id"] for c in first["items"] + second["items"]] == ids
    assert second["next_cursor"] is None


# --------------------------------------------------------------------------------------------
# services
# --------------------------------------------------------------------------------------------


def test_service_lifecycle(api):
    customer_id = api.new_customer()["id"]
    service = assert_ok(add_service(api, customer_id, "  Fibra 500  ", external_ref="SVC-1"), 201)
    assert SERVICE_FIELDS <= set(service)
    assert isinstance(service["id"], int)
    assert service["customer_id"] == customer_id
    assert service["name"] == "Fibra 500"
    assert service["external_ref"] == "SVC-1"
    assert service["status"] == "active"
    assert service["suspension_cause"] is None
    assert service["suspension_note"] is None
    assert service["suspended_at"] is None
    assert is_utc_timestamp(service["created_at"])
    assert services_of(api, customer_id) == [service]

    sid = service["id"]
    suspended = assert_ok(api.post(service_path(sid, "suspend"), json={"reason": "  troca de roteador "}))
    assert suspended["status"] == "suspended"
    assert suspended["suspension_cause"] == "manual"
    assert suspended["suspension_note"] == "troca de roteador"
    assert is_utc_timestamp(suspended["suspended_at"])
    assert_problem(
        api.post(service_path(sid, "suspend"), json={"reason": "de novo"}), 409, "transition_not_allowed"
    )

    resumed = assert_ok(api.post(service_path(sid, "resume")))
    assert resumed["status"] == "active"
    assert resumed["suspension_cause"] is None
    assert resumed["suspension_note"] is None
    assert resumed["suspended_at"] is None

    cancelled = assert_ok(api.post(service_path(sid, "cancel")))
    assert cancelled["status"] == "cancelled"
    assert is_utc_timestamp(cancelled["cancelled_at"])

    second = new_service(api, customer_id, "Telefone")
    assert services_of(api, customer_id) == [cancelled, second]
    # Services of one customer never show under another.
    other = api.new_customer(1)["id"]
    assert services_of(api, other) == []
    # Service actions are not customer transitions.
    assert history(api, customer_id) == []


def test_suspend_needs_a_reason_field(api):
    customer_id = api.new_customer()["id"]
    service = new_service(api, customer_id)
    assert_problem(api.post(service_path(service["id"], "suspend"), json={}), 422, "validation_error")
    response = api.post(service_path(service["id"], "suspend"), json={"reason": ""})
    assert_problem(response, 422, "validation_error")
    assert services_of(api, customer_id) == [service]


# --------------------------------------------------------------------------------------------
# health, OpenAPI, method not allowed
# --------------------------------------------------------------------------------------------


def test_healthz_needs_no_auth(api):
    response = api.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_openapi_needs_a_token_of_any_role_and_lists_the_routes(api):
    assert_problem(api.client.get("/openapi.json"), 401, "unauthorized")
    wrong = api.client.get("/openapi.json", headers={"Authorization": f"Bearer {api.tokens[Role.ADMIN]}x"})
    assert_problem(wrong, 401, "unauthorized")
    spec = assert_ok(api.get("/openapi.json", role=Role.VIEWER))
    for path in (
        CUSTOMERS,
        "/api/v1/customers/{customer_id}",
        "/api/v1/customers/{customer_id}/inactivate",
        "/api/v1/customers/{customer_id}/activate",
        "/api/v1/customers/{customer_id}/history",
        "/api/v1/customers/{customer_id}/services",
        "/api/v1/services/{service_id}/suspend",
        TOKENS,
    ):
        assert path in spec["paths"], path
    assert "post" in spec["paths"]["/api/v1/customers/{customer_id}/inactivate"]
    assert "/openapi.json" not in spec["paths"] and "/docs" not in spec["paths"]
    bearer = spec["components"]["securitySchemes"]["bearer"]
    assert (bearer["type"], bearer["scheme"]) == ("http", "bearer")
    assert spec["paths"][CUSTOMERS]["post"]["security"] == [{"bearer": []}]
    assert "security" not in spec["paths"]["/healthz"]["get"]


def test_the_docs_page_needs_a_token_or_a_session(api):
    anonymous = api.client.get("/docs", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/entrar?next=/docs"
    assert api.client.get("/redoc").status_code == 404  # not served at all
    page = api.get("/docs", role=Role.VIEWER)
    assert page.status_code == 200 and "/openapi.json" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "https://" not in page.text and "<script>" not in page.text  # no CDN, nothing inline
    script = api.client.get("/static/swagger-ui/swagger-ui-bundle.js")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.text


def test_wrong_method_is_a_problem(api):
    assert_problem(api.client.delete(CUSTOMERS), 405, "method_not_allowed")


# --------------------------------------------------------------------------------------------
# secrets
# --------------------------------------------------------------------------------------------


def test_no_token_ever_appears_in_a_response(api):
    customer_id = api.new_customer()["id"]
    responses = [
        api.get(TOKENS),
        api.get(CUSTOMERS),
        api.get(customer_path(customer_id)),
        inactivate(api, customer_id),
        api.get(customer_path(customer_id, "/history")),
        api.get(TOKENS, role=Role.OPERATOR),
        api.client.get(CUSTOMERS, headers={"Authorization": f"Basic {api.tokens[Role.ADMIN]}"}),
        api.client.get(CUSTOMERS, headers={"Authorization": f"Bearer {api.tokens[Role.ADMIN]}x"}),
        api.get("/openapi.json"),
    ]
    viewer_id = token_id(api, Role.VIEWER)
    responses.append(api.post(f"{TOKENS}/{viewer_id}/revoke"))
    responses.append(api.get(CUSTOMERS, role=Role.VIEWER))  # the revoked token's 401

    listed = responses[0].json()["items"]
    assert {t["name"] for t in listed} == {f"test-{r.value}" for r in Role}
    for t in listed:
        assert "token_hash" not in t
        assert set(t) >= {"id", "name", "role", "prefix", "created_at", "revoked_at"}
        assert api.tokens[Role(t["role"])].startswith(t["prefix"])
        assert len(t["prefix"]) < len(api.tokens[Role(t["role"])]) // 2
    for response in responses:
        for token in api.tokens.values():
            assert token not in response.text, response.request.url
            assert token[len("ativa_") :] not in response.text, response.request.url


def test_search_treats_wildcards_as_characters(api):
    api.new_customer(0, name="Ana")
    api.new_customer(1, name="100% Fibra")
    names = lambda q: sorted(c["name"] for c in assert_ok(api.get(CUSTOMERS, params={"q": q}))["items"])
    assert names("%") == ["100% Fibra"]
    assert names("_") == []
    assert names("a_a") == []
    assert names("ana") == ["Ana"]


def test_duplicate_service_external_ref_is_a_conflict(api):
    customer_id = api.new_customer()["id"]
    assert_ok(add_service(api, customer_id, "Fibra", external_ref="SVC-9"), 201)
    before = state(api, customer_id)
    assert_problem(add_service(api, customer_id, "TV", external_ref="SVC-9"), 409, "duplicate_external_ref")
    assert state(api, customer_id) == before


def test_idempotency_ignores_key_order_and_spacing(api):
    body = '{"name": "Ana", "document": "%s"}' % VALID_CPFS[0]
    same_value = '{ "document":"%s","name":"Ana" }' % VALID_CPFS[0]
    headers = {**idem("reordered"), "Content-Type": "application/json"}
    first = assert_ok(api.post(CUSTOMERS, content=body, headers=headers), 201)
    replay = api.post(CUSTOMERS, content=same_value, headers=headers)
    assert replay.headers["idempotent-replayed"] == "true"
    assert assert_ok(replay, 201) == first
    assert len(all_customers(api)) == 1


@pytest.mark.parametrize(
    "path", ["/api/v1/customers/99999999999999999999", "/api/v1/customers/3000000000/history",
             "/api/v1/customers/0"],
)
def test_out_of_range_ids_are_validation_errors(api, path):
    assert_problem(api.get(path), 422, "validation_error")


def test_a_cursor_beyond_any_id_is_refused(api):
    import base64

    cursor = base64.urlsafe_b64encode(b"c99999999999999999").decode().rstrip("=")
    assert_problem(api.get(CUSTOMERS, params={"cursor": cursor}), 422, "validation_error")


def test_unknown_stored_service_status_is_refused(api):
    customer_id = api.new_customer()["id"]
    service = assert_ok(add_service(api, customer_id), 201)
    with api.db.write() as session:
        session.execute(text("UPDATE services SET status='paused' WHERE id=:i"), {"i": service["id"]})
    before = state(api, customer_id)
    for action, body in (("suspend", {"reason": "x"}), ("resume", None), ("cancel", None)):
        response = api.post(service_path(service["id"], action), json=body)
        assert_problem(response, 409, "unknown_status")
    assert state(api, customer_id) == before


def test_reason_without_status_in_patch_is_refused(api):
    customer_id = api.new_customer()["id"]
    before = state(api, customer_id)
    response = api.patch(customer_path(customer_id), json={"reason": "customer_request"})
    assert_problem(response, 422, "validation_error")
    assert state(api, customer_id) == before
