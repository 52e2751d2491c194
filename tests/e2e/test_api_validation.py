"""Bad requests through the HTTP API: each refused with its problem+json (422, 404, 405, 413), naming
the field, and a refused request changes nothing. On SQLite and on PostgreSQL (the `api` fixture)."""

import pytest

from tests.conftest import VALID_CPFS
from tests.e2e.api_support import (
    API,
    CUSTOMERS,
    MAX_BODY,
    TOKENS,
    all_customers,
    assert_ok,
    assert_problem,
    customer_path,
    inactivate,
    service_path,
    state,
)

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


@pytest.mark.parametrize(
    "path",
    ["/api/v1/customers/99999999999999999999", "/api/v1/customers/3000000000/history", "/api/v1/customers/0"],
)
def test_out_of_range_ids_are_validation_errors(api, path):
    assert_problem(api.get(path), 422, "validation_error")


def test_a_cursor_beyond_any_id_is_refused(api):
    import base64

    cursor = base64.urlsafe_b64encode(b"c99999999999999999").decode().rstrip("=")
    assert_problem(api.get(CUSTOMERS, params={"cursor": cursor}), 422, "validation_error")


def test_reason_without_status_in_patch_is_refused(api):
    customer_id = api.new_customer()["id"]
    before = state(api, customer_id)
    response = api.patch(customer_path(customer_id), json={"reason": "customer_request"})
    assert_problem(response, 422, "validation_error")
    assert state(api, customer_id) == before


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
# method_not_allowed 405
# --------------------------------------------------------------------------------------------


def test_wrong_method_is_a_problem(api):
    assert_problem(api.client.delete(CUSTOMERS), 405, "method_not_allowed")


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
    response = api.post(CUSTOMERS, content=padded_body(MAX_BODY + 1), headers={"Content-Type": "application/json"})
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
    response = api.post(CUSTOMERS, content=padded_body(MAX_BODY), headers={"Content-Type": "application/json"})
    assert_problem(response, 422, "validation_error")  # parsed; refused only for the long name


def test_oversized_transition_body_changes_nothing(api):
    customer_id = api.new_customer()["id"]
    before = state(api, customer_id)
    response = inactivate(api, customer_id, "other", note="n" * (MAX_BODY + 10))
    assert_problem(response, 413, "payload_too_large")
    assert state(api, customer_id) == before
