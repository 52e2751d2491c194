"""The customer register through the HTTP API: create, edit (PATCH), duplicates, stale versions,
search, filter and paging. On SQLite and on PostgreSQL (the `api` fixture)."""

import pytest

from tests.conftest import VALID_CNPJ, VALID_CPFS
from tests.e2e.api_support import (
    CUSTOMER_FIELDS,
    CUSTOMERS,
    all_customers,
    assert_ok,
    assert_problem,
    customer_path,
    history,
    inactivate,
    is_utc_timestamp,
    state,
)
from workflow.domain.vocabulary import Role

# --------------------------------------------------------------------------------------------
# create and edit
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
    out = assert_ok(api.patch(customer_path(customer["id"]), json={"name": customer["name"], "status": "active"}))
    assert out == {"customer": customer, "transition": None}


def test_patch_can_clear_optional_fields(api):
    customer = api.new_customer(0, email="a@example.com", external_ref="R1")
    out = assert_ok(api.patch(customer_path(customer["id"]), json={"email": None, "external_ref": ""}))
    assert out["customer"]["email"] is None and out["customer"]["external_ref"] is None
    assert out["customer"]["version"] == 2


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
    response = api.post(CUSTOMERS, json={"name": "Outra", "document": VALID_CPFS[1], "external_ref": " ERP-1 "})
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


def test_search_treats_wildcards_as_characters(api):
    api.new_customer(0, name="Ana")
    api.new_customer(1, name="100% Fibra")

    def names(q):
        return sorted(c["name"] for c in assert_ok(api.get(CUSTOMERS, params={"q": q}))["items"])

    assert names("%") == ["100% Fibra"]
    assert names("_") == []
    assert names("a_a") == []
    assert names("ana") == ["Ana"]
