"""Who may call the HTTP API: bearer tokens (401), the role matrix (403 and what each role may do),
the endpoints open to all or to any token, and no token ever in a response. On SQLite and on
PostgreSQL (the `api` fixture)."""

import pytest

from tests.conftest import VALID_CPFS
from tests.e2e.api_support import (
    CUSTOMERS,
    NON_WRITERS,
    READERS,
    TOKENS,
    WRITERS,
    activate,
    add_service,
    all_customers,
    assert_ok,
    assert_problem,
    customer_path,
    history,
    inactivate,
    is_utc_timestamp,
    new_service,
    service_path,
    state,
    token_id,
)
from workflow.domain.vocabulary import Role

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
    created = assert_ok(api.post(CUSTOMERS, role=role, json={"name": "Ana", "document": VALID_CPFS[0]}), 201)
    customer_id = created["id"]
    edited = assert_ok(api.patch(customer_path(customer_id), role=role, json={"name": "Ana Maria"}))
    assert edited["customer"]["name"] == "Ana Maria"

    service_id = assert_ok(add_service(api, customer_id, role=role), 201)["id"]
    assert (
        assert_ok(api.post(service_path(service_id, "suspend"), role=role, json={"reason": "x"}))["status"]
        == "suspended"
    )
    assert assert_ok(api.post(service_path(service_id, "resume"), role=role))["status"] == "active"

    out = assert_ok(inactivate(api, customer_id, role=role))
    assert out["transition"]["actor"] == f"token:test-{role.value}"
    back = assert_ok(activate(api, customer_id, "customer_return", role=role))
    assert back["customer"]["status"] == "active"
    assert assert_ok(api.post(service_path(service_id, "cancel"), role=role))["status"] == "cancelled"
    assert [h["event"] for h in history(api, customer_id)] == ["activate", "inactivate"]


# --------------------------------------------------------------------------------------------
# health, OpenAPI, docs
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
