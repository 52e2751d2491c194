"""Ações em lote in a real browser (Debian's chromium, headless) against `ativa serve` as a real
process, whose worker runs the job's batches: a CSV upload read, previewed with its refusal,
confirmed and watched to 100 %; the undo of a day's cuts; a CSV naming an unknown CPF; the page
closed to operators and viewers. Screenshots go to test-artifacts/screenshots (the guide uses
them, copied to docs/img)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import REQUIRE_SERVICES, add_invoice, cpf
from tests.e2e.web_support import PASSWORD
from tests.support import ATIVA, free_port, start_serve, stop_serve, wait_healthy
from workflow.db.engine import Database
from workflow.db.models import BulkJob
from workflow.domain.customer_machine import TransitionRequest
from workflow.domain.vocabulary import CustomerEvent, Role, Source
from workflow.usecases import customers, transitions
from workflow.usecases.business_day import provider_today
from workflow.usecases.delinquency import SCHEDULER

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
# The machine is shared with workers and benchmarks: generous waits, never fixed sleeps.
expect.set_options(timeout=30_000)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(os.environ.get("ATIVA_SCREENSHOT_DIR", Path(__file__).parents[2] / "test-artifacts" / "screenshots"))
PERSON = transitions.Actor("user:ana", Role.ADMIN)

if REQUIRE_SERVICES and not Path(CHROMIUM).exists():
    raise RuntimeError(
        f"ATIVA_REQUIRE_SERVICES=1 but there is no browser at {CHROMIUM} (.ci/run installs Debian's chromium)"
    )
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")


class Served:
    """`ativa serve` (with its worker) in a folder of its own; the test seeds its database."""

    def __init__(self, folder: Path):
        self.folder, self.port = folder, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = folder / "serve.log"
        self.next_customer = 0

    def start(self) -> "Served":
        self.process = start_serve(self.folder, self.port, self.log)
        wait_healthy(self.base, self.process, self.log)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATIVA_")}
        for username, role in (("ana", "admin"), ("maria", "operator"), ("vitor", "viewer")):
            created = subprocess.run(
                [str(ATIVA), "users", "create", "--username", username, "--role", role, "--password-stdin"],
                cwd=self.folder,
                env=env,
                input=PASSWORD + "\n",
                text=True,
                capture_output=True,
                timeout=60,
            )
            assert created.returncode == 0, created.stderr
        self.db = Database(f"sqlite:///{self.folder / 'var' / 'ativa.db'}")
        return self

    def customer(self, name: str, ref: str) -> tuple[int, str]:
        self.next_customer += 1
        document = cpf(1000 + self.next_customer)
        with self.db.write() as session:
            draft = customers.CustomerDraft(name=name, document=document, external_ref=ref)
            return customers.create_customer(session, draft).id, document

    def inactivate(self, customer_id: int, reason: str, *, by_the_sweep: bool = False) -> None:
        actor, source = (SCHEDULER, Source.SCHEDULER) if by_the_sweep else (PERSON, Source.API)
        with self.db.write() as session:
            request = TransitionRequest(reason, "preparação do teste", actor_role=Role.ADMIN)
            transitions.transition_customer(session, customer_id, CustomerEvent.INACTIVATE, request, actor, source)

    def status(self, customer_id: int) -> str:
        with self.db.read() as session:
            return customers.get_customer(session, customer_id).status

    def jobs(self) -> int:
        with self.db.read() as session:
            return session.scalar(select(func.count()).select_from(BulkJob))


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    running = Served(tmp_path_factory.mktemp("lotes")).start()
    yield running
    running.db.dispose()
    stop_serve(running.process)


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page, served, username):
    page.goto(f"{served.base}/entrar")
    page.get_by_label("Usuário").fill(username)
    page.get_by_label("Senha").fill(PASSWORD)
    page.get_by_role("button", name="Entrar").click()
    expect(page.get_by_role("heading", name="Clientes")).to_be_visible()


def open_bulk_jobs_from_the_menu(page):
    """Sistema > Ações em lote > Nova ação em lote."""
    menu = page.get_by_role("navigation", name="Menu principal")
    menu.get_by_text("Sistema", exact=True).click()
    menu.get_by_role("link", name="Ações em lote").click()
    expect(page.get_by_role("heading", name="Ações em lote")).to_be_visible()
    page.get_by_role("link", name="Nova ação em lote").click()
    expect(page.get_by_role("heading", name="Nova ação em lote")).to_be_visible()


def confirm_and_watch(page, total: int) -> int:
    """Confirmar e executar, then the bar (polled every 2 s) up to 100 %; the job's number."""
    job_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    page.get_by_role("button", name="Confirmar e executar").click()
    expect(page.locator("#progresso-texto")).to_contain_text(f"100 % concluído: {total} de {total} cliente(s)")
    expect(page.locator("#situacao-lote")).to_have_text("Concluído")
    expect(page.locator("#andamento")).not_to_have_attribute("hx-trigger", "every 2s")  # polling stopped
    expect(page.get_by_role("button", name="Cancelar")).to_have_count(0)
    expect(page.get_by_role("button", name="Confirmar e executar")).to_have_count(0)
    return job_id


def test_an_admin_uploads_a_spreadsheet_reads_the_preview_and_watches_the_job_run(served, page, tmp_path):
    away, away_cpf = served.customer("Rosa Viagem", "LOTE-1")
    owes, owes_cpf = served.customer("Caio Devedor", "LOTE-2")
    closed, closed_cpf = served.customer("Dora Obra", "LOTE-3")
    served.inactivate(away, "customer_request")
    add_invoice(served.db, owes, days_overdue=40, amount="129.90")
    served.inactivate(owes, "delinquency")
    served.inactivate(closed, "other")
    spreadsheet = tmp_path / "reativar.csv"  # as Excel exports on a Brazilian Windows: Latin-1, `;`
    spreadsheet.write_bytes(
        f"CPF;Nome\r\n{away_cpf};Rosa Viagem\r\n{owes_cpf};Caio Devedor\r\n{closed_cpf};Dora Obra\r\n".encode("cp1252")
    )

    sign_in(page, served, "ana")
    open_bulk_jobs_from_the_menu(page)
    page.get_by_label("Ação", exact=True).select_option(label="Ativar")
    page.get_by_label("Motivo", exact=True).select_option(label="Liberação manual")
    page.locator("#observacao").fill("obra na rede concluída")
    page.get_by_label("Por arquivo CSV").check()
    page.get_by_label("A primeira coluna traz").select_option(label="CPF/CNPJ")
    page.get_by_label("Arquivo", exact=True).set_input_files(str(spreadsheet))
    page.get_by_role("button", name="Ver prévia", exact=True).click()

    expect(page.locator("#situacao-lote")).to_have_text("Prévia")
    counts = page.locator("#contagem-previa")
    expect(counts).to_contain_text("Seriam alterados: 2")
    expect(counts).to_contain_text("Recusados: 1")
    refused = page.locator(f"#itens tr[data-customer-id='{owes}']")
    expect(refused).to_contain_text("Recusado: O cliente ainda tem faturas vencidas em aberto.")
    expect(page.locator(f"#itens tr[data-customer-id='{away}']")).to_contain_text("Seria ativado")
    assert served.status(away) == "inactive"  # a preview changes nobody
    shot(page, "16-acoes-em-lote-previa")

    job_id = confirm_and_watch(page, 3)
    expect(page.locator("#contagem")).to_contain_text("Alterados: 2")
    expect(refused).to_contain_text("Recusado: O cliente ainda tem faturas vencidas em aberto.")
    expect(page.locator(f"#itens tr[data-customer-id='{closed}']")).to_contain_text("Ativado")
    shot(page, "17-acoes-em-lote-concluido")
    assert (served.status(away), served.status(owes), served.status(closed)) == ("active", "inactive", "active")

    page.get_by_role("link", name="Dora Obra").click()
    latest = page.locator("#historico tbody tr").first
    expect(latest).to_contain_text(f"Lote nº {job_id}")
    expect(latest).to_contain_text("Liberação manual")
    expect(latest).to_contain_text("obra na rede concluída")


def test_the_undo_preset_reactivates_the_sweeps_cuts_of_a_day(served, page):
    cut = [served.customer(name, ref)[0] for name, ref in (("Ivo Banco", "UNDO-1"), ("Lia Banco", "UNDO-2"))]
    for customer_id in cut:
        add_invoice(served.db, customer_id, days_overdue=30)
        served.inactivate(customer_id, "delinquency", by_the_sweep=True)

    jobs_before = served.jobs()
    sign_in(page, served, "ana")
    open_bulk_jobs_from_the_menu(page)
    undo = page.locator("#desfazer-cortes")
    undo.get_by_role("button", name="Ver prévia da reativação").click()  # without date and note
    expect(page.get_by_text("Informe o dia dos cortes a desfazer.")).to_be_visible()
    expect(page.get_by_text("Escreva uma observação: ela fica no histórico")).to_be_visible()
    assert served.jobs() == jobs_before

    undo = page.locator("#desfazer-cortes")
    undo.get_by_label("Dia dos cortes").fill(provider_today().isoformat())
    undo.get_by_label("Observação (obrigatória)").fill("o banco não enviou os pagamentos de ontem")
    undo.get_by_role("button", name="Ver prévia da reativação").click()
    expect(page.locator("#contagem-previa")).to_contain_text("Seriam alterados: 2")
    expect(page.get_by_text(f"Desfazer os cortes de {provider_today().strftime('%d/%m/%Y')}")).to_be_visible()
    confirm_and_watch(page, 2)
    assert [served.status(customer_id) for customer_id in cut] == ["active", "active"]


def test_a_csv_with_an_unknown_cpf_names_its_line_and_creates_nothing(served, page, tmp_path):
    _, known_cpf = served.customer("Nair Conhecida", "KNOWN-1")
    unknown = cpf(999)
    listing = tmp_path / "lista.csv"
    listing.write_text(f"cpf,nome\n{known_cpf},Nair\n\n{unknown},Ninguém\n", encoding="utf-8")
    jobs_before = served.jobs()

    sign_in(page, served, "ana")
    open_bulk_jobs_from_the_menu(page)
    page.get_by_label("Ação", exact=True).select_option(label="Inativar")
    page.get_by_label("Motivo", exact=True).select_option(label="Encerramento de contrato")
    page.get_by_label("Por arquivo CSV").check()
    page.get_by_label("A primeira coluna traz").select_option(label="CPF/CNPJ")
    page.get_by_label("Arquivo", exact=True).set_input_files(str(listing))
    page.get_by_role("button", name="Ver prévia", exact=True).click()

    expect(page.get_by_text("Nada foi criado: 1 linha(s) do arquivo não servem.")).to_be_visible()
    rows = page.locator("#linhas-recusadas tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_text(f"4{unknown}Nenhum cliente tem este CPF/CNPJ.")
    expect(page.get_by_label("Motivo", exact=True)).to_have_value("contract_termination")  # what was chosen is kept
    shot(page, "18-acoes-em-lote-linhas-recusadas")
    assert served.jobs() == jobs_before


@pytest.mark.parametrize("username", ["maria", "vitor"])
def test_operators_and_viewers_get_no_entry_and_a_refusal(served, page, username):
    sign_in(page, served, username)
    menu = page.get_by_role("navigation", name="Menu principal")
    menu.get_by_text("Sistema", exact=True).click()
    expect(menu.get_by_text("Cadastros", exact=True)).to_be_visible()
    expect(menu.get_by_role("link", name="Ações em lote")).to_have_count(0)
    for path in ("/lotes", "/lotes/novo", "/lotes/1"):
        response = page.goto(f"{served.base}{path}")
        assert response.status == 403, path
        expect(page.get_by_role("heading", name="Acesso negado")).to_be_visible()
    page.goto(f"{served.base}/clientes")
    token = page.locator("input[name=csrf_token]").first.input_value()
    jobs_before = served.jobs()
    forged = page.request.post(
        f"{served.base}/lotes/novo",
        multipart={"csrf_token": token, "modo": "filtro", "acao": "inativar", "motivo": "other", "situacao": "active"},
    )
    assert forged.status == 403 and "Esta página é só para administradores." in forged.text()
    assert page.request.post(f"{served.base}/lotes/1/executar", form={"csrf_token": token}).status == 403
    assert served.jobs() == jobs_before


def test_the_new_job_form_fits_a_phone(served, browser):
    context = browser.new_context(locale="pt-BR", viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    try:
        sign_in(page, served, "ana")
        for path in ("/lotes/novo", "/lotes"):
            page.goto(f"{served.base}{path}")
            # Nothing wider than the screen but the tables, which scroll inside their own box.
            assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0, path
    finally:
        context.close()
