"""The collection ladder in the operator's UI (issue 13, item 5): the stage as a badge on the list
and the customer page, the list's filter by stage, the history's words for the ladder's events and
the Inadimplência page's lists. In-process over HTTP on both databases, then in a real browser
against `ativa serve` on PostgreSQL."""

import os
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import VALID_CPFS, add_invoice, service_missing
from tests.e2e.web_support import PASSWORD, serving, signed_in
from workflow.application import create_app
from workflow.db.engine import Database
from workflow.settings import Settings
from workflow.usecases import customers, delinquency, ladder, users
from workflow.usecases.business_day import provider_today

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(os.environ.get("ATIVA_SCREENSHOT_DIR", Path(__file__).parents[2] / "test-artifacts" / "screenshots"))
# Notice after 5 days, reduced speed after 10, the cut after 15; every day a cut day.
LADDER_ENV = {"ATIVA_NOTICE_AFTER_DAYS": "5", "ATIVA_REDUCE_AFTER_DAYS": "10", "ATIVA_NO_CUT_WEEKDAYS": ""}


def ladder_settings(db: Database) -> Settings:
    return Settings(database_url=db.url, notice_after_days=5, reduce_after_days=10, no_cut_weekdays="")


def seed(db: Database) -> dict[str, int]:
    """Four customers: at the notice stage, at reduced speed, owing within the notice's days (no
    step) and one the ladder job has not reached yet (due for the notice today)."""
    ids = {}
    for n, (key, name, days) in enumerate(
        (("notice", "Ana Aviso", 7), ("reduced", "Rui Reduzido", 12), ("none", "Nina Em Dia", 2))
    ):
        with db.write() as session:
            ids[key] = customers.create_customer(
                session, customers.CustomerDraft(name=name, document=VALID_CPFS[n], external_ref=f"LAD-{n}")
            ).id
        add_invoice(db, ids[key], days_overdue=days, amount="89.90")
    settings = ladder_settings(db)
    run = ladder.advance_ladder(db, delinquency.policy_from(settings), provider_today(), settings)
    assert run.advanced == {ids["notice"]: "notice", ids["reduced"]: "reduced"}
    with db.write() as session:
        ids["pending"] = customers.create_customer(
            session, customers.CustomerDraft(name="Paulo Pendente", document=VALID_CPFS[3], external_ref="LAD-3")
        ).id
    add_invoice(db, ids["pending"], days_overdue=6, amount="50.00")
    return ids


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.fixture
def web(db):
    with db.write() as session:
        users.create_user(session, "ana", "admin", PASSWORD)
    with TestClient(create_app(ladder_settings(db), db), follow_redirects=False) as client:
        yield signed_in(client, "ana")


def test_the_list_shows_the_stage_badge_and_filters_by_stage(db, web):
    ids = seed(db)
    page = web.get("/clientes")
    assert page.status_code == 200
    badges = {}
    for row in re.findall(r"<tr>(.*?)</tr>", page.text, flags=re.DOTALL):
        stage = re.search(r'data-stage="(\w+)"', row)
        if stage:
            badges[re.search(r'href="/clientes/(\d+)"', row).group(1)] = stage.group(1)
    assert badges == {str(ids["notice"]): "notice", str(ids["reduced"]): "reduced"}
    assert 'data-stage="notice">Aviso</span>' in page.text
    assert 'data-stage="reduced">Velocidade reduzida</span>' in page.text

    def listed(etapa: str) -> list[str]:
        response = web.get("/clientes", params={"etapa": etapa})
        assert response.status_code == 200
        return re.findall(r'<td><a href="/clientes/\d+">([^<]+)</a></td>', response.text)

    assert listed("aviso") == ["Ana Aviso"]
    assert listed("reduzida") == ["Rui Reduzido"]
    assert listed("sem-etapa") == ["Nina Em Dia", "Paulo Pendente"]
    assert listed("cortado") == []
    assert len(listed("<script>")) == 4  # an odd value typed in the address bar: every stage
    assert 'value="aviso" selected' in web.get("/clientes", params={"etapa": "aviso"}).text


def test_the_customer_page_shows_the_stage_the_next_step_and_the_steps_in_the_history(db, web):
    ids = seed(db)
    page = web.get(f"/clientes/{ids['notice']}")
    assert page.status_code == 200
    assert re.search(r'id="etapa-cliente" data-stage="notice">Aviso</span>', page.text)
    text = _text(page.text)
    oldest = provider_today() - timedelta(days=7)
    reduction = (oldest + timedelta(days=11)).strftime("%d/%m/%Y")
    assert "Régua de cobrança: etapa Aviso." in text
    assert f"Próxima etapa da régua: Velocidade reduzida em {reduction}, se nada for pago." in text
    assert "Etapa da régua de cobrança: Ativo Sim → Sim" in text and "Etapa: Aviso" in text

    # Acknowledged on the notice page: the snooze and the page as the history's source.
    ladder.acknowledge_notice(db, ids["notice"], provider_today(), "Continuar navegando")
    text = _text(web.get(f"/clientes/{ids['notice']}").text)
    assert "aviso confirmado pelo cliente: fora da lista de aviso até" in text
    assert "Aviso confirmado pelo cliente: Ativo Sim → Sim" in text and "Página de aviso" in text

    clean = _text(web.get(f"/clientes/{ids['none']}").text)
    assert 'id="etapa-cliente"' not in clean and "Régua de cobrança: etapa" not in clean
    assert "Próxima etapa da régua: Aviso em" in clean


def test_the_delinquency_page_lists_each_stage_with_counts(db, web):
    ids = seed(db)
    page = web.get("/inadimplencia")
    assert page.status_code == 200
    counts = dict(re.findall(r'<li data-list="(\w+)">[^<]*<strong>(\d+)</strong>', page.text))
    assert counts == {
        "to_notice": "1",
        "to_reduced": "0",
        "back_to_plan": "0",
        "at_notice": "1",
        "at_reduced": "1",
        "cuts": "0",
    }

    def rows(table: str) -> list[str]:
        found = re.search(rf'<table class="list" id="{table}">(.*?)</table>', page.text, flags=re.DOTALL)
        return re.findall(r'data-customer-id="(\d+)"', found.group(1)) if found else []

    assert rows("regua-para-aviso") == [str(ids["pending"])]
    assert rows("regua-em-aviso") == [str(ids["notice"])]
    assert rows("regua-em-reduzida") == [str(ids["reduced"])]
    assert rows("regua-para-reduzida") == []  # an empty list is not drawn
    assert "Aviso depois de 5 dia(s) de atraso." in _text(page.text)


# -- in a real browser ------------------------------------------------------------------------------


@pytest.fixture
def served(pg_db, tmp_path):
    if not Path(CHROMIUM).exists():
        service_missing("Debian's chromium", FileNotFoundError(CHROMIUM))
    with serving(pg_db.url, tmp_path, "maria", "operator", PASSWORD, LADDER_ENV) as base:
        yield base


@pytest.mark.postgres
def test_in_the_browser_the_stage_shows_as_a_badge(pg_db, served):
    playwright_api = pytest.importorskip("playwright.sync_api")
    expect = playwright_api.expect
    ids = seed(pg_db)
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_context(locale="pt-BR").new_page()
            page.goto(f"{served}/entrar")
            page.get_by_label("Usuário").fill("maria")
            page.get_by_label("Senha").fill(PASSWORD)
            page.get_by_role("button", name="Entrar").click()
            expect(page.get_by_role("heading", name="Clientes")).to_be_visible(timeout=15_000)

            notice_row = page.get_by_role("row").filter(has_text="Ana Aviso")
            expect(notice_row.locator(".badge.stage-notice")).to_have_text("Aviso")
            reduced_row = page.get_by_role("row").filter(has_text="Rui Reduzido")
            expect(reduced_row.locator(".badge.stage-reduced")).to_have_text("Velocidade reduzida")
            expect(page.get_by_role("row").filter(has_text="Nina Em Dia").locator("[data-stage]")).to_have_count(0)

            page.get_by_label("Régua de cobrança").select_option(label="Velocidade reduzida")
            page.get_by_role("button", name="Buscar").click()
            expect(page.locator("table.list tbody tr")).to_have_count(1)
            expect(page.locator("table.list tbody tr")).to_contain_text("Rui Reduzido")

            page.get_by_role("link", name="Rui Reduzido", exact=True).click()
            expect(page.locator("#situacao-cliente")).to_have_text("Ativo")
            expect(page.locator("#etapa-cliente")).to_have_text("Velocidade reduzida")
            expect(page.locator("#historico tbody tr").first).to_contain_text("Etapa da régua de cobrança")
            assert page.url.endswith(f"/clientes/{ids['reduced']}")
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "15-regua-de-cobranca.png"), full_page=True)
        finally:
            browser.close()
