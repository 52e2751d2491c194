"""Services from the customer's page and the CSV exports, over HTTP on SQLite and PostgreSQL:
roles and refusals a browser cannot show (a forged POST, another customer's service), and the
files parsed as a spreadsheet would read them. The browser walk is in test_web_services_ui.py."""

import csv
import io
import logging
import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import VALID_CNPJ, VALID_CPFS, add_invoice
from tests.e2e.web_support import PASSWORD, csrf_of, edit, new_customer, signed_in
from workflow.application import create_app
from workflow.db.models import Customer, Service
from workflow.domain import brazilian, radius
from workflow.domain import bulk as bulk_domain
from workflow.domain.customer_list import read_customer_list
from workflow.domain.vocabulary import Role
from workflow.settings import Settings
from workflow.usecases import customer_export, plans, users
from workflow.usecases.business_day import provider_today
from workflow.usecases.tokens import create_token


@pytest.fixture
def web(db):
    with db.write() as session:
        for name, role in (("ana", "admin"), ("otto", "operator"), ("vera", "viewer")):
            users.create_user(session, name, role, PASSWORD)
    settings = Settings(database_url=db.url)
    with TestClient(create_app(settings, db), raise_server_exceptions=False, follow_redirects=False) as client:
        client.db = db
        yield client


def services_of(db, customer_id):
    with db.read() as session:
        rows = session.scalars(select(Service).where(Service.customer_id == customer_id).order_by(Service.id))
        return [(s.name, s.status, s.login, s.suspension_note) for s in rows]


def post_service(web, customer_id, **fields):
    page = web.get(f"/clientes/{customer_id}")
    data = {"name": "Fibra 500 Mega", "external_ref": "", "login": "", "password": "", "plan_id": "", **fields}
    return web.post(f"/clientes/{customer_id}/servicos", data={**data, "csrf_token": csrf_of(page.text)})


def service_action(web, customer_id, service_id, action, **fields):
    page = web.get(f"/clientes/{customer_id}")
    data = {"csrf_token": csrf_of(page.text), **fields}
    return web.post(f"/clientes/{customer_id}/servicos/{service_id}/{action}", data=data)


def service_id_of(db, customer_id, name):
    with db.read() as session:
        return session.scalar(select(Service.id).where(Service.customer_id == customer_id, Service.name == name))


def test_an_operator_adds_suspends_resumes_and_cancels_a_service(web):
    signed_in(web, "otto")
    customer_id = new_customer(web)
    with web.db.write() as session:
        plan = plans.create_plan(session, "Fibra 500", 500_000, 250_000)
    added = post_service(web, customer_id, external_ref="S-1", login="maria.souza", password="s3nha", plan_id=plan.id)
    assert added.status_code == 303, added.text
    page = web.get(added.headers["location"])
    assert "Serviço adicionado." in page.text and "maria.souza" in page.text and "s3nha" not in page.text
    service_id = service_id_of(web.db, customer_id, "Fibra 500 Mega")

    # On PostgreSQL FreeRADIUS's tables are in the same database: the login follows the service.
    radius_on = not web.db.is_sqlite
    assert (radius.plan_group(plan.id) in page.text) is radius_on

    suspended = service_action(web, customer_id, service_id, "suspender", observacao="Mudança de endereço")
    assert suspended.status_code == 303
    page = web.get(f"/clientes/{customer_id}")
    assert "Serviço suspenso." in page.text and "Mudança de endereço" in page.text
    assert (radius.BLOCKED_GROUP in page.text) is radius_on
    assert service_action(web, customer_id, service_id, "reativar").status_code == 303
    assert (radius.plan_group(plan.id) in web.get(f"/clientes/{customer_id}").text) is radius_on
    refused = service_action(web, customer_id, service_id, "cancelar")  # the box not ticked
    assert refused.status_code == 422 and "Marque a confirmação" in refused.text
    assert services_of(web.db, customer_id) == [("Fibra 500 Mega", "active", "maria.souza", None)]
    assert service_action(web, customer_id, service_id, "cancelar", confirmar="sim").status_code == 303
    again = service_action(web, customer_id, service_id, "cancelar", confirmar="sim")
    assert again.status_code == 422 and "Este serviço já foi cancelado. Nada foi alterado." in again.text
    assert services_of(web.db, customer_id) == [("Fibra 500 Mega", "cancelled", "maria.souza", None)]


def test_refusals_of_the_use_cases_are_shown_in_portuguese_and_keep_the_input(web):
    signed_in(web, "otto")
    customer_id = new_customer(web)
    other = new_customer(web, name="Outro", document=VALID_CPFS[1], external_ref="C-2")
    with web.db.write() as session:
        plan = plans.create_plan(session, "Fibra 300", 300_000, 150_000)
        retired = plans.create_plan(session, "Antigo", 10_000, 5_000)
        retired.retired_at = retired.created_at
    assert post_service(web, other, external_ref="S-9", login="Joao", password="x", plan_id=plan.id).status_code == 303

    taken = post_service(web, customer_id, name="Fibra 2", login="joao", password="segredo-1", plan_id=plan.id)
    assert taken.status_code == 422 and "Este login já é de outro serviço" in taken.text
    assert 'value="Fibra 2"' in taken.text and "segredo-1" not in taken.text  # kept, but never the password
    same_ref = post_service(web, customer_id, external_ref="S-9")
    assert same_ref.status_code == 422 and "Já existe um serviço com este código." in same_ref.text
    no_plan = post_service(web, customer_id, login="sem.plano", password="x")
    assert "Um serviço com login precisa de um plano" in no_plan.text
    old_plan = post_service(web, customer_id, login="plano.velho", password="x", plan_id=retired.id)
    assert "o escolhido não existe mais ou foi aposentado" in old_plan.text
    bad_login = post_service(web, customer_id, login="com espaço", password="x", plan_id=plan.id)
    assert "sem espaços nem acentos" in bad_login.text
    assert services_of(web.db, customer_id) == []

    service_id = service_id_of(web.db, other, "Fibra 500 Mega")
    no_note = service_action(web, other, service_id, "suspender", observacao="  ")
    assert no_note.status_code == 422 and "Escreva uma observação" in no_note.text
    assert service_action(web, other, service_id, "suspender", observacao="pedido").status_code == 303
    inactivated = edit(
        web, other, ativo="nao", motivo="customer_request", external_ref="C-2", name="Outro", document=VALID_CPFS[1]
    )
    assert inactivated.status_code == 303, inactivated.text
    inactive = service_action(web, other, service_id, "reativar")
    assert inactive.status_code == 422 and "O cliente está inativo: ative o cliente para reativar" in inactive.text
    not_for_inactive = post_service(web, other, name="Mais um")
    assert "ative o cliente antes de adicionar um serviço" in not_for_inactive.text
    # Another customer's service through this customer's address: not found, nothing changed.
    assert service_action(web, customer_id, service_id, "cancelar", confirmar="sim").status_code == 404
    assert [s[1] for s in services_of(web.db, other)] == ["suspended"]


@pytest.mark.parametrize(
    "field, encoded",
    [
        ("name", "Fibra%00"),
        ("name", "Fibra%20%ED%A0%80"),  # a lone surrogate's bytes, forged: the server reads U+FFFD
        ("name", "Fibra%20%EF%BF%BD"),  # what a browser sends for a lone surrogate typed or pasted
        ("name", "x" * 300),
        ("external_ref", "%3D1%2B1%07"),
        ("login", "ana%00"),
    ],
)
def test_hostile_text_gets_a_portuguese_message_and_saves_nothing(web, field, encoded):
    signed_in(web, "otto")
    customer_id = new_customer(web)
    page = web.get(f"/clientes/{customer_id}")
    fields = {"name": "Fibra", "csrf_token": csrf_of(page.text), "password": "x", "plan_id": ""}
    body = "&".join(f"{k}={v}" for k, v in fields.items() if k != field) + f"&{field}={encoded}"
    response = web.post(
        f"/clientes/{customer_id}/servicos", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 422
    assert re.search(r"caractere (de controle|inválido)|no máximo 200 caracteres", response.text)
    assert services_of(web.db, customer_id) == []


def test_viewers_see_no_buttons_and_their_forged_posts_are_refused(web):
    signed_in(web, "otto")
    customer_id = new_customer(web)
    assert post_service(web, customer_id).status_code == 303
    service_id = service_id_of(web.db, customer_id, "Fibra 500 Mega")
    operator_page = web.get(f"/clientes/{customer_id}").text
    assert "Adicionar serviço" in operator_page and "/suspender" in operator_page
    token = csrf_of(operator_page)
    for username in ("vera",):  # billing is a role of API tokens only
        web.cookies.clear()
        signed_in(web, username)
        page = web.get(f"/clientes/{customer_id}").text
        assert "Adicionar serviço" not in page and "/suspender" not in page and "/cancelar" not in page
        own_token = csrf_of(page)
        for path, data in (
            (f"/clientes/{customer_id}/servicos", {"name": "Forjado"}),
            (f"/clientes/{customer_id}/servicos/{service_id}/suspender", {"observacao": "x"}),
            (f"/clientes/{customer_id}/servicos/{service_id}/cancelar", {"confirmar": "sim"}),
        ):
            response = web.post(path, data={**data, "csrf_token": own_token})
            assert response.status_code == 403 and "você pode ver, mas não alterar" in response.text
    web.cookies.clear()
    signed_in(web, "otto")
    # An operator's POST without its token (a cross-site form) changes nothing either.
    forged = web.post(f"/clientes/{customer_id}/servicos/{service_id}/cancelar", data={"confirmar": "sim"})
    assert forged.status_code == 403 and "proteção CSRF" in forged.text and token
    assert services_of(web.db, customer_id) == [("Fibra 500 Mega", "active", None, None)]


def read_csv(response):
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith("\ufeff".encode())
    text = response.content.decode("utf-8-sig")
    assert "\r\n" in text and not re.search(r"[^\r]\n(?![^\"]*\"[^\"]*$)", text.split("\r\n")[0])
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))


def test_customer_csv_with_filters_brazilian_formats_and_neutralised_formulas(web):
    signed_in(web, "otto")
    awkward = 'Silva; "Zé" Filho'  # (a name is one line: the line break is csv_export's unit test)
    first = new_customer(web, name=awkward, external_ref='=HYPERLINK("http://x")', email="")
    second = new_customer(web, name="Bruna Alves", document=VALID_CPFS[1], external_ref="C-2", email="")
    third = new_customer(web, name="Carla Dias", document=VALID_CNPJ, external_ref="+C-3", email="")
    add_invoice(web.db, first, days_overdue=10, amount="1234.56")
    add_invoice(web.db, first, days_overdue=3, amount="0.44")
    assert (
        edit(
            web,
            third,
            ativo="nao",
            motivo="customer_request",
            name="Carla Dias",
            document=VALID_CNPJ,
            external_ref="+C-3",
        ).status_code
        == 303
    )
    with web.db.read() as session:
        second_changed = session.get(Customer, second).status_changed_at

    everyone = web.get("/clientes/exportar.csv")
    today = provider_today().isoformat()
    assert everyone.headers["content-disposition"] == f'attachment; filename="clientes-{today}.csv"'
    rows = read_csv(everyone)
    header, body = rows[0], {row[0]: row for row in rows[1:]}
    assert header[:7] == ["Número", "Nome", "CPF/CNPJ", "Código", "E-mail", "Telefone", "Ativo"]
    assert set(body) == {str(first), str(second), str(third)}
    column = {name: i for i, name in enumerate(header)}
    row = body[str(first)]
    assert row[column["Nome"]] == awkward  # `;` and quotes come back whole
    assert row[column["Código"]] == '\'=HYPERLINK("http://x")'
    assert body[str(third)][column["Código"]] == "'+C-3"
    assert row[column["CPF/CNPJ"]] == "529.982.247-25"
    assert row[column["Total vencido"]] == "1.235,00"
    assert row[column["Vencimento mais antigo"]] == brazilian.day(provider_today() - timedelta(days=10))
    assert re.fullmatch(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}", body[str(second)][column["Situação desde"]])
    assert body[str(second)][column["Situação desde"]] == brazilian.minute(second_changed, "America/Sao_Paulo")
    assert body[str(third)][column["Ativo"]] == "Não"
    assert body[str(third)][column["Motivo"]] == "Suspensão a pedido do cliente"

    inactive = read_csv(web.get("/clientes/exportar.csv", params={"situacao": "inativo"}))
    assert [r[0] for r in inactive[1:]] == [str(third)]
    found = read_csv(web.get("/clientes/exportar.csv", params={"q": "bruna"}))
    assert [r[0] for r in found[1:]] == [str(second)]
    with web.db.write() as session:  # the ladder's step, as its job leaves it
        session.get(Customer, first).delinquency_stage = "notice"
    no_stage = read_csv(web.get("/clientes/exportar.csv", params={"etapa": "sem-etapa", "situacao": "ativo"}))
    assert [r[0] for r in no_stage[1:]] == [str(second)]
    at_notice = read_csv(web.get("/clientes/exportar.csv", params={"etapa": "aviso"}))
    assert [r[0] for r in at_notice[1:]] == [str(first)] and at_notice[1][column["Régua de cobrança"]] == "Aviso"
    nobody = read_csv(web.get("/clientes/exportar.csv", params={"q": "ninguém assim"}))
    assert nobody == [header]
    bad = web.get("/clientes/exportar.csv", params={"q": "a\x00"})
    assert bad.status_code == 422 and "caractere de controle" in bad.text

    listing = web.get("/clientes", params={"situacao": "inativo", "q": "carla"}).text
    assert 'href="/clientes/exportar.csv?q=carla&situacao=inativo&etapa="' in listing


def test_an_exported_customer_list_goes_back_in_as_a_bulk_upload(web):
    """Ids past 999 are written as digits (no "1.234"), so the file a Brazilian spreadsheet saves
    is a list the bulk job's reader takes as it is; an active customer on no ladder step is "Em dia"."""
    signed_in(web, "otto")
    with web.db.write() as session:
        for number, (customer_id, cpf) in enumerate(zip((1234, 1234567), VALID_CPFS, strict=False)):
            session.add(
                Customer(id=customer_id, name=f"Cliente {number}", document=cpf, document_type="cpf", status="active")
            )
    exported = web.get("/clientes/exportar.csv")
    rows = read_csv(exported)
    column = {name: i for i, name in enumerate(rows[0])}
    assert [r[0] for r in rows[1:]] == ["1234", "1234567"]
    assert {r[column["Régua de cobrança"]] for r in rows[1:]} == {"Em dia"}
    listed = read_customer_list(exported.content, "id")  # its header names the column of ids
    kind, entries = bulk_domain.read_entries(listed.entries, "id")  # the page's "Número do cliente"
    assert kind is bulk_domain.Match.ID and [entry.key for entry in entries] == [1234, 1234567]


def test_customer_csv_streams_every_match_in_chunks(web, monkeypatch):
    signed_in(web, "ana")
    ids = [
        new_customer(web, name=f"Cliente {i}", document=cpf, external_ref=f"C-{i}") for i, cpf in enumerate(VALID_CPFS)
    ]
    chunks = customer_export.matching_customers(
        web.db, status=None, q="cliente", stage=None, today=provider_today(), chunk=2
    )
    assert [[line.id for line in chunk] for chunk in chunks] == [ids[:2], ids[2:4], ids[4:]]
    monkeypatch.setattr(customer_export, "CHUNK", 2)  # the file: more chunks than customers in one
    rows = read_csv(web.get("/clientes/exportar.csv"))
    assert [int(r[0]) for r in rows[1:]] == ids


def test_sweep_preview_csv_lists_what_the_preview_api_lists(web):
    signed_in(web, "ana")
    cut = new_customer(web, name="Corte Certo", external_ref="C-1")
    held = new_customer(web, name="Segura; Forçada", document=VALID_CPFS[1], external_ref="C-2")
    add_invoice(web.db, cut, days_overdue=40, amount="1500.00")
    add_invoice(web.db, held, days_overdue=40, amount="80.10")
    with web.db.write() as session:
        session.get(Customer, held).forced_hold_until = provider_today() + timedelta(days=60)
        api_token = create_token(session, "leitura", Role.VIEWER.value)[1]
    day = "2026-12-02"  # a Wednesday, no holiday: a cut day
    response = web.get("/inadimplencia/exportar.csv", params={"data": day})
    assert response.headers["content-disposition"] == f'attachment; filename="inadimplencia-{day}.csv"'
    rows = read_csv(response)
    header, body = rows[0], rows[1:]
    column = {name: i for i, name in enumerate(header)}
    api = web.get(
        "/api/v1/delinquency/preview", params={"as_of": day}, headers={"Authorization": f"Bearer {api_token}"}
    ).json()

    def listed(title):
        return [int(r[column["Número"]]) for r in body if r[column["Lista"]] == title]

    assert listed("Seria inativado em 02/12/2026") == [c["customer_id"] for c in api["candidates"]] == [cut]
    assert listed("Fora do corte") == [c["customer_id"] for c in api["skipped"]] == [held]
    for name, title in (("to_notice", "Entrariam em aviso"), ("back_to_plan", "Voltariam ao plano normal")):
        assert listed(title) == [c["customer_id"] for c in api["ladder"][name]]
    cut_row = next(r for r in body if int(r[column["Número"]]) == cut)
    days = api["candidates"][0]["days_overdue"]  # counted on the previewed day
    assert cut_row[column["Total vencido"]] == "1.500,00" and cut_row[column["Dias em atraso"]] == str(days)
    assert f"{days} dia(s) de atraso" in cut_row[column["Por quê"]]
    held_row = next(r for r in body if int(r[column["Número"]]) == held)
    assert held_row[column["Cliente"]] == "Segura; Forçada"
    assert held_row[column["Sem corte automático até"]] == brazilian.day(provider_today() + timedelta(days=60))
    assert "Ativação forçada" in held_row[column["Por quê"]]
    bad = web.get("/inadimplencia/exportar.csv", params={"data": "0001-01-01"})
    assert bad.status_code == 422 and "Escolha uma data entre" in bad.text

    web.cookies.clear()
    signed_in(web, "otto")  # the page is for admins, and so is its file
    assert web.get("/inadimplencia/exportar.csv").status_code == 403


def test_only_operators_and_admins_export_customers_and_each_export_is_logged(web, caplog):
    """The file carries every match's CPF/CNPJ, e-mail and phone (LGPD): a viewer gets neither the
    link nor the file; an operator's export leaves a line naming who and which filters, without
    the search text (it may be a name or a CPF) nor anyone's data."""
    signed_in(web, "otto")
    new_customer(web, name="Maria Souza", email="maria@exemplo.com.br")
    web.cookies.clear()
    signed_in(web, "vera")
    assert 'id="exportar-csv"' not in web.get("/clientes").text
    refused = web.get("/clientes/exportar.csv", params={"q": "maria"})
    assert refused.status_code == 403 and "só para operadores e administradores" in refused.text
    assert "529.982.247-25" not in refused.text and "maria@exemplo" not in refused.text

    web.cookies.clear()
    signed_in(web, "otto")
    listing = web.get("/clientes").text
    assert 'id="exportar-csv"' in listing and "(o único encontrado, com estes filtros)" in listing
    with caplog.at_level(logging.INFO, logger="ativa.web"):
        exported = web.get("/clientes/exportar.csv", params={"q": "529.982.247-25", "situacao": "ativo"})
    assert len(read_csv(exported)) == 2
    [line] = [r.getMessage() for r in caplog.records if "customer CSV export" in r.getMessage()]
    assert line == "customer CSV export by user 'otto' (operator): status=active stage=any search=yes"
