"""The web UI's server-side rules over HTTP, on SQLite and PostgreSQL: sign-in, sessions, CSRF,
throttling, roles, search and the Editar form's refusals. The browser tests (test_web_ui.py)
walk the operator's guide; these pin what a browser cannot show, such as a forged POST."""

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import VALID_CNPJ, VALID_CPFS, add_invoice
from tests.e2e.web_support import PASSWORD, csrf_of, edit, new_customer, sign_in, signed_in
from workflow.application import create_app
from workflow.db.models import Customer, FreezeChange, OutboxEffect, StatusChange, WebSession
from workflow.db.types import utcnow
from workflow.domain.vocabulary import Role
from workflow.settings import Settings
from workflow.usecases import users
from workflow.usecases.business_day import provider_today


@pytest.fixture
def web(db):
    with db.write() as session:
        for name, role in (("ana", "admin"), ("otto", "operator"), ("vera", "viewer")):
            users.create_user(session, name, role, PASSWORD)
    settings = Settings(database_url=db.url, login_max_failures=3, login_lockout_seconds=120)
    with TestClient(create_app(settings, db), raise_server_exceptions=False, follow_redirects=False) as client:
        client.db = db
        yield client


def test_every_page_needs_a_session_and_static_files_come_from_this_server(web):
    for path in ("/", "/clientes", "/clientes/1", "/clientes/1/editar", "/inadimplencia"):
        response = web.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/entrar?next=")
    assert web.post("/clientes/novo", data={"name": "x"}).status_code == 303
    poll = web.get("/clientes/1/atividade", headers={"HX-Request": "true"})
    assert poll.status_code == 401 and poll.headers["HX-Redirect"].startswith("/entrar")
    script = web.get("/static/htmx-2.0.11.min.js")
    assert script.status_code == 200 and "htmx" in script.text[:2000]
    login = web.get("/entrar")
    assert "default-src 'self'" in login.headers["content-security-policy"]
    assert "https://" not in login.text  # no CDN


def test_a_signed_in_operator_reads_the_api_docs_with_the_session(web):
    assert web.get("/openapi.json").status_code == 401
    signed_in(web, "vera")
    page = web.get("/docs")
    assert page.status_code == 200 and "swagger" in page.text.lower()
    assert "/api/v1/customers" in web.get("/openapi.json").json()["paths"]
    # A proxy's own Basic auth in front of Ativa does not hide the session.
    assert web.get("/openapi.json", headers={"Authorization": "Basic dXNlcjpwYXNz"}).status_code == 200
    assert web.get("/openapi.json", headers={"Authorization": "Bearer wrong"}).status_code == 401
    web.cookies.set("ativa_session", "forged")
    assert web.get("/openapi.json").status_code == 401
    assert web.get("/docs").headers["location"] == "/entrar?next=/docs"


def test_sign_in_sets_a_hardened_cookie_and_sign_out_ends_the_session(web):
    response = sign_in(web, "ana")
    cookie = response.headers["set-cookie"]
    assert "ativa_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    page = web.get("/clientes")
    assert page.status_code == 200 and "ana (Administrador)" in page.text
    assert page.headers["cache-control"] == "no-store"
    token = web.cookies.get("ativa_session")
    assert web.post("/sair", data={"csrf_token": csrf_of(page.text)}).status_code == 303
    with web.db.read() as session:
        assert session.query(WebSession).count() == 0
    web.cookies.set("ativa_session", token)  # a copied cookie is dead after logout
    assert web.get("/clientes").status_code == 303


def test_wrong_password_and_unknown_user_get_the_same_answer(web):
    wrong = sign_in(web, "ana", "errada")
    unknown = sign_in(web, "ninguem", "errada")
    assert wrong.status_code == unknown.status_code == 401
    assert "Usuário ou senha incorretos." in wrong.text and "Usuário ou senha incorretos." in unknown.text
    assert "ativa_session" not in wrong.headers.get("set-cookie", "")


def test_repeated_failures_lock_the_user_out_even_with_the_right_password(web):
    for _ in range(2):
        assert sign_in(web, "otto", "errada").status_code == 401
    third = sign_in(web, "otto", "errada")
    assert third.status_code == 429 and "Muitas tentativas" in third.text
    assert sign_in(web, "otto").status_code == 429  # right password, still locked
    with web.db.write() as session:  # the lockout ends by itself
        from workflow.db.models import LoginThrottle

        for row in session.query(LoginThrottle).filter(LoginThrottle.locked_until.is_not(None)):
            row.locked_until = row.locked_until - timedelta(seconds=121)
    assert sign_in(web, "otto").status_code == 303


def test_login_form_without_its_csrf_cookie_is_refused(web):
    response = web.post("/entrar", data={"username": "ana", "password": PASSWORD, "csrf_token": "forjado"})
    assert response.status_code == 403 and "ativa_session" not in response.headers.get("set-cookie", "")


def test_forged_posts_without_the_csrf_token_change_nothing(web):
    signed_in(web, "ana")
    customer_id = new_customer(web)
    page = web.get(f"/clientes/{customer_id}/editar")
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)
    forged = {
        "name": "Hacker",
        "document": "52998224725",
        "ativo": "nao",
        "motivo": "other",
        "observacao": "x",
        "version": version,
    }
    for token in (None, "outro-token"):
        data = forged if token is None else {**forged, "csrf_token": token}
        response = web.post(f"/clientes/{customer_id}/editar", data=data)
        assert response.status_code == 403 and "CSRF" in response.text
    assert web.post("/clientes/novo", data={"name": "X", "document": VALID_CPFS[1]}).status_code == 403
    assert web.post("/sair", data={}).status_code == 403
    detail = web.get(f"/clientes/{customer_id}")
    assert "Maria Souza" in detail.text and "Hacker" not in detail.text
    with web.db.read() as session:
        assert session.query(StatusChange).count() == 0


def test_a_viewer_sees_without_buttons_and_the_server_refuses_its_posts(web):
    signed_in(web, "ana")
    customer_id = new_customer(web)
    web.cookies.clear()
    signed_in(web, "vera")
    listing = web.get("/clientes")
    assert "Maria Souza" in listing.text
    assert "Editar" not in listing.text and "Novo cliente" not in listing.text
    page = web.get(f"/clientes/{customer_id}")
    assert page.status_code == 200 and f"/clientes/{customer_id}/editar" not in page.text
    assert web.get(f"/clientes/{customer_id}/editar").status_code == 403
    # Inadimplência reads for everyone (the preview and the freeze), its buttons are for admins.
    delinquency = web.get("/inadimplencia")
    assert delinquency.status_code == 200 and "Congelamento de cortes automáticos" in delinquency.text
    for form in ("/inadimplencia/executar", "/inadimplencia/congelar", "/inadimplencia/descongelar"):
        assert form not in delinquency.text
    token = csrf_of(listing.text)  # a valid token of the viewer's own session
    for path, data in (
        (f"/clientes/{customer_id}/editar", {"ativo": "nao", "motivo": "other"}),
        ("/clientes/novo", {"name": "X", "document": VALID_CPFS[1]}),
        (f"/clientes/{customer_id}/desbloqueio", {"dias": "1"}),
        ("/inadimplencia/executar", {}),
        ("/inadimplencia/congelar", {"motivo": "banco fora do ar"}),
        ("/inadimplencia/descongelar", {}),
    ):
        response = web.post(path, data={**data, "csrf_token": token})
        assert response.status_code == 403, path
    with web.db.read() as session:
        assert session.query(StatusChange).count() == 0
        assert session.query(FreezeChange).count() == 0


def test_new_customer_form_explains_document_errors_in_portuguese_and_keeps_the_input(web):
    signed_in(web, "otto")
    page = web.get("/clientes/novo")
    cases = {
        "529.982.247-24": "CPF inválido",
        "11.222.333/0001-80": "CNPJ inválido",
        "1234": "O CPF tem 11 dígitos e o CNPJ tem 14; foram digitados 4.",
        "abc": "só números",
    }
    for document, message in cases.items():
        response = web.post(
            "/clientes/novo",
            data={"name": "Loja X", "document": document, "email": "loja@x.com", "csrf_token": csrf_of(page.text)},
        )
        assert response.status_code == 422 and message in response.text
        assert 'value="Loja X"' in response.text and f'value="{document}"' in response.text
    new_customer(web, document=VALID_CNPJ, external_ref="EMP-1", name="Empresa Y")
    duplicate = web.post(
        "/clientes/novo", data={"name": "Outra", "document": "11.222.333/0001-81", "csrf_token": csrf_of(page.text)}
    )
    assert duplicate.status_code == 422 and "Já existe um cliente com este CPF/CNPJ." in duplicate.text


def test_search_by_name_document_code_email_and_status_with_pages(web):
    signed_in(web, "ana")
    first = new_customer(web)
    new_customer(web, name="João Lima", document=VALID_CPFS[1], email="joao@lima.net", external_ref="C-2")
    for n in range(2, 5):
        new_customer(web, name=f"Zeca {n}", document=VALID_CPFS[n], email="", external_ref=f"Z-{n}")
    edit(web, first, ativo="nao", motivo="customer_request")

    def names(**query):
        text = web.get("/clientes", params=query).text
        return re.findall(r'<a href="/clientes/\d+">([^<]+)</a>', text)

    assert names(q="maria") == ["Maria Souza"]
    assert names(q="111.444.777-35") == ["João Lima"] == names(q="11144477735")
    assert names(q="C-2") == ["João Lima"] and names(q="joao@lima") == ["João Lima"]
    assert names(situacao="inativo") == ["Maria Souza"]
    assert "Maria Souza" not in names(situacao="ativo")
    assert names(q="zeca") == ["Zeca 2", "Zeca 3", "Zeca 4"]
    from workflow.web import pages_customers

    pages_customers.PER_PAGE, saved = 2, pages_customers.PER_PAGE
    try:
        page_two = web.get("/clientes", params={"q": "zeca", "pagina": 2}).text
        assert "Página 2 de 2" in page_two and re.findall(r'<a href="/clientes/\d+">([^<]+)</a>', page_two) == [
            "Zeca 4"
        ]
    finally:
        pages_customers.PER_PAGE = saved


def test_editar_refusals_keep_what_was_typed(web):
    signed_in(web, "otto")
    customer_id = new_customer(web)
    no_reason = edit(web, customer_id, ativo="nao", observacao="ligou pedindo", name="Maria S. Souza")
    assert no_reason.status_code == 422 and "Informe o motivo" in no_reason.text
    assert 'value="Maria S. Souza"' in no_reason.text and "ligou pedindo" in no_reason.text
    wrong_kind = edit(web, customer_id, ativo="nao", motivo="payment_received")
    assert wrong_kind.status_code == 422 and "não combina" in wrong_kind.text
    not_delinquent = edit(web, customer_id, ativo="nao", motivo="delinquency")
    assert "não tem fatura vencida" in not_delinquent.text
    with web.db.read() as session:
        assert session.query(StatusChange).count() == 0


def test_a_stored_replacement_character_is_kept_searched_and_only_a_new_one_refused(web):
    """A name imported from Latin-1 holds U+FFFD (the API accepts it): its other fields can be
    edited and it can be searched; a U+FFFD the edit adds (a lone surrogate typed now) is refused."""
    signed_in(web, "otto")
    customer_id = new_customer(web, phone="")
    broken = "Jo\ufffdo Souza"
    with web.db.write() as session:
        session.get(Customer, customer_id).name = broken
    saved = edit(web, customer_id, name=broken, phone="(11) 98888-7777")
    assert saved.status_code == 303, saved.text
    with web.db.read() as session:
        customer = session.get(Customer, customer_id)
        assert (customer.name, customer.phone) == (broken, "(11) 98888-7777")
    found = web.get("/clientes", params={"q": "Jo\ufffdo"})
    assert found.status_code == 200 and f"/clientes/{customer_id}" in found.text
    assert "caractere inválido" not in found.text

    added = edit(web, customer_id, name=broken, external_ref="C-\ufffd")
    assert added.status_code == 422 and "caractere inválido (�, na posição 3)" in added.text
    twice = edit(web, customer_id, name="Jo\ufffdo Sou\ufffda")
    assert twice.status_code == 422 and "caractere inválido (�, na posição 9)" in twice.text
    with web.db.read() as session:
        customer = session.get(Customer, customer_id)
        assert (customer.name, customer.external_ref) == (broken, "C-1")
    # A new customer's text has nothing stored: a U+FFFD in it is typed now.
    page = web.get("/clientes/novo")
    refused = web.post(
        "/clientes/novo",
        data={"name": "Ana \ufffd", "document": VALID_CPFS[1], "csrf_token": csrf_of(page.text)},
    )
    assert refused.status_code == 422 and "caractere inválido" in refused.text


def test_guard_refusal_on_activation_with_overdue_invoices_then_forced(web):
    signed_in(web, "otto")
    customer_id = new_customer(web)
    add_invoice(web.db, customer_id, days_overdue=20)
    assert edit(web, customer_id, ativo="nao", motivo="delinquency").status_code == 303
    refused = edit(web, customer_id, ativo="sim", motivo="manual", observacao="cliente insistiu")
    assert refused.status_code == 422 and "ainda tem faturas vencidas" in refused.text
    assert "cliente insistiu" in refused.text
    forced = edit(web, customer_id, ativo="sim", motivo="manual", observacao="gerente autorizou", forcar="on")
    assert forced.status_code == 303
    with web.db.read() as session:
        last = session.query(StatusChange).order_by(StatusChange.id.desc()).first()
        assert (last.to_status, last.reason, last.forced, last.actor, last.source) == (
            "active",
            "manual",
            True,
            "user:otto",
            "ui",
        )


def test_forced_activation_with_a_hold_date_from_the_edit_form(web):
    signed_in(web, "otto")
    customer_id = new_customer(web)
    add_invoice(web.db, customer_id, days_overdue=20)
    assert edit(web, customer_id, ativo="nao", motivo="delinquency").status_code == 303
    form = web.get(f"/clientes/{customer_id}/editar").text
    assert 'name="sem_corte_ate" type="date"' in form and "Em branco: 10 dia(s)" in form
    forced = {"ativo": "sim", "motivo": "manual", "observacao": "Gerente autorizou", "forcar": "on"}
    garbled = edit(web, customer_id, **forced, sem_corte_ate="31/02/2026")
    assert garbled.status_code == 422 and "Data inválida" in garbled.text and 'value="31/02/2026"' in garbled.text
    today = provider_today()
    past = edit(web, customer_id, **forced, sem_corte_ate=today.isoformat())
    assert past.status_code == 422 and "sem corte automático precisa ser depois de hoje" in past.text
    far = edit(web, customer_id, **forced, sem_corte_ate=(today + timedelta(days=91)).isoformat())
    assert far.status_code == 422 and "no máximo 90 dias" in far.text
    unforced = edit(web, customer_id, **{**forced, "forcar": ""}, sem_corte_ate=(today + timedelta(days=5)).isoformat())
    assert unforced.status_code == 422 and "ainda tem faturas vencidas" in unforced.text
    hold = today + timedelta(days=15)
    assert edit(web, customer_id, **forced, sem_corte_ate=hold.isoformat()).status_code == 303
    page = web.get(f"/clientes/{customer_id}").text
    shown = hold.strftime("%d/%m/%Y")
    assert f"sem corte automático até <strong>{shown}</strong>" in page  # Pendências e próxima ação
    assert f"Sem corte automático até {shown}" in page  # Histórico
    not_changing = edit(web, customer_id, sem_corte_ate=hold.isoformat())
    assert not_changing.status_code == 422 and "só vale ao ativar com Forçar ativação" in not_changing.text
    web.cookies.clear()
    signed_in(web, "ana")
    preview = web.get("/inadimplencia").text
    assert "Fora do corte: 1 cliente(s) com ativação forçada" in preview and shown in preview


def test_a_save_by_someone_else_in_between_is_detected_and_explained(web):
    signed_in(web, "otto")
    customer_id = new_customer(web)
    page = web.get(f"/clientes/{customer_id}/editar")
    stale = {
        "name": "Maria Antiga",
        "document": "52998224725",
        "ativo": "sim",
        "csrf_token": csrf_of(page.text),
        "version": re.search(r'name="version" value="(\d+)"', page.text).group(1),
    }
    assert edit(web, customer_id, name="Maria Nova").status_code == 303  # the other person's save
    conflict = web.post(f"/clientes/{customer_id}/editar", data=stale)
    assert conflict.status_code == 409 and "Outra pessoa salvou este cliente" in conflict.text
    assert 'value="Maria Antiga"' in conflict.text  # what this operator typed
    assert "Dados salvos agora" in conflict.text and "Maria Nova" in conflict.text
    assert web.get(f"/clientes/{customer_id}").text.count("Maria Antiga") == 0
    resubmit = web.post(
        f"/clientes/{customer_id}/editar",
        data={**stale, "version": re.search(r'name="version" value="(\d+)"', conflict.text).group(1)},
    )
    assert resubmit.status_code == 303 and "Maria Antiga" in web.get(f"/clientes/{customer_id}").text


def test_trust_unlock_and_return_date_from_the_customer_page(web):
    signed_in(web, "otto")
    customer_id = new_customer(web)
    add_invoice(web.db, customer_id, days_overdue=20)
    edit(web, customer_id, ativo="nao", motivo="delinquency")
    page = web.get(f"/clientes/{customer_id}")
    assert "Desbloqueio de confiança" in page.text and "R$ 99,90" in page.text
    too_long = web.post(f"/clientes/{customer_id}/desbloqueio", data={"dias": "9", "csrf_token": csrf_of(page.text)})
    assert too_long.status_code == 422 and "máximo de dias" in too_long.text
    ok = web.post(f"/clientes/{customer_id}/desbloqueio", data={"dias": "2", "csrf_token": csrf_of(page.text)})
    assert ok.status_code == 303
    after = web.get(f"/clientes/{customer_id}").text
    assert "Desbloqueio de confiança até" in after and "fim do Desbloqueio de confiança" in after

    other = new_customer(web, name="Pedro", document=VALID_CPFS[2], external_ref="C-9")
    back_on = provider_today() + timedelta(days=10)
    assert (
        edit(
            web,
            other,
            name="Pedro",
            document=VALID_CPFS[2],
            external_ref="C-9",
            ativo="nao",
            motivo="customer_request",
            data_retorno=back_on.isoformat(),
        ).status_code
        == 303
    )
    page = web.get(f"/clientes/{other}")
    assert f"retorno programado em {back_on.strftime('%d/%m/%Y')}" in page.text
    past = web.post(
        f"/clientes/{other}/retorno",
        data={"data_retorno": provider_today().isoformat(), "csrf_token": csrf_of(page.text)},
    )
    assert past.status_code == 422 and "depois de hoje" in past.text
    cleared = web.post(f"/clientes/{other}/retorno", data={"data_retorno": "", "csrf_token": csrf_of(page.text)})
    assert cleared.status_code == 303 and "Sem data de retorno." in web.get(f"/clientes/{other}").text


def test_delinquency_page_previews_who_and_why_and_only_admins_run_it(web):
    signed_in(web, "ana")
    customer_id = new_customer(web)
    add_invoice(web.db, customer_id, days_overdue=40, amount="150.00")
    page = web.get("/inadimplencia", params={"data": "2026-12-02"})  # a Wednesday, no holiday
    assert page.status_code == 200 and "Maria Souza" in page.text and "R$ 150,00" in page.text
    christmas = web.get("/inadimplencia", params={"data": "2026-12-25"})  # a Friday, then the weekend
    assert "25/12/2026 é feriado (Natal): não há corte." in christmas.text
    assert "No próximo dia de corte (28/12/2026) seriam inativados: 1 cliente(s)" in christmas.text
    assert "Maria Souza" in christmas.text and "seriam inativados em 25/12/2026" not in christmas.text
    saturday = web.get("/inadimplencia", params={"data": "2026-12-26"})
    assert "26/12/2026 é sábado, dia sem corte." in saturday.text
    assert "No próximo dia de corte (28/12/2026)" in saturday.text
    web.cookies.clear()
    signed_in(web, "otto")
    page = web.get("/inadimplencia", params={"data": "2026-12-02"})
    assert page.status_code == 200 and "Maria Souza" in page.text and "/inadimplencia/executar" not in page.text


def test_an_address_is_locked_after_more_failures_than_a_username(db):
    """Many usernames tried from one address: the address is locked too, later than a user."""
    from workflow.usecases.users import ADDRESS_ALLOWANCE

    with db.write() as session:
        users.create_user(session, "bia", "operator", PASSWORD)
    attempts = 2 * ADDRESS_ALLOWANCE  # max_failures=2: the address locks at 8 failures
    for n in range(attempts - 1):
        with db.write() as session:
            failed = users.sign_in(session, f"nome{n}", "x", "10.0.0.7", max_failures=2, lockout_seconds=60)
            assert failed.user is None and failed.locked_for == 0  # no single name failed twice
    with db.write() as session:
        assert users.sign_in(session, "outro", "x", "10.0.0.7", max_failures=2, lockout_seconds=60).locked_for
    with db.write() as session:  # the right password from that address waits too; elsewhere it works
        assert users.sign_in(session, "bia", PASSWORD, "10.0.0.7", max_failures=2, lockout_seconds=60).locked_for
        assert users.sign_in(session, "bia", PASSWORD, "10.0.0.8", max_failures=2, lockout_seconds=60).user


def effect_row(db, effect_id):
    with db.read() as session:
        effect = session.get(OutboxEffect, effect_id)
        session.expunge(effect)
        return effect


def test_the_message_after_a_save_shows_once_and_names_what_happened(web):
    signed_in(web, "otto")
    page = web.get("/clientes/novo")
    created = web.post(
        "/clientes/novo", data={"name": "Maria Souza", "document": VALID_CPFS[0], "csrf_token": csrf_of(page.text)}
    )
    assert created.status_code == 303 and re.fullmatch(r"/clientes/\d+", created.headers["location"])
    customer_id = int(created.headers["location"].rsplit("/", 1)[1])
    first = web.get(f"/clientes/{customer_id}")
    assert "Cliente criado." in first.text and "Alterações salvas." not in first.text
    reload = web.get(f"/clientes/{customer_id}")
    assert "Cliente criado." not in reload.text and "Alterações salvas." not in reload.text
    assert edit(web, customer_id, name="Maria S. Souza").status_code == 303
    assert "Alterações salvas." in web.get(f"/clientes/{customer_id}").text
    assert "Alterações salvas." not in web.get(f"/clientes/{customer_id}").text
    web.cookies.set("ativa_flash", "<b>texto forjado</b>")  # only known messages are ever shown
    assert "texto forjado" not in web.get(f"/clientes/{customer_id}").text


def test_ui_addresses_that_do_not_exist_or_are_odd_get_pages_in_portuguese(web):
    unknown = web.get("/nada-aqui")  # signed out too
    assert unknown.status_code == 404 and unknown.headers["content-type"].startswith("text/html")
    assert (
        "Página não encontrada" in unknown.text and "default-src 'self'" in unknown.headers["content-security-policy"]
    )
    signed_in(web, "otto")
    for path in ("/clientes/abc", "/clientes/0", "/clientes/abc/editar", "/nada-aqui"):
        page = web.get(path)
        assert page.status_code == 404 and "Página não encontrada" in page.text, path
        assert page.headers["content-type"].startswith("text/html") and '"detail"' not in page.text, path
    assert "Cliente não encontrado" in web.get("/clientes/999").text
    for query in ({"pagina": "0"}, {"pagina": "abc"}, {"pagina": "-3"}, {"situacao": "talvez"}, {"q": "x" * 300}):
        listing = web.get("/clientes", params=query)
        assert listing.status_code == 200 and "Clientes" in listing.text, query
    sign_out = web.get("/sair")  # a POST-only address
    assert sign_out.status_code == 405 and "Ação não permitida" in sign_out.text and "POST" in sign_out.headers["allow"]
    web.cookies.clear()
    signed_in(web, "ana")
    bad_day = web.get("/inadimplencia", params={"data": "ontem"})
    # A typed date that is not a date: said beside the field, today's preview below.
    assert bad_day.status_code == 422 and "Data inválida" in bad_day.text and "ontem" in bad_day.text
    # The machines' paths keep their problem+json.
    for path in ("/api/v1/customers/abc", "/api/v1/nada"):
        problem = web.get(path, headers={"Authorization": "Bearer x"})
        assert problem.headers["content-type"] == "application/problem+json", path


def test_history_is_paged_and_cancelled_services_are_folded(web):
    from workflow.domain.customer_machine import TransitionRequest
    from workflow.domain.vocabulary import CustomerEvent, ServiceEvent, Source
    from workflow.usecases import customer_services, transitions

    signed_in(web, "vera")
    with web.db.write() as session:
        customer_id = session.scalar(insert_customer(session))
        services = [customer_services.add_service(session, customer_id, f"Plano {n}").id for n in range(3)]
        for service_id in services[1:]:
            customer_services.change_service(session, service_id, ServiceEvent.CANCEL)
    actor = transitions.Actor(name="user:otto", role=Role.OPERATOR)
    for n in range(25):  # 25 changes: pages of 20
        event, reason = (
            (CustomerEvent.INACTIVATE, "customer_request")
            if n % 2 == 0
            else (CustomerEvent.ACTIVATE, "customer_return")
        )
        with web.db.write() as session:
            transitions.transition_customer(
                session,
                customer_id,
                event,
                TransitionRequest(reason, f"mudança {n}", actor_role=Role.OPERATOR),
                actor,
                Source.UI,
            )
    first = web.get(f"/clientes/{customer_id}")
    assert len(re.findall(r"<tr data-transition-id=", first.text)) == 20
    assert "mudança 24" in first.text and "mudança 4" not in first.text
    assert "Mais antigas" in first.text and "Mais recentes" not in first.text
    assert f'href="/clientes/{customer_id}?historico=2#historico-titulo"' in first.text
    # Effects are pending (no worker here): the page polls, and keeps its page of the history.
    assert f'hx-get="/clientes/{customer_id}/atividade?historico=1"' in first.text
    second = web.get(f"/clientes/{customer_id}", params={"historico": 2})
    assert len(re.findall(r"<tr data-transition-id=", second.text)) == 5
    assert "mudança 0" in second.text and "mudança 5" not in second.text and "Mais recentes" in second.text
    assert f'hx-get="/clientes/{customer_id}/atividade?historico=2"' in second.text
    poll = web.get(f"/clientes/{customer_id}/atividade", params={"historico": 2})
    assert len(re.findall(r"<tr data-transition-id=", poll.text)) == 5
    assert "mudança 0" in web.get(f"/clientes/{customer_id}", params={"historico": 99}).text  # the last page
    assert "mudança 24" in web.get(f"/clientes/{customer_id}", params={"historico": "0"}).text
    services_table = first.text.split('id="servicos"', 1)[1].split("</table>", 1)[0]
    assert "Plano 0" in services_table and "Plano 1" not in services_table
    folded = re.search(r'<details class="folded" id="servicos-cancelados">.*?</details>', first.text, re.DOTALL).group(
        0
    )
    assert "2 serviços cancelados" in folded and "Plano 1" in folded and "Plano 2" in folded


def insert_customer(session):
    from sqlalchemy import select

    from workflow.usecases import customers

    customer = customers.create_customer(session, customers.CustomerDraft(name="Maria Souza", document=VALID_CPFS[0]))
    return select(Customer.id).where(Customer.id == customer.id)


def test_per_service_effects_name_their_service_and_the_scheduler_speaks_portuguese(web):
    from workflow.domain.vocabulary import Effect
    from workflow.usecases import customer_services, delinquency
    from workflow.usecases.transitions import new_effect

    signed_in(web, "vera")
    with web.db.write() as session:
        customer_id = session.scalar(insert_customer(session))
        services = {
            name: customer_services.add_service(session, customer_id, name).id
            for name in ("Fibra 500 Mega", "Telefone fixo")
        }
    add_invoice(web.db, customer_id, days_overdue=40, amount="1234.5")
    settings = Settings(database_url=web.db.url, no_cut_weekdays="")
    today = provider_today()
    assert delinquency.inactivate_due(web.db, delinquency.policy_from(settings), [customer_id], today).inactivated
    with web.db.write() as session:
        change_id = session.scalar(select(StatusChange.id).where(StatusChange.customer_id == customer_id))
        for service_id in services.values():
            session.add(
                OutboxEffect(
                    **new_effect(
                        Effect.PROVISION_SUSPEND,
                        customer_id,
                        utcnow(),
                        transition_id=change_id,
                        service_id=service_id,
                        origin="effect",
                    )
                )
            )
    page = web.get(f"/clientes/{customer_id}").text
    row = page.split(f'data-transition-id="{change_id}"', 1)[1].split("</tr>", 1)[0]
    assert "Bloquear no provisionamento (Fibra 500 Mega)" in row
    assert "Bloquear no provisionamento (Telefone fixo)" in row
    assert "Agendador automático" in row and "scheduler" not in row
    assert f"Corte automático de {today.strftime('%d/%m/%Y')}: 1 fatura(s) vencida(s), total R$ 1.234,50" in row


def test_tentar_de_novo_is_for_admins_and_gives_a_failed_effect_new_attempts(web):
    signed_in(web, "otto")
    customer_id = new_customer(web)
    other_id = new_customer(web, name="Pedro", document=VALID_CPFS[2], external_ref="C-9")
    assert edit(web, customer_id, ativo="nao", motivo="customer_request").status_code == 303
    with web.db.write() as session:
        effect = session.scalar(
            select(OutboxEffect).where(OutboxEffect.customer_id == customer_id, OutboxEffect.name == "notify_billing")
        )
        effect.state, effect.attempts, effect.completed_at = "failed", 8, utcnow()
        effect.last_error = "gave up after 8 attempt(s) (limit 8); last error: HTTP 503 from billing: busy"
        effect_id = effect.id
    retry_path = f"/clientes/{customer_id}/efeitos/{effect_id}/tentar-de-novo"

    for username in ("otto", "vera"):  # no button, and the server refuses them anyway
        web.cookies.clear()
        signed_in(web, username)
        page = web.get(f"/clientes/{customer_id}")
        assert "Tentar de novo</button>" not in page.text and retry_path not in page.text
        tooltip = re.search(rf'data-effect-id="{effect_id}" title="([^"]+)"', page.text).group(1)
        assert tooltip == (
            "Falhou depois de 8 tentativa(s): o sistema de cobrança respondeu com erro HTTP 503. "
            "O Ativa não tenta mais sozinho; um administrador pode usar Tentar de novo."
        )
        assert web.post(retry_path, data={"csrf_token": csrf_of(page.text)}).status_code == 403
    assert effect_row(web.db, effect_id).state == "failed"

    web.cookies.clear()
    signed_in(web, "ana")
    page = web.get(f"/clientes/{customer_id}")
    assert f'action="{retry_path}"' in page.text and "Tentar de novo</button>" in page.text
    assert web.post(retry_path, data={"csrf_token": "forjado"}).status_code == 403
    assert (
        web.post(
            f"/clientes/{other_id}/efeitos/{effect_id}/tentar-de-novo", data={"csrf_token": csrf_of(page.text)}
        ).status_code
        == 404
    )
    for huge in (2**31, 2**63, 10**20):  # past the INTEGER column: a page, never a 500 (PostgreSQL)
        beyond = web.post(
            f"/clientes/{customer_id}/efeitos/{huge}/tentar-de-novo", data={"csrf_token": csrf_of(page.text)}
        )
        assert beyond.status_code == 404 and "Página não encontrada" in beyond.text, huge
    assert effect_row(web.db, effect_id).state == "failed"
    retried = web.post(retry_path, data={"csrf_token": csrf_of(page.text)})
    assert retried.status_code == 303 and retried.headers["location"] == f"/clientes/{customer_id}"
    effect = effect_row(web.db, effect_id)
    assert (effect.state, effect.attempts, effect.note.startswith("retried by user:ana")) == ("pending", 0, True)
    after = web.get(f"/clientes/{customer_id}").text
    assert "Nova tentativa pedida" in after and "Tentar de novo</button>" not in after
    assert "Nova tentativa pedida por ana." in re.search(rf'data-effect-id="{effect_id}" title="([^"]+)"', after).group(
        1
    )
    again = web.post(retry_path, data={"csrf_token": csrf_of(page.text)})
    assert again.status_code == 409 and "não está mais como Falhou" in again.text
