"""The operator's guide, word for word, in a real browser (Debian's chromium, headless) against
`ativa serve` as a real process, whose worker carries the effects out.

  Acesse o menu Sistema > Cadastros > Clientes; encontre o cadastro do cliente desejado e clique
  em "Editar"; localize o campo "Ativo" e selecione a opção "Sim" (ou "Não"); clique em "Salvar".

Screenshots of the main pages go to test-artifacts/screenshots (docs/guia-do-operador.md uses them).
"""

import re
import time

import pytest
from sqlalchemy import select

from tests.conftest import VALID_CPFS, add_invoice
from tests.e2e.browser_support import (
    EFFECTS_TIMEOUT_MS,
    NO_BROWSER,
    Server,
    expect,
    shot,
    sign_in,
)
from tests.support import stop_serve
from workflow.db.models import OutboxEffect
from workflow.usecases.business_day import provider_today

pytestmark = NO_BROWSER


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = Server(tmp_path_factory.mktemp("ui")).start()
    yield running
    running.db.dispose()
    stop_serve(running.process)


def open_clientes_from_the_menu(page):
    """Acesse o menu Sistema > Cadastros > Clientes."""
    menu = page.get_by_role("navigation", name="Menu principal")
    menu.get_by_text("Sistema", exact=True).click()
    menu.get_by_text("Cadastros", exact=True).click()
    menu.get_by_role("link", name="Clientes", exact=True).click()
    expect(page.get_by_role("heading", name="Clientes")).to_be_visible()


def find_and_edit(page, search: str, name: str):
    """Encontre o cadastro do cliente desejado e clique em "Editar"."""
    page.get_by_label("Buscar").fill(search)
    page.get_by_role("button", name="Buscar").click()
    row = page.get_by_role("row").filter(has_text=name)
    expect(row).to_have_count(1)
    row.get_by_role("link", name="Editar").click()
    expect(page.get_by_role("heading", name="Editar cliente")).to_be_visible()


def expect_effects_finished(page, count: int):
    history = page.locator("#historico tbody tr").first
    expect(history.locator("li.effect")).to_have_count(count)
    expect(history.locator("li.effect.pending")).to_have_count(0, timeout=EFFECTS_TIMEOUT_MS)


def test_the_guide_inactivates_then_activates_a_customer(server, page):
    customer_id = server.customer_with_services(0, "Joana Pereira", "CLI-1001")
    page.goto(f"{server.base}/entrar")
    shot(page, "01-entrar")
    sign_in(page, server, "maria")
    open_clientes_from_the_menu(page)
    shot(page, "02-clientes")

    # Inactivation: Ativo = Não, at the customer's request.
    find_and_edit(page, "529.982.247-25", "Joana Pereira")  # by CPF, with punctuation
    ativo = page.get_by_label("Ativo", exact=True)
    expect(ativo).to_have_value("sim")
    days, return_date = page.get_by_label("Dias de desbloqueio"), page.get_by_label("Data de retorno")
    expect(days).to_be_hidden()  # each extra field shows only with its reason
    expect(return_date).to_be_hidden()
    ativo.select_option(label="Não")
    page.get_by_label("Motivo").select_option(label="Outro")
    expect(return_date).to_be_hidden()
    page.get_by_label("Motivo").select_option(label="Suspensão a pedido do cliente")
    expect(return_date).to_be_visible()
    expect(days).to_be_hidden()
    page.get_by_label("Observação").fill("Cliente viaja por 2 meses; ligou pedindo a suspensão.")
    shot(page, "03-editar-inativar")
    page.get_by_role("button", name="Salvar").click()

    expect(page.get_by_text("Alterações salvas.")).to_be_visible()
    assert page.url.endswith(f"/clientes/{customer_id}")
    expect(page.locator("#situacao-cliente")).to_have_text("Inativo")
    expect_effects_finished(page, 3)  # the page updates itself until the worker is done
    services = page.locator("#servicos tbody tr")
    expect(services).to_have_count(2)
    expect(services.filter(has_text="Suspenso")).to_have_count(2)
    expect(page.locator("#faturamento")).to_have_text("Faturamento: Pausado")
    latest = page.locator("#historico tbody tr").first
    for text in (
        "maria",
        "Tela",
        "Inativação: Ativo Sim → Não",
        "Suspensão a pedido do cliente",
        "Cliente viaja por 2 meses",
        "Suspender serviços: Concluído",
        "Pausar faturamento: Concluído",
    ):
        expect(latest).to_contain_text(text)
    shot(page, "04-cliente-inativado")

    # Activation: the same steps, Ativo = Sim, the customer came back.
    open_clientes_from_the_menu(page)
    find_and_edit(page, "Joana", "Joana Pereira")
    page.get_by_label("Ativo", exact=True).select_option(label="Sim")
    page.get_by_label("Motivo").select_option(label="Retorno do cliente")
    expect(page.get_by_label("Dias de desbloqueio")).to_be_hidden()
    expect(page.get_by_label("Data de retorno")).to_be_hidden()
    shot(page, "05-editar-ativar")
    page.get_by_role("button", name="Salvar").click()

    expect(page.locator("#situacao-cliente")).to_have_text("Ativo")
    expect_effects_finished(page, 3)
    expect(page.locator("#servicos tbody tr").filter(has_text="Ativo")).to_have_count(2)
    expect(page.locator("#faturamento")).to_have_text("Faturamento: Ativo")
    latest = page.locator("#historico tbody tr").first
    for text in (
        "Ativação: Ativo Não → Sim",
        "Retorno do cliente",
        "Restabelecer serviços: Concluído",
        "Retomar faturamento: Concluído",
    ):
        expect(latest).to_contain_text(text)
    expect(page.locator("#historico tbody tr")).to_have_count(2)
    shot(page, "06-cliente-reativado")
    page.reload()  # the message was for the save, not for every visit
    expect(page.get_by_text("Alterações salvas.")).to_have_count(0)

    # The same facts through the API: the UI used the real transition use case.
    history = server.api("GET", f"/api/v1/customers/{customer_id}/history")["items"]
    assert [(h["event"], h["reason"], h["source"], h["actor"]) for h in history] == [
        ("activate", "customer_return", "ui", "user:maria"),
        ("inactivate", "customer_request", "ui", "user:maria"),
    ]


def test_a_guard_refusal_is_shown_on_the_form_and_nothing_typed_is_lost(server, page):
    customer_id = server.customer_with_services(1, "Carlos Dívida", "CLI-2002")
    add_invoice(server.db, customer_id, days_overdue=30, amount="129.90")
    server.api("POST", f"/api/v1/customers/{customer_id}/inactivate", json={"reason": "delinquency"})
    sign_in(page, server, "maria")
    open_clientes_from_the_menu(page)
    find_and_edit(page, "CLI-2002", "Carlos Dívida")
    page.get_by_label("Ativo", exact=True).select_option(label="Sim")
    page.get_by_label("Motivo").select_option(label="Desbloqueio de confiança")
    expect(page.get_by_label("Dias de desbloqueio")).to_be_visible()
    expect(page.get_by_label("Data de retorno")).to_be_hidden()
    page.get_by_label("Dias de desbloqueio").fill("2")
    page.get_by_label("Motivo").select_option(label="Liberação manual")
    expect(page.get_by_label("Dias de desbloqueio")).to_be_hidden()  # and its 2 days are not sent
    page.get_by_label("Observação").fill("Disse que pagou ontem no caixa.")
    page.get_by_role("button", name="Salvar").click()

    expect(page.get_by_text("O cliente ainda tem faturas vencidas em aberto.")).to_be_visible()
    expect(page.get_by_label("Observação")).to_have_value("Disse que pagou ontem no caixa.")
    expect(page.get_by_label("Motivo")).to_have_value("manual")
    shot(page, "07-recusa-faturas-vencidas")
    assert server.api("GET", f"/api/v1/customers/{customer_id}")["status"] == "inactive"

    # The customer's page explains why and offers the trust unlock instead.
    page.goto(f"{server.base}/clientes/{customer_id}")
    expect(page.locator("#pendencias").locator("..")).to_contain_text("R$ 129,90")
    page.get_by_label("Dias de desbloqueio").fill("2")
    page.get_by_role("button", name="Liberar por confiança").click()
    expect(page.locator("#situacao-cliente")).to_have_text("Ativo")
    expect(page.get_by_text("Desbloqueio de confiança até")).to_be_visible()
    expect_effects_finished(page, 3)
    shot(page, "08-desbloqueio-de-confianca")


def test_a_forced_activation_holds_the_cuts_until_the_chosen_date(server, page):
    from datetime import timedelta

    customer = server.api(
        "POST",
        "/api/v1/customers",
        json={"name": "Beto Acordo", "document": "123.456.789-09", "external_ref": "CLI-7007"},
    )
    add_invoice(server.db, customer["id"], days_overdue=30, amount="89.90")
    server.api("POST", f"/api/v1/customers/{customer['id']}/inactivate", json={"reason": "delinquency"})
    hold = provider_today() + timedelta(days=15)
    sign_in(page, server, "maria")
    open_clientes_from_the_menu(page)
    find_and_edit(page, "CLI-7007", "Beto Acordo")
    page.get_by_label("Ativo", exact=True).select_option(label="Sim")
    page.get_by_label("Motivo").select_option(label="Liberação manual")
    page.get_by_label("Observação").fill("Gerente autorizou")
    page.get_by_label("Forçar ativação mesmo com faturas vencidas").check()
    page.get_by_label("Sem corte automático até").fill(hold.isoformat())
    shot(page, "13-ativacao-forcada-sem-corte")
    page.get_by_role("button", name="Salvar").click()

    expect(page.locator("#situacao-cliente")).to_have_text("Ativo")
    shown = hold.strftime("%d/%m/%Y")
    expect(page.locator("#sem-corte")).to_contain_text(f"sem corte automático até {shown}")
    expect(page.locator("#historico tbody tr").first).to_contain_text(f"Sem corte automático até {shown}")
    assert server.api("GET", f"/api/v1/customers/{customer['id']}")["forced_hold_until"] == hold.isoformat()


def test_wrong_password_is_refused(server, page):
    page.goto(f"{server.base}/entrar")
    page.get_by_label("Usuário").fill("maria")
    page.get_by_label("Senha").fill("senha-errada")
    page.get_by_role("button", name="Entrar").click()
    expect(page.get_by_role("alert")).to_have_text("Usuário ou senha incorretos.")
    expect(page.get_by_label("Usuário")).to_have_value("maria")
    page.goto(f"{server.base}/clientes")
    assert "/entrar" in page.url  # still not signed in


def test_a_form_with_a_forged_csrf_token_is_refused(server, page):
    customer_id = server.customer_with_services(2, "Rita Alvo", "CLI-3003")
    sign_in(page, server, "maria")
    page.goto(f"{server.base}/clientes/{customer_id}/editar")
    page.get_by_label("Ativo", exact=True).select_option(label="Não")
    page.get_by_label("Motivo").select_option(label="Outro")
    page.get_by_label("Observação").fill("teste")
    page.locator("#editar input[name=csrf_token]").evaluate("input => input.value = 'forjado'")
    page.get_by_role("button", name="Salvar").click()
    expect(page.get_by_role("heading", name="Acesso negado")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("proteção CSRF")
    assert server.api("GET", f"/api/v1/customers/{customer_id}")["status"] == "active"


def test_a_viewer_sees_but_cannot_edit(server, page):
    customer_id = server.customer_with_services(3, "Paulo Consulta", "CLI-4004")
    sign_in(page, server, "vitor")
    expect(page.get_by_role("link", name="Novo cliente")).to_have_count(0)
    expect(page.get_by_role("link", name="Editar")).to_have_count(0)
    page.get_by_role("link", name="Paulo Consulta").click()
    expect(page.get_by_role("heading", name="Histórico")).to_be_visible()
    expect(page.get_by_role("link", name="Editar")).to_have_count(0)
    shot(page, "09-perfil-consulta")
    page.goto(f"{server.base}/clientes/{customer_id}/editar")
    expect(page.get_by_role("heading", name="Acesso negado")).to_be_visible()
    # Even a POST with the viewer's own valid CSRF token is refused by the server.
    page.goto(f"{server.base}/clientes")
    token = page.locator("input[name=csrf_token]").first.input_value()
    response = page.request.post(
        f"{server.base}/clientes/{customer_id}/editar",
        form={
            "csrf_token": token,
            "name": "Paulo Consulta",
            "document": VALID_CPFS[3],
            "ativo": "nao",
            "motivo": "other",
            "observacao": "tentativa",
        },
    )
    assert response.status == 403
    assert server.api("GET", f"/api/v1/customers/{customer_id}")["status"] == "active"


def test_the_api_docs_open_for_a_signed_in_user_from_this_server_alone(server, page):
    requested, errors = [], []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.goto(f"{server.base}/docs")
    assert "/entrar" in page.url  # signed out: to the sign-in page first
    sign_in(page, server, "vitor")
    page.goto(f"{server.base}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Ativa")
    expect(page.get_by_text("/api/v1/customers/{customer_id}/activate", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Authorize")).to_be_visible()
    shot(page, "11-api-docs", full_page=False)
    assert all(url.startswith((server.base, "data:")) for url in requested), requested
    assert errors == []  # nothing refused by the page's CSP


def test_new_customer_form_and_the_delinquency_run(server, page):
    sign_in(page, server, "ana")
    page.get_by_role("link", name="Novo cliente").click()
    page.get_by_label("Nome").fill("Padaria Pão Quente")
    page.get_by_label("CPF/CNPJ").fill("11.222.333/0001-80")
    page.get_by_role("button", name="Salvar").click()
    expect(page.get_by_text("CNPJ inválido: os dígitos verificadores não conferem.")).to_be_visible()
    expect(page.get_by_label("Nome")).to_have_value("Padaria Pão Quente")
    shot(page, "10-novo-cliente-cnpj-invalido")
    page.get_by_label("CPF/CNPJ").fill("11.222.333/0001-81")
    page.get_by_label("Código").fill("CLI-5005")
    page.get_by_role("button", name="Salvar").click()
    expect(page.get_by_text("Cliente criado.")).to_be_visible()
    expect(page.get_by_text("Alterações salvas.")).to_have_count(0)
    customer_id = int(page.url.split("/clientes/")[1].split("?")[0])
    add_invoice(server.db, customer_id, days_overdue=45, amount="310.00")

    menu = page.get_by_role("navigation", name="Menu principal")
    menu.get_by_text("Sistema", exact=True).click()
    menu.get_by_role("link", name="Inadimplência").click()
    row = page.locator("#previa tbody tr").filter(has_text="Padaria Pão Quente")
    expect(row).to_contain_text("R$ 310,00")
    expect(row).to_contain_text("45")
    shot(page, "11-inadimplencia")
    holiday = page.locator(".alert.warning")
    if holiday.count():  # a national holiday today: the run must not cut anyone
        expect(holiday).to_contain_text("feriado")
        return
    page.get_by_role("button", name="Executar inadimplência agora").click()
    expect(page.get_by_role("status")).to_contain_text("entregue(s) aos workers")
    deadline = time.monotonic() + EFFECTS_TIMEOUT_MS / 1000  # a worker runs the batch
    while server.api("GET", f"/api/v1/customers/{customer_id}")["status"] != "inactive":
        assert time.monotonic() < deadline, server.log.read_text()[-3000:]
        time.sleep(0.3)
    page.goto(f"{server.base}/clientes/{customer_id}")
    expect(page.locator("#situacao-cliente")).to_have_text("Inativo")
    latest = page.locator("#historico tbody tr").first
    for text in ("Inadimplência", "Agendamento", "Agendador automático", "1 fatura(s) vencida(s), total R$ 310,00"):
        expect(latest).to_contain_text(text)


def test_usable_on_a_phone(server, browser):
    server.customer_with_services(4, "Lucas Celular", "CLI-6006")
    context = browser.new_context(
        locale="pt-BR", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    try:
        sign_in(page, server, "maria")
        open_clientes_from_the_menu(page)
        # Nothing wider than the screen but the tables, which scroll inside their own box.
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0
        edit_link = page.get_by_role("link", name="Editar").first
        expect(edit_link).to_be_visible()
        box = edit_link.bounding_box()
        assert box["x"] + box["width"] <= 390  # reachable without scrolling sideways
        shot(page, "12-celular-clientes", full_page=False)
    finally:
        context.close()


def test_an_admin_retries_a_failed_effect_from_the_customer_page(server, page):
    customer_id = server.customer_with_services(0, "Beatriz Falha", "CLI-8008", document="86288366757")
    server.api("POST", f"/api/v1/customers/{customer_id}/inactivate", json={"reason": "other", "note": "teste"})
    deadline = time.monotonic() + EFFECTS_TIMEOUT_MS / 1000
    while any(
        e["state"] == "pending"
        for e in server.api("GET", f"/api/v1/customers/{customer_id}/history")["items"][0]["effects"]
    ):
        assert time.monotonic() < deadline, server.log.read_text()[-3000:]
        time.sleep(0.3)
    with server.db.write() as session:  # as if the worker had given up on it
        effect = session.scalar(
            select(OutboxEffect).where(OutboxEffect.customer_id == customer_id, OutboxEffect.name == "suspend_services")
        )
        effect.state, effect.attempts = "failed", 8
        effect.last_error = "gave up after 8 attempt(s) (limit 8); last error: OperationalError: disk I/O error"
    sign_in(page, server, "ana")
    page.goto(f"{server.base}/clientes/{customer_id}")
    failed = page.locator("#historico li.effect.failed")
    expect(failed).to_contain_text("Suspender serviços: Falhou (8 tentativas)")
    expect(failed).to_have_attribute("title", re.compile(r"^Falhou depois de 8 tentativa\(s\): erro inesperado"))
    shot(page, "13-tentar-de-novo")
    failed.get_by_role("button", name="Tentar de novo").click()
    expect(page.get_by_role("status").first).to_contain_text("Nova tentativa pedida")
    latest = page.locator("#historico tbody tr").first
    expect(latest).to_contain_text("Suspender serviços: Concluído", timeout=EFFECTS_TIMEOUT_MS)  # the worker ran it
    expect(latest.get_by_role("button", name="Tentar de novo")).to_have_count(0)
