"""A customer's services and the CSV export in a real browser (Debian's chromium, headless) against
`ativa serve` as a real process: an operator adds a service with its RADIUS login, suspends it with a
note, resumes and cancels it; hostile text is refused in Portuguese; a viewer has no buttons and its
forged POST is refused; Exportar CSV downloads the filtered list. Screenshots for the guide go to
test-artifacts/screenshots (docs/img)."""

import csv
import io
from pathlib import Path

import pytest
from validate_docbr import CPF

from tests.e2e.browser_support import CHROMIUM, Server, expect, shot, sign_in
from tests.support import stop_serve

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = Server(tmp_path_factory.mktemp("services-ui")).start()
    yield running
    running.db.dispose()
    stop_serve(running.process)


def new_customer(server, name: str, ref: str) -> int:
    body = {"name": name, "document": CPF().generate(), "external_ref": ref}
    return server.api("POST", "/api/v1/customers", json=body)["id"]


def services(server, customer_id: int) -> list[tuple[str, str, str | None]]:
    items = server.api("GET", f"/api/v1/customers/{customer_id}/services")["items"]
    return [(s["name"], s["status"], s["login"]) for s in items]


def add_service(page, name: str, **access: str):
    form = page.locator("#novo-servico")
    if form.get_attribute("open") is None:
        form.locator("summary").click()
    form.get_by_label("Nome do serviço").fill(name)
    for label, value in access.items():
        field = form.get_by_label(
            {"code": "Código do serviço", "login": "Login (PPPoE/IPoE)", "password": "Senha do login"}[label]
        )
        field.fill(value)
    return form


def test_an_operator_adds_suspends_resumes_and_cancels_a_service(server, page):
    server.api("POST", "/api/v1/plans", json={"name": "Fibra 500", "download_kbps": 500_000, "upload_kbps": 250_000})
    customer_id = new_customer(server, "Helena Serviços", "SRV-1")
    sign_in(page, server, "maria")
    page.goto(f"{server.base}/clientes/{customer_id}")

    form = add_service(page, "Fibra 500 Mega", code="CT-500", login="helena.servicos", password="s3nha-forte")
    form.get_by_label("Plano").select_option(label="Fibra 500 (500 Mbps / 250 Mbps)")
    shot(page, "servicos-1-adicionar")
    form.get_by_role("button", name="Adicionar serviço").click()
    expect(page.get_by_text("Serviço adicionado.")).to_be_visible()
    row = page.locator("#servicos tbody tr").filter(has_text="Fibra 500 Mega")
    expect(row).to_contain_text("helena.servicos")
    expect(row.locator(".badge")).to_have_text("Ativo")
    assert "s3nha-forte" not in page.content()
    assert services(server, customer_id) == [("Fibra 500 Mega", "active", "helena.servicos")]

    row.get_by_text("Suspender", exact=True).click()
    row.get_by_label("Observação (por que suspender)").fill("Cliente pediu pausa; volta em março.")
    shot(page, "servicos-2-suspender")
    row.get_by_role("button", name="Suspender Fibra 500 Mega").click()
    expect(page.get_by_text("Serviço suspenso.")).to_be_visible()
    expect(row.locator(".badge")).to_have_text("Suspenso")
    expect(row).to_contain_text("Cliente pediu pausa; volta em março.")

    row.get_by_role("button", name="Reativar Fibra 500 Mega").click()
    expect(page.get_by_text("Serviço reativado.")).to_be_visible()
    expect(row.locator(".badge")).to_have_text("Ativo")

    row.get_by_text("Cancelar", exact=True).click()
    cancel = row.get_by_role("button", name="Cancelar Fibra 500 Mega")
    cancel.click()  # the box not ticked: the browser does not send it
    assert services(server, customer_id)[0][1] == "active"
    row.get_by_label("Confirmo: o cancelamento de Fibra 500 Mega é definitivo").check()
    shot(page, "servicos-3-cancelar")
    cancel.click()
    expect(page.get_by_text("Serviço cancelado.")).to_be_visible()
    expect(page.locator("#servicos-cancelados")).to_contain_text("Fibra 500 Mega")
    assert services(server, customer_id) == [("Fibra 500 Mega", "cancelled", "helena.servicos")]


@pytest.mark.parametrize(
    "typed, message",
    [
        ("Fibra\x00", "caractere de controle que não pode ser gravado (U+0000"),
        ("Fibra \ud800", "caractere inválido (�"),  # the browser sends U+FFFD for a lone surrogate
        ("F" * 300, "Use no máximo 200 caracteres (foram digitados 300)."),
    ],
)
def test_hostile_text_in_the_form_is_refused_in_portuguese_and_saves_nothing(server, page, typed, message):
    customer_id = new_customer(server, f"Teste Hostil {len(typed)}", f"HOS-{len(typed)}")
    sign_in(page, server, "maria")
    page.goto(f"{server.base}/clientes/{customer_id}")
    form = add_service(page, "x")
    name = form.get_by_label("Nome do serviço")
    name.evaluate("input => input.removeAttribute('maxlength')")  # what a script or an old browser sends
    name.fill(typed)
    form.get_by_role("button", name="Adicionar serviço").click()
    expect(page.locator("#servico-name-erro")).to_contain_text(message)
    expect(page.locator("#novo-servico")).to_have_attribute("open", "")
    assert services(server, customer_id) == []


def test_a_viewer_has_no_buttons_and_a_forged_post_is_refused(server, page):
    customer_id = new_customer(server, "Vera Vista", "VIS-1")
    service = server.api("POST", f"/api/v1/customers/{customer_id}/services", json={"name": "Telefone fixo"})
    sign_in(page, server, "vitor")
    page.goto(f"{server.base}/clientes/{customer_id}")
    expect(page.locator("#servicos")).to_contain_text("Telefone fixo")
    expect(page.locator("#novo-servico")).to_have_count(0)
    for name in ("Suspender", "Reativar", "Cancelar"):
        expect(page.locator("#servicos").get_by_text(name)).to_have_count(0)
    token = page.locator("input[name=csrf_token]").first.input_value()
    for path, form in (
        (f"/clientes/{customer_id}/servicos/{service['id']}/cancelar", {"confirmar": "sim"}),
        (f"/clientes/{customer_id}/servicos", {"name": "Forjado"}),
    ):
        response = page.request.post(f"{server.base}{path}", form={"csrf_token": token, **form})
        assert response.status == 403 and "não alterar" in response.text()
    assert services(server, customer_id) == [("Telefone fixo", "active", None)]


def test_exportar_csv_downloads_the_list_with_its_filters(server, page):
    wanted = new_customer(server, 'Exporta; "Aspas"', "=EXP-1")
    sign_in(page, server, "maria")  # an operator (the file carries personal data: not for a viewer)
    page.get_by_label("Buscar").fill("Exporta")
    page.get_by_role("button", name="Buscar").click()
    with page.expect_download() as started:
        page.get_by_role("link", name="Exportar CSV").click()
    download = started.value
    assert download.suggested_filename.startswith("clientes-") and download.suggested_filename.endswith(".csv")
    data = Path(download.path()).read_bytes()
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert [(r[0], r[1], r[3]) for r in rows[1:]] == [(str(wanted), 'Exporta; "Aspas"', "'=EXP-1")]
