"""Hostile input, on SQLite and PostgreSQL: every id, date and text that a fuzzer (schemathesis)
sent and got a 500 for, or got silently accepted, is now a clear 4xx naming the field (a
Portuguese message beside it in the UI, one line and exit 2 in the CLI), and nothing is written.

The bounds themselves live in workflow/domain/limits.py (tests/unit/test_limits.py)."""

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from tests.conftest import VALID_CPFS
from tests.e2e.billing_support import NEW_SECRET, invoice, new_customer, send
from tests.e2e.billing_support import URL as BILLING_URL
from tests.e2e.web_support import PASSWORD, csrf_of, edit, signed_in
from workflow.application import create_app
from workflow.cli import app as cli_app
from workflow.db.models import BillingEvent, Customer, Invoice, StatusChange
from workflow.domain import limits
from workflow.domain.vocabulary import (
    ActivationReason,
    CustomerEvent,
    CustomerStatus,
    Effect,
    EffectState,
    InactivationReason,
    Role,
    RouterVendor,
    ServiceStatus,
    Source,
    SuspensionCause,
)
from workflow.settings import Settings, get_settings
from workflow.usecases import users
from workflow.usecases.business_day import provider_today

API = "/api/v1"
CUSTOMERS = f"{API}/customers"
PROBLEM_JSON = "application/problem+json"


def refused(response, field: str, status: int = 422, code: str = "validation_error") -> dict:
    """A problem+json refusal whose detail names the field."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    assert body["code"] == code, body
    assert field in body["detail"], body
    return body


def count(db, model) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(model))


def customer_row(db, customer_id: int) -> dict:
    with db.read() as session:
        c = session.get(Customer, customer_id)
        return {k: getattr(c, k) for k in ("name", "external_ref", "status", "version", "return_on")}


# --------------------------------------------------------------------------------------------
# integers beyond the id columns
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("customer_id", ["99999999999999999999", "2147483648", "0", "-1"])
def test_effects_filter_refuses_ids_no_column_can_hold(api, customer_id):
    refused(api.get(f"{API}/effects", params={"customer_id": customer_id}), "customer_id")


def test_the_largest_id_is_a_plain_miss(api):
    response = api.get(f"{API}/effects", params={"customer_id": limits.MAX_ROW_ID})
    assert response.status_code == 200 and response.json() == {"items": []}


def test_patch_version_beyond_the_column_is_refused(api):
    customer_id = api.new_customer()["id"]
    before = customer_row(api.db, customer_id)
    refused(api.patch(f"{CUSTOMERS}/{customer_id}", json={"name": "Outro", "version": 2**31}), "version")
    assert customer_row(api.db, customer_id) == before


# --------------------------------------------------------------------------------------------
# dates: ISO strings, within the accepted window
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("as_of", ["0001-01-01", "9999-12-31", "1900-01-01"])
def test_sweep_dates_outside_the_window_are_refused(api, as_of):
    refused(api.get(f"{API}/delinquency/preview", params={"as_of": as_of}, role=Role.VIEWER), "as_of")
    refused(api.post(f"{API}/delinquency/run", json={"as_of": as_of}), "as_of")


@pytest.mark.parametrize("as_of", ["0", "1700000000", "2026-12-1", "2026-12-01T00:00:00"])
def test_sweep_dates_must_be_iso_strings(api, as_of):
    refused(api.get(f"{API}/delinquency/preview", params={"as_of": as_of}), "as_of")


@pytest.mark.parametrize("as_of", [0, 1764547200, 20261201])
def test_a_number_is_not_a_date_in_a_body(api, as_of):
    refused(api.post(f"{API}/delinquency/run", json={"as_of": as_of}), "as_of")
    customer_id = api.new_customer()["id"]
    response = api.post(f"{CUSTOMERS}/{customer_id}/inactivate", json={"reason": "customer_request", "until": as_of})
    refused(response, "until")
    assert customer_row(api.db, customer_id)["status"] == "active"


def test_the_window_edges_are_accepted(api):
    first, last = limits.date_window(provider_today())
    for day in (first, last):
        assert api.get(f"{API}/delinquency/preview", params={"as_of": day.isoformat()}).status_code == 200
    refused(api.get(f"{API}/delinquency/preview", params={"as_of": (first - timedelta(days=1)).isoformat()}), "as_of")
    refused(api.get(f"{API}/delinquency/preview", params={"as_of": (last + timedelta(days=1)).isoformat()}), "as_of")


def test_a_return_date_years_ahead_is_refused(api):
    today = provider_today()
    customer_id = api.new_customer()["id"]
    far = {"reason": "customer_request", "until": "3984-01-01"}
    refused(api.post(f"{CUSTOMERS}/{customer_id}/inactivate", json=far), "until")
    assert customer_row(api.db, customer_id)["status"] == "active"
    assert count(api.db, StatusChange) == 0

    last = limits.last_return_date(today)
    ok = api.post(
        f"{CUSTOMERS}/{customer_id}/inactivate", json={"reason": "customer_request", "until": last.isoformat()}
    )
    assert ok.status_code == 200, ok.text
    refused(
        api.post(f"{CUSTOMERS}/{customer_id}/return-date", json={"until": (last + timedelta(days=1)).isoformat()}),
        "until",
    )
    assert customer_row(api.db, customer_id)["return_on"] == last


# --------------------------------------------------------------------------------------------
# text: no control characters, no NUL (PostgreSQL's 500), on both databases
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, text",
    [
        *[(field, "Ana\x00Maria") for field in ("name", "external_ref", "email", "phone", "document")],
        ("name", "Ana\x01"),
        ("name", "Ana\x1bMaria"),
        ("name", "Ana\nMaria"),
        ("name", "Ana\tMaria"),
    ],
    ids=["name-nul", "external_ref-nul", "email-nul", "phone-nul", "document-nul", "soh", "esc", "newline", "tab"],
)
def test_control_characters_in_a_new_customer_are_refused(api, field, text):
    body = {"name": "Ana", "document": VALID_CPFS[0], field: text}
    refused(api.post(CUSTOMERS, json=body), f"body.{field}")
    assert count(api.db, Customer) == 0


@pytest.mark.parametrize("field", ["name", "external_ref"])
def test_control_characters_in_an_edit_are_refused(api, field):
    customer_id = api.new_customer(external_ref="ERP-1")["id"]
    before = customer_row(api.db, customer_id)
    refused(api.patch(f"{CUSTOMERS}/{customer_id}", json={field: "x\x00y"}), f"body.{field}")
    assert customer_row(api.db, customer_id) == before


@pytest.mark.parametrize(
    "path, body",
    [
        ("/inactivate", {"reason": "other", "note": "nota\x00"}),
        ("/activate", {"reason": "manual", "note": "nota\x07"}),
        ("", {"status": "inactive", "reason": "other", "note": "\x00"}),
    ],
)
def test_control_characters_in_a_note_are_refused(api, path, body):
    customer_id = api.new_customer()["id"]
    if path == "/activate":
        assert api.post(f"{CUSTOMERS}/{customer_id}/inactivate", json={"reason": "customer_request"}).status_code == 200
    before = customer_row(api.db, customer_id)
    method = api.patch if path == "" else api.post
    refused(method(f"{CUSTOMERS}/{customer_id}{path}", json=body), "body.note")
    assert customer_row(api.db, customer_id) == before


def test_a_note_keeps_its_line_breaks_and_tabs(api):
    customer_id = api.new_customer()["id"]
    note = "linha 1\r\nlinha 2\n\tfim"
    response = api.post(f"{CUSTOMERS}/{customer_id}/inactivate", json={"reason": "other", "note": note})
    assert response.status_code == 200, response.text
    assert response.json()["transition"]["note"] == note


def test_control_characters_in_services_are_refused(api):
    customer_id = api.new_customer()["id"]
    refused(api.post(f"{CUSTOMERS}/{customer_id}/services", json={"name": "Fibra\x00"}), "body.name")
    refused(
        api.post(f"{CUSTOMERS}/{customer_id}/services", json={"name": "Fibra", "external_ref": "\x00"}),
        "body.external_ref",
    )
    service = api.post(f"{CUSTOMERS}/{customer_id}/services", json={"name": "Fibra"})
    assert service.status_code == 201
    refused(api.post(f"{API}/services/{service.json()['id']}/suspend", json={"reason": "x\x00"}), "body.reason")
    assert api.get(f"{CUSTOMERS}/{customer_id}/services").json()["items"][0]["status"] == "active"


def test_a_control_character_in_an_idempotency_key_is_refused(api):
    # A tab is legal in an HTTP header value, so it can reach us from a real client.
    response = api.post(
        CUSTOMERS, json={"name": "Ana", "document": VALID_CPFS[0]}, headers={"Idempotency-Key": "pedido\t42"}
    )
    refused(response, "Idempotency-Key")
    assert count(api.db, Customer) == 0


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ADMIN])
def test_a_search_for_a_nul_is_refused_for_every_role(api, role):
    api.new_customer()
    refused(api.get(CUSTOMERS, params={"q": "\x00"}, role=role), "query.q")
    refused(api.get(CUSTOMERS, params={"cursor": "\x00"}, role=role), "query.cursor")


# --------------------------------------------------------------------------------------------
# billing events
# --------------------------------------------------------------------------------------------


@pytest.fixture
def billing(db):
    settings = Settings(database_url=db.url, billing_inbound_secret=NEW_SECRET)
    with TestClient(create_app(settings, db), raise_server_exceptions=False) as client:
        yield client


def test_a_webhook_id_longer_than_its_column_is_refused(billing, db):
    cid = new_customer(db)
    body = {"type": "invoice.created", "data": {"invoice_id": "INV-1", "customer_id": cid}}
    refused(send(billing, body, "w" * 256), "webhook-id")
    assert count(db, BillingEvent) == 0 and count(db, Invoice) == 0
    assert send(billing, body, "w" * 255).status_code == 202


@pytest.mark.parametrize("field", ["invoice_id", "customer_ref"])
def test_a_nul_in_a_billing_event_is_refused(billing, db, field):
    new_customer(db, ref="ERP-1")
    data = {"invoice_id": "INV-1", "customer_ref": "ERP-1"}
    data[field] = data[field].replace("-", "\x00")
    refused(send(billing, {"type": "invoice.created", "data": data}, "evt-nul"), f"data.{field}")
    assert count(db, BillingEvent) == 0 and count(db, Invoice) == 0


def test_ids_that_disagree_are_refused_never_guessed(billing, db):
    first = new_customer(db, 0, ref="ERP-1")
    new_customer(db, 1, ref="ERP-2")
    body = {
        "type": "invoice.created",
        "data": {"invoice_id": "INV-1", "customer_id": first, "customer_ref": "ERP-2", "amount": "10.00"},
    }
    refused(send(billing, body, "evt-mixed"), "customer_ref")
    assert count(db, BillingEvent) == 0 and invoice(db, "INV-1") is None
    body["data"]["customer_ref"] = "ERP-1"  # the same customer twice is fine
    assert send(billing, body, "evt-agreed").status_code == 202
    assert invoice(db, "INV-1").customer_id == first


@pytest.mark.parametrize(
    "data, field",
    [
        ({"due_date": "0001-01-01"}, "due_date"),
        ({"due_date": 0}, "due_date"),
        ({"paid_at": "0001-01-01T00:00:00+03:00"}, "paid_at"),
        ({"paid_at": "9999-12-31T23:00:00-03:00"}, "paid_at"),
        ({"paid_at": 1764547200}, "paid_at"),
        ({"paid_at": "2026-12-01T10:00:00"}, "paid_at"),  # no time zone: which day was it?
        ({"customer_id": 2**31}, "customer_id"),
    ],
)
def test_implausible_billing_dates_and_ids_are_refused(billing, db, data, field):
    cid = new_customer(db)
    body = {"type": "invoice.paid", "data": {"invoice_id": "INV-1", "customer_id": cid, **data}}
    refused(send(billing, body, f"evt-{field}"), field)
    assert count(db, BillingEvent) == 0 and count(db, Invoice) == 0


# --------------------------------------------------------------------------------------------
# bodies, methods
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "application/merge-patch+json"]
)
def test_a_body_that_is_not_utf8_json_is_a_validation_error(api, content_type):
    response = api.post(CUSTOMERS, content=b"\xff\xfe not json", headers={"Content-Type": content_type})
    refused(response, "body")
    assert count(api.db, Customer) == 0


def test_the_sweep_run_refuses_unknown_fields(api):
    refused(api.post(f"{API}/delinquency/run", json={"as_of": "2026-12-01", "dry_run": True}), "dry_run")


def test_a_405_says_which_methods_are_allowed(api):
    for method, path, allow in [
        ("DELETE", f"{CUSTOMERS}/1", "GET, PATCH"),  # two routes of one path: both methods
        ("PUT", CUSTOMERS, "GET, POST"),
        ("GET", f"{CUSTOMERS}/1/inactivate", "POST"),
        ("GET", BILLING_URL, "POST"),
        ("DELETE", "/metrics", "GET"),
        ("DELETE", "/clientes", "GET"),
        ("POST", "/static/ativa.css", "GET, HEAD"),
    ]:
        response = api.client.request(method, path, headers=api.headers())
        assert response.status_code == 405, (method, path)
        assert response.headers["allow"] == allow, (method, path)
        if path.startswith(("/api", "/metrics")):
            assert response.json()["code"] == "method_not_allowed"
        else:  # the UI's own addresses answer with its Portuguese error page
            assert "text/html" in response.headers["content-type"] and "Ação não permitida" in response.text


# --------------------------------------------------------------------------------------------
# the OpenAPI document and the behaviour agree
# --------------------------------------------------------------------------------------------


def values(enum) -> list[str]:
    return [member.value for member in enum]


def schema_enum(doc: dict, schema: dict) -> list[str]:
    """The enum of a property: inline, through a $ref, or in the non-null branch of anyOf."""
    if "$ref" in schema:
        return schema_enum(doc, doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]])
    if "anyOf" in schema:
        return next(schema_enum(doc, s) for s in schema["anyOf"] if s.get("type") != "null")
    return schema["enum"]


def test_the_document_declares_the_domains_enums(api):
    doc = api.get("/openapi.json", role=Role.VIEWER).json()
    props = {
        name: schema["properties"] for name, schema in doc["components"]["schemas"].items() if "properties" in schema
    }
    expected = {
        ("CustomerOut", "status"): CustomerStatus,
        ("CustomerOut", "inactivation_reason"): InactivationReason,
        ("CustomerPatch", "status"): CustomerStatus,
        ("EffectOut", "state"): EffectState,
        ("EffectOut", "name"): Effect,
        ("EffectDetail", "state"): EffectState,
        ("TransitionOut", "event"): CustomerEvent,
        ("TransitionOut", "from_status"): CustomerStatus,
        ("TransitionOut", "to_status"): CustomerStatus,
        ("TransitionOut", "source"): Source,
        ("ServiceOut", "status"): ServiceStatus,
        ("ServiceOut", "suspension_cause"): SuspensionCause,
        ("TokenOut", "role"): Role,
        ("RouterOut", "vendor"): RouterVendor,
        ("RouterIn", "vendor"): RouterVendor,
        ("InactivateIn", "reason"): InactivationReason,
        ("ActivateIn", "reason"): ActivationReason,
    }
    for (schema, field), enum in expected.items():
        assert schema_enum(doc, props[schema][field]) == values(enum), (schema, field)
    assert sorted(schema_enum(doc, props["TransitionOut"]["reason"])) == sorted(
        values(InactivationReason) + values(ActivationReason)
    )
    patch_reason = props["CustomerPatch"]["reason"]["anyOf"]
    assert sorted(v for s in patch_reason if s.get("type") != "null" for v in schema_enum(doc, s)) == sorted(
        values(InactivationReason) + values(ActivationReason)
    )

    params = {p["name"]: p for p in doc["paths"][CUSTOMERS]["get"]["parameters"]}
    assert schema_enum(doc, params["status"]["schema"]) == values(CustomerStatus)
    params = {p["name"]: p for p in doc["paths"][f"{API}/effects"]["get"]["parameters"]}
    assert schema_enum(doc, params["state"]["schema"]) == values(EffectState)
    assert params["customer_id"]["schema"]["anyOf"][0]["maximum"] == limits.MAX_ROW_ID

    # ...and what the document does not list is refused.
    refused(api.get(CUSTOMERS, params={"status": "frozen"}), "status")
    refused(api.get(f"{API}/effects", params={"state": "lost"}), "state")


def test_every_authenticated_operation_documents_401_and_403(api):
    doc = api.get("/openapi.json").json()
    operations = [(path, method, op) for path, ops in doc["paths"].items() for method, op in ops.items()]
    bearer = [(path, method, op) for path, method, op in operations if op.get("security") == [{"bearer": []}]]
    assert {(path, method) for path, method, _ in operations} - {(p, m) for p, m, _ in bearer} == {
        ("/healthz", "get"),
        ("/readyz", "get"),
        (BILLING_URL, "post"),
    }
    for path, method, op in bearer:
        assert {"401", "403"} <= set(op["responses"]), (path, method)
        # The document and the behaviour agree: no token is a 401 problem.
        if "{" not in path and method == "get":
            response = api.client.get(path)
            assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer", path
    billing = doc["paths"][BILLING_URL]["post"]
    assert "401" in billing["responses"]
    headers = {p["name"]: p["schema"] for p in billing["parameters"]}
    assert headers["webhook-id"]["maxLength"] == 255
    event = billing["requestBody"]["content"]["application/json"]["schema"]
    assert (
        "$ref" not in str(event)
        and event["properties"]["data"]["properties"]["customer_id"]["anyOf"][0]["maximum"] == limits.MAX_ROW_ID
    )
    assert api.get("/metrics", role=Role.VIEWER).status_code == 200


# --------------------------------------------------------------------------------------------
# the operator UI
# --------------------------------------------------------------------------------------------


@pytest.fixture
def web(db):
    with db.write() as session:
        for name, role in (("ana", "admin"), ("vera", "viewer")):
            users.create_user(session, name, role, PASSWORD)
    with TestClient(
        create_app(Settings(database_url=db.url), db), raise_server_exceptions=False, follow_redirects=False
    ) as client:
        client.db = db
        yield client


def new_customer_in_ui(web) -> int:
    form = web.get("/clientes/novo")
    created = web.post(
        "/clientes/novo",
        data={
            "name": "Maria Souza",
            "document": "52998224725",
            "external_ref": "C-1",
            "csrf_token": csrf_of(form.text),
        },
    )
    assert created.status_code == 303, created.text
    return int(re.search(r"/clientes/(\d+)", created.headers["location"]).group(1))


def field_error(page: str, field: str) -> str:
    found = re.search(rf'<p class="field-error" id="{field}-erro"[^>]*>([^<]+)</p>', page)
    assert found, page
    return found.group(1)


@pytest.mark.parametrize(
    "typed, message",
    [
        ("0001-01-01", "Escolha uma data entre"),
        ("9999-12-31", "Escolha uma data entre"),
        ("0", "Data inválida"),
    ],
)
def test_the_delinquency_preview_refuses_a_date_out_of_range(web, typed, message):
    signed_in(web, "ana")
    page = web.get("/inadimplencia", params={"data": typed})
    assert page.status_code == 422
    assert message in field_error(page.text, "data")
    assert f'value="{typed}"' in page.text  # what was typed stays in the field


@pytest.mark.parametrize("user", ["ana", "vera"])
def test_the_search_refuses_a_control_character(web, user):
    signed_in(web, user)
    page = web.get("/clientes", params={"q": "Ana\x00"})
    assert page.status_code == 422
    assert "caractere de controle" in field_error(page.text, "q")


def test_a_new_customer_with_a_nul_stays_on_the_form(web):
    signed_in(web, "ana")
    form = web.get("/clientes/novo")
    data = {
        "name": "Maria\x00Souza",
        "document": "529.982.247-25",
        "email": "maria@exemplo.com.br",
        "phone": "",
        "external_ref": "C\x01-1",
        "csrf_token": csrf_of(form.text),
    }
    page = web.post("/clientes/novo", data=data)
    assert page.status_code == 422
    assert "caractere de controle" in field_error(page.text, "name")
    assert "caractere de controle" in field_error(page.text, "external_ref")
    assert 'value="maria@exemplo.com.br"' in page.text and 'value="529.982.247-25"' in page.text
    assert count(web.db, Customer) == 0


def test_salvar_refuses_control_characters_and_keeps_the_input(web):
    signed_in(web, "ana")
    customer_id = new_customer_in_ui(web)
    before = customer_row(web.db, customer_id)

    page = edit(web, customer_id, name="Maria\x00Souza")
    assert page.status_code == 422
    assert "caractere de controle" in field_error(page.text, "name")
    page = edit(web, customer_id, ativo="nao", motivo="other", observacao="por\x00que")
    assert page.status_code == 422
    assert "caractere de controle" in page.text and "por" in page.text
    assert customer_row(web.db, customer_id) == before


def test_a_return_date_years_ahead_is_refused_in_the_ui(web):
    signed_in(web, "ana")
    customer_id = new_customer_in_ui(web)
    page = edit(web, customer_id, ativo="nao", motivo="customer_request", data_retorno="3984-01-01")
    assert page.status_code == 422
    assert "no máximo 366 dias" in page.text
    assert customer_row(web.db, customer_id)["status"] == "active"


@pytest.mark.parametrize(
    "fields", [{"version": "²"}, {"ativo": "nao", "motivo": "other", "dias": "²"}], ids=["version", "dias"]
)
def test_digits_that_int_cannot_read_are_not_a_500(web, fields):
    # "²".isdigit() is True, int("²") raises: the form must not trust isdigit() alone.
    signed_in(web, "ana")
    customer_id = new_customer_in_ui(web)
    page = edit(web, customer_id, **fields)
    assert page.status_code in (303, 422), page.text
    if "dias" in fields:
        assert page.status_code == 422 and "Informe um número de dias entre 1 e 365." in page.text


def test_a_sign_in_with_a_nul_in_the_username_is_refused(web):
    form = web.get("/entrar")
    response = web.post(
        "/entrar",
        data={"username": "ana\x00", "password": PASSWORD, "csrf_token": csrf_of(form.text), "next": "/clientes"},
    )
    assert response.status_code == 422
    assert "caractere de controle" in response.text


# --------------------------------------------------------------------------------------------
# the CLI
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "run"])
def test_sweep_with_a_year_one_date_prints_one_line_and_exits_2(db, monkeypatch, dry_run):
    monkeypatch.setenv("ATIVA_DATABASE_URL", db.url)
    get_settings.cache_clear()
    try:
        args = ["sweep", *(["--dry-run"] if dry_run else []), "--as-of", "0001-01-01"]
        result = CliRunner().invoke(cli_app, args)
        assert result.exit_code == 2, (result.output, result.exception)
        assert result.stderr.strip().count("\n") == 0 and "as_of 0001-01-01 is outside" in result.stderr
        assert "Traceback" not in result.output
    finally:
        get_settings.cache_clear()
