"""Plans, routers (NAS) and a service's RADIUS access through the HTTP API: roles, refusals that
write nothing, secrets that never come back, and (PostgreSQL, same-database RADIUS) the FreeRADIUS
rows each change leaves. On SQLite and on PostgreSQL (the `api` fixture)."""

import logging

import pytest
from sqlalchemy import func, select, text

from tests.e2e.api_support import API, assert_ok, assert_problem, customer_path, services_of
from workflow.db import radius_tables as rt
from workflow.domain.vocabulary import Role
from workflow.usecases import plans as plan_cases

PLANS = f"{API}/plans"
NAS = f"{API}/nas"
PASSWORD = "s3nha-do-cliente"
SECRET = "segredo-do-roteador"
PLAN_FIELDS = {
    "id", "name", "download_kbps", "upload_kbps", "retired", "retired_at", "radius_group", "in_use",
    "created_at", "updated_at",
}  # fmt: skip
ROUTER_FIELDS = {"id", "name", "address", "coa_port", "vendor", "created_at", "updated_at"}


def new_plan(api, name: str = "Fibra 300", download: int = 300_000, upload: int = 150_000) -> dict:
    body = {"name": name, "download_kbps": download, "upload_kbps": upload}
    return assert_ok(api.post(PLANS, json=body), 201)


def plans(api) -> list[dict]:
    return assert_ok(api.get(PLANS, role=Role.VIEWER))["items"]


def routers(api) -> list[dict]:
    return assert_ok(api.get(NAS, role=Role.VIEWER))["items"]


def add_login_service(api, customer_id: int, plan_id: int, login: str = "ana.silva", **extra):
    body = {"name": "Internet", "login": login, "password": PASSWORD, "plan_id": plan_id, **extra}
    return api.post(customer_path(customer_id, "/services"), json=body)


def is_postgres(api) -> bool:
    return api.db.engine.dialect.name == "postgresql"


# --------------------------------------------------------------------------------------------
# plans
# --------------------------------------------------------------------------------------------


def test_plan_lifecycle(api):
    plan = new_plan(api, "  Fibra 300  ")
    assert set(plan) == PLAN_FIELDS
    assert (plan["name"], plan["download_kbps"], plan["upload_kbps"]) == ("Fibra 300", 300_000, 150_000)
    assert (plan["retired"], plan["retired_at"], plan["in_use"]) == (False, None, 0)
    assert plan["radius_group"] == f"ativa_plano_{plan['id']}"
    assert plans(api) == [plan]
    assert assert_ok(api.get(f"{PLANS}/{plan['id']}", role=Role.VIEWER)) == plan

    path = f"{PLANS}/{plan['id']}"
    renamed = assert_ok(api.patch(path, json={"name": "Fibra 400", "download_kbps": 400_000}))
    assert (renamed["name"], renamed["download_kbps"], renamed["upload_kbps"]) == ("Fibra 400", 400_000, 150_000)
    retired = assert_ok(api.patch(path, json={"retired": True}))
    assert retired["retired"] is True and retired["retired_at"]
    back = assert_ok(api.patch(path, json={"retired": False}))
    assert back["retired"] is False and back["retired_at"] is None

    assert api.delete(path).status_code == 204
    assert_problem(api.get(path), 404, "not_found")
    assert_problem(api.delete(path), 404, "not_found")
    assert plans(api) == []


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.BILLING, Role.VIEWER])
def test_only_admins_change_plans(api, role):
    plan = new_plan(api)
    path = f"{PLANS}/{plan['id']}"
    body = {"name": "Outro", "download_kbps": 1000, "upload_kbps": 1000}
    assert_problem(api.post(PLANS, json=body, role=role), 403, "forbidden")
    assert_problem(api.patch(path, json={"download_kbps": 1}, role=role), 403, "forbidden")
    assert_problem(api.delete(path, role=role), 403, "forbidden")
    assert plans(api) == [plan]
    assert assert_ok(api.get(path, role=role)) == plan


@pytest.mark.parametrize(
    "body",
    [
        {"name": "X", "download_kbps": 0, "upload_kbps": 1000},
        {"name": "X", "download_kbps": 1000, "upload_kbps": 10_000_001},
        {"name": "X", "download_kbps": -1, "upload_kbps": 1000},
        {"name": "X", "download_kbps": "muito", "upload_kbps": 1000},
        {"name": "", "download_kbps": 1000, "upload_kbps": 1000},
        {"name": "   ", "download_kbps": 1000, "upload_kbps": 1000},
        {"name": "Fibra\x00", "download_kbps": 1000, "upload_kbps": 1000},
        {"name": "x" * 101, "download_kbps": 1000, "upload_kbps": 1000},
        {"name": "X", "download_kbps": 1000},
        {"name": "X", "download_kbps": 1000, "upload_kbps": 1000, "burst": 1},
        {"name": "fibra 300", "download_kbps": 1000, "upload_kbps": 1000},  # another case of an existing name
    ],
)
def test_bad_plans_are_refused_and_nothing_is_written(api, body):
    plan = new_plan(api)
    response = api.post(PLANS, json=body)
    code = "duplicate_name" if body["name"] == "fibra 300" else "validation_error"
    assert_problem(response, 422, code)
    assert_problem(api.patch(f"{PLANS}/{plan['id']}", json={"download_kbps": 10_000_001}), 422, "validation_error")
    assert plans(api) == [plan]


def test_a_plan_cannot_take_another_plans_name_nor_be_patched_with_nothing(api):
    first, second = new_plan(api, "Fibra 300"), new_plan(api, "Fibra 600")
    assert_problem(api.patch(f"{PLANS}/{second['id']}", json={"name": "FIBRA 300"}), 422, "duplicate_name")
    assert_problem(api.patch(f"{PLANS}/{second['id']}", json={}), 422, "validation_error")
    assert_problem(api.patch(f"{PLANS}/{second['id']}", json={"upload_kbps": 0}), 422, "validation_error")
    assert plans(api) == [first, second]
    # Its own name in another case is a rename, not a duplicate.
    assert assert_ok(api.patch(f"{PLANS}/{first['id']}", json={"name": "FIBRA 300"}))["name"] == "FIBRA 300"


def test_a_plan_in_use_cannot_be_deleted_even_by_a_cancelled_service(api):
    plan = new_plan(api)
    customer_id = api.new_customer()["id"]
    service = assert_ok(add_login_service(api, customer_id, plan["id"]), 201)
    assert_ok(api.post(f"{API}/services/{service['id']}/cancel"))
    body = assert_problem(api.delete(f"{PLANS}/{plan['id']}"), 409, "in_use")
    assert "retire" in body["detail"]
    assert plans(api)[0]["in_use"] == 1
    assert assert_ok(api.get(f"{PLANS}/{plan['id']}"))["in_use"] == 1


def test_plan_post_honours_idempotency_key(api):
    headers = {"Idempotency-Key": "plano-1"}
    body = {"name": "Fibra 1G", "download_kbps": 1_000_000, "upload_kbps": 500_000}
    first = api.post(PLANS, json=body, headers=headers)
    again = api.post(PLANS, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers.get("Idempotent-Replayed") == "true"
    assert len(plans(api)) == 1


# --------------------------------------------------------------------------------------------
# routers (NAS)
# --------------------------------------------------------------------------------------------


def new_router(api, name: str = "bng-centro", address: str = "10.0.0.1", **extra) -> dict:
    body = {"name": name, "address": address, "secret": SECRET, **extra}
    return assert_ok(api.post(NAS, json=body), 201)


def test_router_lifecycle_never_shows_the_secret(api, caplog):
    caplog.set_level(logging.DEBUG)
    router = new_router(api, address=" 2001:DB8::1 ", vendor="generic", coa_port=1700)
    assert set(router) == ROUTER_FIELDS
    assert (router["address"], router["vendor"], router["coa_port"]) == ("2001:db8::1", "generic", 1700)
    default = new_router(api, "bng-norte", "10.0.0.2")
    assert (default["vendor"], default["coa_port"]) == ("mikrotik", 3799)
    path = f"{NAS}/{router['id']}"
    listed = api.get(NAS, role=Role.VIEWER)
    shown = api.get(path, role=Role.VIEWER)
    patched = api.patch(path, json={"secret": "outro-segredo-longo", "name": "bng-sul", "address": "10.0.0.3"})
    for response in (listed, shown, patched):
        assert response.status_code == 200, response.text
        assert SECRET not in response.text and "outro-segredo-longo" not in response.text
        assert "secret" not in response.text
    assert (patched.json()["name"], patched.json()["address"]) == ("bng-sul", "10.0.0.3")
    assert api.delete(path).status_code == 204
    assert_problem(api.get(path), 404, "not_found")
    assert [r["id"] for r in routers(api)] == [default["id"]]
    assert SECRET not in caplog.text and "outro-segredo-longo" not in caplog.text


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.BILLING, Role.VIEWER])
def test_only_admins_change_routers(api, role):
    router = new_router(api)
    path = f"{NAS}/{router['id']}"
    body = {"name": "outro", "address": "10.0.0.9", "secret": SECRET}
    assert_problem(api.post(NAS, json=body, role=role), 403, "forbidden")
    assert_problem(api.patch(path, json={"coa_port": 1700}, role=role), 403, "forbidden")
    assert_problem(api.delete(path, role=role), 403, "forbidden")
    assert routers(api) == [router]


@pytest.mark.parametrize(
    "change, code",
    [
        ({"address": "roteador.local"}, "validation_error"),
        ({"address": "10.0.0.256"}, "validation_error"),
        ({"address": ""}, "validation_error"),
        ({"secret": "curto7!"}, "validation_error"),
        ({"secret": "segredo\x07longo"}, "validation_error"),
        ({"secret": "x" * 129}, "validation_error"),
        ({"coa_port": 0}, "validation_error"),
        ({"coa_port": 65536}, "validation_error"),
        ({"vendor": "cisco"}, "validation_error"),
        ({"name": ""}, "validation_error"),
        ({"name": "BNG-CENTRO"}, "duplicate_name"),
        ({"address": "10.0.0.1"}, "duplicate_name"),
    ],
)
def test_bad_routers_are_refused_without_echoing_the_secret(api, change, code, caplog):
    caplog.set_level(logging.DEBUG)
    existing = new_router(api)
    body = {"name": "bng-novo", "address": "10.0.0.5", "secret": "segredo-novo-123"} | change
    response = api.post(NAS, json=body)
    assert_problem(response, 422, code)
    assert body["secret"] not in response.text and body["secret"] not in caplog.text
    assert routers(api) == [existing]


def test_a_router_patch_cannot_take_another_routers_address(api):
    first, second = new_router(api), new_router(api, "bng-norte", "10.0.0.2")
    assert_problem(api.patch(f"{NAS}/{second['id']}", json={"address": "10.0.0.1"}), 422, "duplicate_name")
    response = api.patch(f"{NAS}/{second['id']}", json={"secret": "curto"})
    assert_problem(response, 422, "validation_error")
    assert "curto" not in response.text
    assert routers(api) == [first, second]


# --------------------------------------------------------------------------------------------
# a service's RADIUS access
# --------------------------------------------------------------------------------------------


def test_a_service_with_a_login_shows_its_group_never_its_password(api):
    plan = new_plan(api)
    customer_id = api.new_customer()["id"]
    response = add_login_service(api, customer_id, plan["id"])
    service = assert_ok(response, 201)
    assert PASSWORD not in response.text and "password" not in response.text
    assert (service["login"], service["plan_id"]) == ("ana.silva", plan["id"])
    assert service["radius_group"] == f"ativa_plano_{plan['id']}"
    listed = api.get(customer_path(customer_id, "/services"))
    assert PASSWORD not in listed.text and listed.json()["items"] == [service]

    plain = assert_ok(api.post(customer_path(customer_id, "/services"), json={"name": "Telefone"}), 201)
    assert (plain["login"], plain["plan_id"], plain["radius_group"]) == (None, None, None)
    only_plan = {"name": "IPTV", "plan_id": plan["id"]}
    assert assert_ok(api.post(customer_path(customer_id, "/services"), json=only_plan), 201)["radius_group"] is None

    suspended = api.post(f"{API}/services/{service['id']}/suspend", json={"reason": "teste"})
    assert assert_ok(suspended)["radius_group"] == "ativa_bloqueado" and PASSWORD not in suspended.text
    cancelled = assert_ok(api.post(f"{API}/services/{service['id']}/cancel"))
    assert cancelled["radius_group"] == "ativa_cancelado"


@pytest.mark.parametrize(
    "change, code",
    [
        ({"login": "ana silva"}, "validation_error"),
        ({"login": "ana\tsilva"}, "validation_error"),
        ({"login": "ana\x00"}, "validation_error"),
        ({"login": "ãna"}, "validation_error"),
        ({"login": ""}, "validation_error"),
        ({"login": "a" * 65}, "validation_error"),
        ({"login": "JOSE"}, "duplicate_login"),  # held by another service, in another case
        ({"password": None}, "validation_error"),
        ({"password": ""}, "validation_error"),
        ({"password": "senha\x1bruim"}, "validation_error"),
        ({"password": "p" * 129}, "validation_error"),
        ({"plan_id": None}, "validation_error"),
        ({"plan_id": 999_999}, "validation_error"),  # unknown
        ({"plan_id": 0}, "validation_error"),
        ({"plan_id": "retired"}, "validation_error"),
        ({"login": None}, "validation_error"),  # a password without a login
    ],
)
def test_bad_access_is_refused_and_nothing_is_written(api, change, code, caplog):
    caplog.set_level(logging.DEBUG)
    plan = new_plan(api)
    retired = new_plan(api, "Antigo")
    assert_ok(api.patch(f"{PLANS}/{retired['id']}", json={"retired": True}))
    holder_customer = api.new_customer(1)["id"]
    assert_ok(add_login_service(api, holder_customer, plan["id"], login="jose"), 201)
    customer_id = api.new_customer()["id"]
    if change.get("plan_id") == "retired":
        change = {"plan_id": retired["id"]}
    body = {"name": "Internet", "login": "ana.silva", "password": PASSWORD, "plan_id": plan["id"]} | change
    response = api.post(customer_path(customer_id, "/services"), json=body)
    assert_problem(response, 422, code)
    if body["password"]:
        assert body["password"] not in response.text
        assert body["password"] not in caplog.text
    assert services_of(api, customer_id) == []
    if is_postgres(api):
        with api.db.engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(rt.radcheck)) == 1  # jose's only
            assert conn.scalar(select(func.count()).select_from(rt.radusergroup)) == 1


def test_service_patch_changes_plan_and_password(api, caplog):
    caplog.set_level(logging.DEBUG)
    plan, faster = new_plan(api), new_plan(api, "Fibra 600", 600_000, 300_000)
    customer_id = api.new_customer()["id"]
    service = assert_ok(add_login_service(api, customer_id, plan["id"]), 201)
    path = f"{API}/services/{service['id']}"
    moved = assert_ok(api.patch(path, json={"plan_id": faster["id"]}, role=Role.OPERATOR))
    assert (moved["plan_id"], moved["radius_group"]) == (faster["id"], f"ativa_plano_{faster['id']}")
    response = api.patch(path, json={"password": "nova-senha-123"})
    assert response.status_code == 200 and "nova-senha-123" not in response.text
    assert "nova-senha-123" not in caplog.text and PASSWORD not in caplog.text

    assert_problem(api.patch(path, json={"plan_id": 1}, role=Role.VIEWER), 403, "forbidden")
    assert_problem(api.patch(path, json={}), 422, "validation_error")
    assert_problem(api.patch(path, json={"plan_id": 999_999}), 422, "validation_error")
    assert_ok(api.patch(f"{PLANS}/{plan['id']}", json={"retired": True}))
    assert_problem(api.patch(path, json={"plan_id": plan["id"]}), 422, "validation_error")
    bad = api.patch(path, json={"password": "ruim\x00senha"})
    assert_problem(bad, 422, "validation_error")
    assert "ruim" not in bad.text
    plain = assert_ok(api.post(customer_path(customer_id, "/services"), json={"name": "Telefone"}), 201)
    assert_problem(api.patch(f"{API}/services/{plain['id']}", json={"password": "x"}), 422, "validation_error")
    assert_problem(api.patch(f"{API}/services/999999", json={"password": "x"}), 404, "not_found")
    assert services_of(api, customer_id)[0]["plan_id"] == faster["id"]


# --------------------------------------------------------------------------------------------
# FreeRADIUS rows (PostgreSQL: RADIUS in the same database)
# --------------------------------------------------------------------------------------------


def rows(api, table, *columns, **where) -> list[tuple]:
    query = select(*(table.c[c] for c in columns)).order_by(*(table.c[c] for c in columns))
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    with api.db.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query)]


def queued(api, name: str) -> list[tuple]:
    with api.db.engine.connect() as conn:
        found = conn.execute(
            text("SELECT service_id, origin FROM outbox_effects WHERE name = :name ORDER BY service_id"),
            {"name": name},
        )
        return [tuple(row) for row in found]


def test_freeradius_rows_follow_logins_plans_and_routers(api, monkeypatch):
    if not is_postgres(api):
        # RADIUS is off on SQLite: the login is kept, and nothing is queued for a router.
        plan = new_plan(api)
        customer_id = api.new_customer()["id"]
        assert_ok(add_login_service(api, customer_id, plan["id"], login="Ana.Silva"), 201)
        assert queued(api, "radius_disconnect") == []
        return
    plan = new_plan(api, download=300_000, upload=150_000)
    group = f"ativa_plano_{plan['id']}"
    assert ("Mikrotik-Rate-Limit", ":=", "150000k/300000k") in rows(
        api, rt.radgroupreply, "attribute", "op", "value", groupname=group
    )
    customer_id = api.new_customer()["id"]
    first = assert_ok(add_login_service(api, customer_id, plan["id"], login="Ana.Silva"), 201)
    second = assert_ok(add_login_service(api, customer_id, plan["id"], login="bruno"), 201)
    blocked = assert_ok(add_login_service(api, customer_id, plan["id"], login="carla"), 201)
    assert_ok(api.post(f"{API}/services/{blocked['id']}/suspend", json={"reason": "teste"}))
    assert rows(api, rt.radcheck, "attribute", "op", "value", username="Ana.Silva") == [
        ("Cleartext-Password", ":=", PASSWORD)
    ]
    assert rows(api, rt.radusergroup, "groupname", "priority", username="Ana.Silva") == [(group, 1)]
    assert rows(api, rt.radusergroup, "groupname", username="carla") == [("ativa_bloqueado",)]

    coa_before = queued(api, "radius_coa")
    monkeypatch.setattr(plan_cases, "RATE_CHANGE_CHUNK", 1)  # each login in a chunk of its own: none lost
    assert_ok(api.patch(f"{PLANS}/{plan['id']}", json={"download_kbps": 500_000, "upload_kbps": 250_000}))
    replies = rows(api, rt.radgroupreply, "attribute", "value", groupname=group)
    assert ("Mikrotik-Rate-Limit", "250000k/500000k") in replies
    assert ("WISPr-Bandwidth-Max-Down", "500000000") in replies
    assert ("Mikrotik-Rate-Limit", "150000k/300000k") not in replies
    # One CoA per active login on the plan; the suspended one is not given the plan's rates.
    assert sorted(set(queued(api, "radius_coa")) - set(coa_before)) == [
        (first["id"], "plan"),
        (second["id"], "plan"),
    ]
    # A rename or a retirement changes no rate: no CoA.
    assert_ok(api.patch(f"{PLANS}/{plan['id']}", json={"name": "Fibra 500", "retired": True}))
    assert len(queued(api, "radius_coa")) == len(coa_before) + 2
    assert ("Mikrotik-Rate-Limit", "250000k/500000k") in rows(
        api, rt.radgroupreply, "attribute", "value", groupname=group
    )

    router = new_router(api, address="10.9.0.1", vendor="generic")
    assert rows(api, rt.nas, "nasname", "shortname", "type", "secret", "ports", "description") == [
        ("10.9.0.1", "bng-centro", "other", SECRET, 3799, "ativa")
    ]
    assert_ok(api.patch(f"{NAS}/{router['id']}", json={"coa_port": 1700, "vendor": "mikrotik"}))
    assert rows(api, rt.nas, "type", "ports") == [("mikrotik", 1700)]
    assert api.delete(f"{NAS}/{router['id']}").status_code == 204
    assert rows(api, rt.nas, "nasname") == []

    unused = new_plan(api, "Sem uso")
    assert rows(api, rt.radgroupreply, "groupname", groupname=f"ativa_plano_{unused['id']}")
    assert api.delete(f"{PLANS}/{unused['id']}").status_code == 204
    assert rows(api, rt.radgroupreply, "groupname", groupname=f"ativa_plano_{unused['id']}") == []


def test_the_document_marks_secrets_write_only_and_no_response_has_them(api):
    doc = assert_ok(api.get("/openapi.json", role=Role.VIEWER))
    schemas = doc["components"]["schemas"]

    def prop(schema: str, field: str) -> dict:
        found = schemas[schema]["properties"][field]
        return next((s for s in found.get("anyOf", [found]) if s.get("type") != "null"), found)

    for schema, field in (("ServiceIn", "password"), ("ServicePatch", "password"), ("RouterIn", "secret")):
        assert prop(schema, field).get("writeOnly") is True, (schema, field)
    for schema in ("ServiceOut", "RouterOut", "PlanOut"):
        assert not {"password", "radius_password", "secret"} & set(schemas[schema]["properties"]), schema
    assert {"login", "plan_id", "radius_group"} <= set(schemas["ServiceOut"]["properties"])
