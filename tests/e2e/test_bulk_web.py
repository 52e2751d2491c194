"""Ações em lote in the UI (issue 14, part 2), in-process over HTTP on both databases: admins only,
the form's refusals in Portuguese with nothing created, a CSV's bad lines named by line, the
preview's words, a second run refused. The browser tests are in test_bulk_browser.py."""

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import add_invoice, cpf
from tests.e2e.web_support import PASSWORD, csrf_of, signed_in
from workflow.application import create_app
from workflow.db.models import BulkJob
from workflow.domain.bulk import NothingSelected
from workflow.domain.customer_machine import TransitionRequest
from workflow.domain.errors import InvalidInput
from workflow.domain.vocabulary import CustomerEvent, Role, Source
from workflow.settings import Settings
from workflow.usecases import bulk, customers, sweep_dispatch, transitions, users
from workflow.web import labels, pages_bulk

ADMIN = transitions.Actor("user:ana", Role.ADMIN)


@pytest.fixture
def app(db):
    with db.write() as session:
        for username, role in (("ana", "admin"), ("maria", "operator"), ("vitor", "viewer")):
            users.create_user(session, username, role, PASSWORD)
    return create_app(Settings(database_url=db.url), db)


@pytest.fixture
def admin(app):
    with TestClient(app, follow_redirects=False) as client:
        yield signed_in(client, "ana")


@pytest.fixture
def handed(monkeypatch) -> list[tuple[int, int]]:
    """The batches the page hands to the workers, recorded (the test runs them)."""
    batches: list[tuple[int, int]] = []
    monkeypatch.setattr(sweep_dispatch, "_bulk_dispatcher", lambda job_id, batch: batches.append((job_id, batch)))
    return batches


def new_customer(db, n: int, ref: str) -> int:
    with db.write() as session:
        draft = customers.CustomerDraft(name=f"Cliente {ref}", document=cpf(n), external_ref=ref)
        return customers.create_customer(session, draft).id


def inactivate(db, customer_id: int, reason: str = "other") -> None:
    with db.write() as session:
        request = TransitionRequest(reason, "teste", actor_role=Role.ADMIN)
        transitions.transition_customer(session, customer_id, CustomerEvent.INACTIVATE, request, ADMIN, Source.API)


def jobs_in(db) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(BulkJob))


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def upload(client, content: bytes, match: str, **fields):
    page = client.get("/lotes/novo")
    data = {
        "csrf_token": csrf_of(page.text),
        "modo": "arquivo",
        "acao": "ativar",
        "motivo": "manual",
        "observacao": "lote de teste",
        "tipo_lista": match,
        **fields,
    }
    return client.post("/lotes/novo", data=data, files={"arquivo": ("clientes.csv", content, "text/csv")})


@pytest.mark.parametrize("username", ["maria", "vitor"])
def test_only_admins_see_the_menu_entry_and_reach_the_pages(db, app, username):
    job = bulk.create_job(
        db, bulk.BulkRequest("inactivate", "other", "obra", customers=[new_customer(db, 0, "A-1")]), ADMIN, Source.API
    )
    with TestClient(app, follow_redirects=False) as client:
        signed_in(client, username)
        listing = client.get("/clientes")
        assert "Ações em lote" not in listing.text and 'href="/lotes"' not in listing.text
        token = csrf_of(listing.text)
        for path in ("/lotes", "/lotes/novo", f"/lotes/{job.id}", f"/lotes/{job.id}/andamento"):
            refused = client.get(path)
            assert refused.status_code == 403, path
            assert "Esta página é só para administradores." in refused.text
        # Forged POSTs with the user's own valid CSRF token: refused by the server, nothing done.
        for path, data in (
            ("/lotes/novo", {"modo": "filtro", "acao": "inativar", "motivo": "other", "situacao": "active"}),
            (f"/lotes/{job.id}/executar", {}),
            (f"/lotes/{job.id}/cancelar", {}),
        ):
            assert client.post(path, data={"csrf_token": token, **data}).status_code == 403, path
    assert jobs_in(db) == 1 and bulk.job_view(db, job.id).state == "preview"


def test_an_admin_sees_the_entry_and_an_empty_list(admin):
    page = admin.get("/clientes")
    assert '<a href="/lotes">Ações em lote</a>' in page.text
    listing = admin.get("/lotes")
    assert listing.status_code == 200 and "Nenhuma ação em lote ainda." in listing.text
    assert 'href="/lotes/novo"' in listing.text


def test_a_form_without_a_valid_csrf_token_creates_nothing(db, admin):
    new_customer(db, 0, "A-1")
    response = admin.post(
        "/lotes/novo",
        data={"csrf_token": "forjado", "modo": "filtro", "acao": "inativar", "motivo": "other", "situacao": "active"},
    )
    assert response.status_code == 403 and "proteção CSRF" in response.text
    assert jobs_in(db) == 0


def test_a_csv_with_unknown_and_invalid_entries_names_their_lines_and_creates_nothing(db, admin):
    new_customer(db, 0, "A-1")
    content = f"CPF;Nome\n{cpf(0)};Ana\n\n{cpf(5)};Ninguém\n{cpf(6)};Outro\n".encode()
    response = upload(admin, content, "document")
    assert response.status_code == 422
    rows = re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>", response.text)
    assert rows == [
        ("4", cpf(5), "Nenhum cliente tem este CPF/CNPJ."),
        ("5", cpf(6), "Nenhum cliente tem este CPF/CNPJ."),
    ]
    assert "Nada foi criado: 2 linha(s) do arquivo não servem." in response.text
    # A malformed CPF is named by its line before anything is looked up.
    bad = upload(admin, f"{cpf(0)}\n123.456.789-00\n".encode(), "document")
    assert re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>", bad.text) == [
        ("2", "123.456.789-00", "Não é um CPF nem um CNPJ válido.")
    ]
    # What was typed is kept on the refusal.
    assert 'value="document" selected' in bad.text and "lote de teste</textarea>" in bad.text
    assert jobs_in(db) == 0


def test_latin1_spreadsheet_by_reference_makes_the_preview_in_portuguese(db, admin):
    ids = [new_customer(db, n, ref) for n, ref in enumerate(("JOÃO-1", "MARÍA-2", "ZÉ-3"))]
    inactivate(db, ids[0])
    owes = ids[1]
    add_invoice(db, owes, days_overdue=30)
    inactivate(db, owes, "delinquency")
    # ZÉ-3 is active already: nothing to do. Excel on a Brazilian Windows: Latin-1, `;`, a header.
    content = "Código;Nome\r\nJOÃO-1;João\r\nMARÍA-2;María\r\nZÉ-3;Zé\r\n".encode("cp1252")
    created = upload(admin, content, "external_ref")
    assert created.status_code == 303, created.text
    job_id = int(created.headers["location"].rsplit("/", 1)[1])
    page = admin.get(created.headers["location"])
    text = text_of(page.text)
    assert "Seriam alterados: 1" in text and "Recusados: 1" in text and "Já estão na situação pedida: 1" in text
    assert "Seria ativado" in text
    assert "Recusado: O cliente ainda tem faturas vencidas em aberto." in text
    assert "Já está Ativo: nada a fazer." in text
    assert "Lista com 3 entrada(s), por código (referência na cobrança)" in text
    assert "Confirmar e executar" in page.text and "hx-trigger" not in page.text  # a preview is not polled
    assert bulk.job_view(db, job_id).state == "preview"


def test_run_shows_progress_then_results_and_a_second_run_is_refused(db, admin, handed):
    ids = [new_customer(db, n, f"R-{n}") for n in range(2)]
    page = admin.get("/lotes/novo")
    assert "incluindo os cortados no fim de um Desbloqueio de confiança" in text_of(page.text)  # undo_cuts takes those
    created = admin.post(
        "/lotes/novo",
        data={
            "csrf_token": csrf_of(page.text),
            "modo": "filtro",
            "acao": "inativar",
            "motivo": "contract_termination",
            "observacao": "fim da rede antiga",
            "situacao": "active",
        },
    )
    assert created.status_code == 303, created.text
    job_page = admin.get(created.headers["location"])
    job_id = int(created.headers["location"].rsplit("/", 1)[1])
    ran = admin.post(f"/lotes/{job_id}/executar", data={"csrf_token": csrf_of(job_page.text)})
    assert ran.status_code == 303 and handed == [(job_id, 0)]

    queued = admin.get(f"/lotes/{job_id}")
    assert f'hx-get="/lotes/{job_id}/andamento?pagina=1" hx-trigger="every 2s"' in queued.text
    assert "0 %" in text_of(queued.text) and "Cancelar" in queued.text and "Confirmar e executar" not in queued.text
    bulk.run_batch(db, job_id, 0)

    finished = admin.get(f"/lotes/{job_id}/andamento")
    text = text_of(finished.text)
    assert "hx-trigger" not in finished.text  # finished: the polling stops
    assert "100 % concluído: 2 de 2 cliente(s)" in text and "Alterados: 2" in text and "Concluído" in text
    assert text.count("Inativado") == 2 and "Cancelar" not in text
    again = admin.post(f"/lotes/{job_id}/executar", data={"csrf_token": csrf_of(job_page.text)})
    assert again.status_code == 409
    assert "Este lote já foi executado, está em execução ou foi cancelado: nada foi feito de novo." in again.text
    assert handed == [(job_id, 0)]
    history = admin.get(f"/clientes/{ids[0]}")
    assert f"Lote nº {job_id}" in history.text
    listing = text_of(admin.get("/lotes").text)
    assert f"Lote nº {job_id} Inativar (Encerramento de contrato)" in listing and "2 de 2 (100 %)" in listing


def test_the_form_refuses_in_portuguese_and_creates_nothing(db, admin):
    new_customer(db, 0, "A-1")
    token = csrf_of(admin.get("/lotes/novo").text)

    def refused(**data) -> str:
        response = admin.post("/lotes/novo", data={"csrf_token": token, **data})
        assert response.status_code == 422, response.text
        return text_of(response.text)

    assert "Escolha Ativar ou Inativar." in refused(modo="filtro", situacao="active")
    assert "Escolha um motivo de inativação." in refused(modo="filtro", acao="inativar", motivo="manual")
    # A trust unlock needs its days (one customer at a time): not offered, and refused if forged.
    assert "Escolha um motivo de ativação." in refused(
        modo="filtro", acao="ativar", motivo="trust_unlock", situacao="inactive"
    )
    assert 'value="trust_unlock"' not in admin.get("/lotes/novo").text
    assert "Escreva uma observação explicando o motivo." in refused(
        modo="filtro", acao="inativar", motivo="other", situacao="active"
    )
    assert "Forçar vale só para ativação." in refused(
        modo="filtro", acao="inativar", motivo="other", forcar="on", situacao="active"
    )
    assert "Escolha pelo menos um critério do filtro." in refused(
        modo="filtro", acao="inativar", motivo="customer_request"
    )
    assert "Nenhum cliente atende a esse filtro; nada foi criado." in refused(
        modo="filtro", acao="ativar", motivo="manual", situacao="inactive"
    )
    assert "Escolha uma opção da lista." in refused(
        modo="filtro", acao="inativar", motivo="customer_request", origem="<x>"
    )
    assert "Data inválida." in refused(
        modo="filtro", acao="inativar", motivo="customer_request", data_corte="0001-01-01"
    )
    assert "caractere de controle" in refused(
        modo="filtro", acao="inativar", motivo="other", situacao="active", observacao="a\x00b"
    )
    undo = refused(modo="desfazer", data="2026-01-05")
    assert "Escreva uma observação" in undo
    nobody = refused(modo="desfazer", data="2026-01-05", observacao="banco fora do ar")
    assert "Ninguém cortado pela inadimplência automática em 05/01/2026" in nobody
    assert "Escolha o arquivo CSV" in refused(modo="arquivo", acao="ativar", motivo="manual", tipo_lista="id")
    assert "Escolha como selecionar" in refused(modo="outro", acao="ativar", motivo="manual")
    assert jobs_in(db) == 0


def test_a_missing_job_and_an_odd_number(admin):
    assert admin.get("/lotes/77").status_code == 404
    assert "Lote não encontrado" in admin.get("/lotes/77").text
    for odd in (2**63, 0, "x"):  # an address no job can have: the page that does not exist
        assert admin.get(f"/lotes/{odd}").status_code == 404


def test_discard_a_preview(db, admin):
    customer = new_customer(db, 0, "A-1")
    job = bulk.create_job(db, bulk.BulkRequest("inactivate", "other", "obra", customers=[customer]), ADMIN, Source.API)
    page = admin.get(f"/lotes/{job.id}")
    assert admin.post(f"/lotes/{job.id}/cancelar", data={"csrf_token": csrf_of(page.text)}).status_code == 303
    text = text_of(admin.get(f"/lotes/{job.id}").text)
    assert "Descartado" in text and "Confirmar e executar" not in text
    again = admin.post(f"/lotes/{job.id}/cancelar", data={"csrf_token": csrf_of(page.text)})
    assert again.status_code == 409 and "Este lote já terminou" in again.text


def test_cancel_between_batches_leaves_the_rest_not_run(db, admin, handed):
    ids = [new_customer(db, n, f"C-{n}") for n in range(3)]
    job = bulk.create_job(
        db, bulk.BulkRequest("inactivate", "other", "obra", customers=ids, batch_size=2), ADMIN, Source.API
    )
    token = csrf_of(admin.get(f"/lotes/{job.id}").text)
    assert admin.post(f"/lotes/{job.id}/executar", data={"csrf_token": token}).status_code == 303
    bulk.run_batch(db, job.id, 0)  # the first batch ran; the second waits in the queue
    assert admin.post(f"/lotes/{job.id}/cancelar", data={"csrf_token": token}).status_code == 303
    bulk.run_batch(db, job.id, 1)  # delivered after the cancellation: does nothing
    page = admin.get(f"/lotes/{job.id}")
    text = text_of(page.text)
    assert "Cancelado" in text and "Cancelado por ana" in text and "hx-trigger" not in page.text
    assert "Alterados: 2" in text and "Não executados: 1" in text
    assert "Não executado: o lote foi cancelado antes da parte deste cliente." in text


def test_the_results_are_paginated(db, admin, monkeypatch):
    monkeypatch.setattr(pages_bulk, "PER_PAGE", 2)
    ids = [new_customer(db, n, f"P-{n}") for n in range(3)]
    job = bulk.create_job(db, bulk.BulkRequest("inactivate", "other", "obra", customers=ids), ADMIN, Source.API)

    def customers_on(pagina: str) -> list[str]:
        page = admin.get(f"/lotes/{job.id}", params={"pagina": pagina})
        assert page.status_code == 200
        return re.findall(r'<tr data-customer-id="(\d+)"', page.text)

    assert customers_on("1") == [str(ids[0]), str(ids[1])]
    assert customers_on("2") == [str(ids[2])]
    assert customers_on("99") == [str(ids[2])]  # past the end (a link from a longer list): the last page
    assert customers_on("<x>") == [str(ids[0]), str(ids[1])]
    assert "Página 2 de 2" in admin.get(f"/lotes/{job.id}", params={"pagina": "2"}).text


def test_hostile_files_are_named_by_line_and_never_a_server_error(db, admin):
    new_customer(db, 0, "A-1")
    cases = [
        (b"A-1\n" + b"x" * 300 + b"\n", "external_ref", ("2", "x" * 300)),  # longer than a reference may be
        (b"1\n" + str(2**63).encode() + b"\n", "id", ("2", str(2**63))),  # past any id
        (b"1\n-5\n", "id", ("2", "-5")),
    ]
    for content, match, first_bad in cases:
        response = upload(admin, content, match)
        assert response.status_code == 422, (content, response.text)
        rows = re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td><td>[^<]*</td></tr>", response.text)
        assert rows[:1] == [first_bad], (content, rows)
    # A file that is not a list is refused whole, naming its line, before any entry is read.
    not_a_list = [
        (b"A-1\nB\x00C\n", "external_ref", "A linha 2 tem um caractere de controle (U+0000)"),
        (b"\xff\xfe1\x00\n", "document", "A linha 1 tem um caractere de controle (U+0000)"),  # UTF-16
        (b"1\n2\x81\n", "id", "A linha 2 tem um byte (0x81) que não é texto"),
        (b"1;a\n;b\n", "id", "A linha 2 tem a coluna de clientes vazia"),
        (b"CPF;Nome\n1;a\n", "id", "O cabeçalho (a linha 1) não tem uma coluna com o que foi escolhido"),
    ]
    for content, match, words in not_a_list:
        response = upload(admin, content, match)
        assert response.status_code == 422 and words in text_of(response.text), (content, text_of(response.text))
    garbage = upload(admin, b"", "document")
    assert garbage.status_code == 422 and "O arquivo não tem nenhum cliente" in text_of(garbage.text)
    assert "Diga o que a primeira coluna" in text_of(upload(admin, b"1\n", "<script>").text)
    assert jobs_in(db) == 0


def test_a_list_of_ids_with_an_unknown_one_then_without_it(db, admin):
    ids = [new_customer(db, n, f"I-{n}") for n in range(2)]
    unknown = upload(admin, f"Número;Nome\n{ids[0]};a\n0{ids[1]};b\n999999;c\n".encode(), "id")
    assert unknown.status_code == 422
    assert re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>", unknown.text) == [
        ("4", "999999", "Nenhum cliente tem este número.")
    ]
    created = upload(admin, f"{ids[0]}\n0{ids[1]}\n".encode(), "id", acao="inativar", motivo="other")
    assert created.status_code == 303, created.text
    job = bulk.job_view(db, int(created.headers["location"].rsplit("/", 1)[1]))
    assert [item.customer_id for item in job.items] == ids and job.selection == {"customers": 2, "match": "id"}


def test_a_refusal_other_than_nobody_found_is_shown_as_it_is():
    """Only a selection that names nobody reads "Ninguém cortado…" or "Nenhum cliente…"."""
    for mode, field in (("desfazer", "data"), ("filtro", "filtro")):
        form = pages_bulk.BulkForm({"modo": mode, "data": "2026-11-27"})
        pages_bulk._refused_selection(form, InvalidInput("batch_size must be between 1 and 5000"), None)
        message = form.errors["form"]  # in Portuguese: the English detail goes to the log only
        assert list(form.errors) == ["form"] and message.startswith("A seleção foi recusada; nada foi criado. ")
        assert "batch_size" not in message and message.endswith(labels.error_message(InvalidInput("x")))
        nobody = pages_bulk.BulkForm({"modo": mode, "data": "2026-11-27"})
        pages_bulk._refused_selection(nobody, NothingSelected("no customer"), None)
        assert list(nobody.errors) == [field]
