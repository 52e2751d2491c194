"""The freeze of automatic cuts in the operator's UI: the card on Inadimplência, its forms and
their refusals in Portuguese, the banner on every signed-in page, the run button while frozen.
In-process over HTTP on both databases, then in a real browser against `ativa serve` on PostgreSQL."""

import os
import re
import shutil
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.conftest import VALID_CPFS, add_invoice, service_missing
from tests.e2e.web_support import PASSWORD, csrf_of, serving, signed_in
from tests.freeze_support import flowing_before, seed_payments
from workflow.application import create_app
from workflow.db.models import Customer, FreezeChange
from workflow.domain import brazilian
from workflow.domain.freeze import PAYMENT_SILENCE
from workflow.settings import Settings
from workflow.usecases import customers, freeze, freeze_views, users
from workflow.usecases.business_day import provider_today

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(os.environ.get("ATIVA_SCREENSHOT_DIR", Path(__file__).parents[2] / "test-artifacts" / "screenshots"))


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def banner(html: str) -> str | None:
    found = re.search(r'<div class="freeze-banner"[^>]*>(.*?)</div>', html, flags=re.DOTALL)
    return _text(found.group(1)) if found else None


def recorded(db) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(FreezeChange))


@pytest.fixture
def web(db):
    with db.write() as session:
        for name, role in (("ana", "admin"), ("vera", "viewer")):
            users.create_user(session, name, role, PASSWORD)
    settings = Settings(database_url=db.url, payment_silence_hours=24, no_cut_weekdays="")
    with TestClient(create_app(settings, db), follow_redirects=False) as client:
        client.db = db
        yield client


def freeze_form(web, **fields):
    page = web.get("/inadimplencia")
    return web.post("/inadimplencia/congelar", data={"csrf_token": csrf_of(page.text), **fields})


def test_an_admin_freezes_from_the_card_and_every_page_shows_the_banner(web):
    signed_in(web, "ana")
    assert banner(web.get("/clientes").text) is None
    last_day = provider_today() + timedelta(days=2)
    done = freeze_form(web, motivo="Banco X sem retorno desde 08h", ate=last_day.isoformat())
    assert (done.status_code, done.headers["location"]) == (303, "/inadimplencia?congelamento=ligado")

    card = web.get(done.headers["location"]).text
    text = _text(card)
    assert "Cortes automáticos congelados." in text
    assert "Congelado. Nenhum corte automático acontece" in text
    assert f"Até {brazilian.day(last_day)} (inclusive)" in text and "Por ana" in text
    assert re.search(r'<tr data-action="on">.*?Ligado.*?Banco X sem retorno', card, flags=re.DOTALL)
    for path in ("/clientes", "/inadimplencia", "/clientes/novo"):
        shown = banner(web.get(path).text)
        assert shown is not None, path
        assert "Cortes automáticos congelados" in shown and "Motivo: Banco X sem retorno desde 08h." in shown
        assert f"até {brazilian.day(last_day)}, por ana." in shown
    assert 'href="/inadimplencia#congelamento"' in web.get("/clientes").text

    lifted = web.post("/inadimplencia/descongelar", data={"csrf_token": csrf_of(card)})
    assert lifted.headers["location"] == "/inadimplencia?congelamento=desligado"
    page = web.get(lifted.headers["location"]).text
    assert banner(page) is None and "Desligar congelamento" not in page
    assert "Congelamento desligado: a próxima execução da inadimplência volta a cortar." in _text(page)
    assert re.findall(r'<tr data-action="(\w+)">', page) == ["off", "on"]
    again = web.post("/inadimplencia/descongelar", data={"csrf_token": csrf_of(page)})
    assert again.headers["location"] == "/inadimplencia?congelamento=nada" and recorded(web.db) == 2


@pytest.mark.parametrize(
    "motivo, ate, message",
    [
        ("", "", "Informe o motivo do congelamento."),
        ("   ", "", "Informe o motivo do congelamento."),
        ("x" * 501, "", "O motivo pode ter até 500 caracteres."),
        ("banco\x00fora", "", "O motivo tem caracteres que não podem ser gravados."),
        ("ok", "31/12/2026", "Data inválida. Use o seletor de data (dd/mm/aaaa)."),
        ("ok", "<yesterday>", "A data final não pode ser antes de hoje"),
        ("ok", "9999-12-31", "Escolha uma data até"),
    ],
)
def test_the_form_refuses_in_portuguese_keeps_what_was_typed_and_records_nothing(web, motivo, ate, message):
    signed_in(web, "ana")
    if ate == "<yesterday>":
        ate = (provider_today() - timedelta(days=1)).isoformat()
    refused = freeze_form(web, motivo=motivo, ate=ate)
    assert refused.status_code == 422
    assert message in _text(refused.text)
    assert 'aria-invalid="true"' in refused.text
    if "\x00" not in motivo:
        assert f'value="{ate}"' in refused.text and f">{motivo}</textarea>" in refused.text
    assert recorded(web.db) == 0 and banner(refused.text) is None


def test_a_viewer_reads_the_state_and_the_banner_but_the_server_refuses_its_posts(web):
    freeze.freeze_cuts(web.db, "auditoria do banco", None, "user:ana", "ui")
    signed_in(web, "vera")
    page = web.get("/inadimplencia")
    assert page.status_code == 200
    assert "Motivo auditoria do banco" in _text(page.text) and "até alguém desligar" in page.text
    assert 'id="congelar"' not in page.text and 'id="descongelar"' not in page.text
    assert "Cortes automáticos congelados" in banner(web.get("/clientes").text)
    token = csrf_of(page.text)  # the viewer's own valid token
    assert web.post("/inadimplencia/congelar", data={"csrf_token": token, "motivo": "x"}).status_code == 403
    assert web.post("/inadimplencia/descongelar", data={"csrf_token": token}).status_code == 403
    assert recorded(web.db) == 1 and freeze_views.current_state(web.db).holds


def test_a_forged_form_is_refused(web):
    signed_in(web, "ana")
    assert web.post("/inadimplencia/congelar", data={"motivo": "x", "csrf_token": "forjado"}).status_code == 403
    assert web.post("/inadimplencia/descongelar", data={}).status_code == 403
    assert recorded(web.db) == 0


def test_the_automatic_freeze_says_what_the_payments_did(web):
    # Tripped as the sweep trips it: payments flowed in the same hours of the weeks before, none
    # in the last two business hours (the rule itself: test_freeze_paths.py).
    rule = Settings(payment_silence_hours=2, payment_silence_min_events=1)
    now = freeze.utcnow()
    seed_payments(web.db, flowing_before(now.astimezone(ZoneInfo(rule.timezone)), 3, freeze.business_hours(rule)))
    assert freeze.trip_on_payment_silence(web.db, rule, now) is not None
    signed_in(web, "ana")
    shown = banner(web.get("/clientes").text)
    # The page's settings say how many hours (the fixture's 24).
    assert "nenhum pagamento recebido há 24 horas úteis" in shown and "por Agendador automático" in shown
    assert PAYMENT_SILENCE not in shown
    assert "Disparado por silêncio de pagamentos" in _text(web.get("/inadimplencia").text)


def test_the_preview_and_the_run_button_say_frozen_and_cut_nobody(web):
    with web.db.write() as session:
        cid = customers.create_customer(session, customers.CustomerDraft("Maria Devedora", VALID_CPFS[0])).id
    add_invoice(web.db, cid, days_overdue=40, amount="150.00")
    freeze.freeze_cuts(web.db, "banco fora do ar", None, "user:ana", "ui")
    signed_in(web, "ana")
    page = web.get("/inadimplencia")
    text = _text(page.text)
    assert "Maria Devedora" in text  # who would be cut without the freeze...
    assert "enquanto o congelamento valer, ninguém desta lista é cortado automaticamente" in text
    assert "ninguém avança na régua enquanto valer" in text
    run = web.post("/inadimplencia/executar", data={"csrf_token": csrf_of(page.text)})
    assert run.headers["location"] == "/inadimplencia?congelamento=barrado"
    assert "Execução não iniciada: os cortes automáticos estão congelados" in _text(
        web.get(run.headers["location"]).text
    )
    with web.db.read() as session:
        assert session.get(Customer, cid).status == "active"


def test_pages_without_the_layout_read_no_freeze(web):
    freeze.freeze_cuts(web.db, "banco fora do ar", None, "user:ana", "ui")
    assert banner(web.get("/entrar").text) is None  # nobody signed in: nothing said
    with web.db.write() as session:
        cid = customers.create_customer(session, customers.CustomerDraft("Carla", VALID_CPFS[2])).id
    signed_in(web, "ana")
    poll = web.get(f"/clientes/{cid}/atividade", headers={"HX-Request": "true"})
    assert poll.status_code == 200 and "<html" not in poll.text and banner(poll.text) is None


# -- in a real browser ------------------------------------------------------------------------------


@pytest.fixture
def served(pg_db, tmp_path):
    if not Path(CHROMIUM).exists():
        service_missing("Debian's chromium", FileNotFoundError(CHROMIUM))
    with pg_db.write() as session:
        users.create_user(session, "vera", "viewer", PASSWORD)
    with serving(pg_db.url, tmp_path, "ana", "admin", PASSWORD) as base:
        yield base


@pytest.mark.postgres
def test_in_the_browser_an_admin_freezes_sees_the_banner_everywhere_and_lifts_it(pg_db, served):
    playwright_api = pytest.importorskip("playwright.sync_api")
    expect = playwright_api.expect
    with pg_db.write() as session:
        customers.create_customer(session, customers.CustomerDraft("Carla Cliente", VALID_CPFS[0]))
    last_day = provider_today() + timedelta(days=1)

    def sign_in(page, username):
        page.goto(f"{served}/entrar")
        page.get_by_label("Usuário").fill(username)
        page.get_by_label("Senha").fill(PASSWORD)
        page.get_by_role("button", name="Entrar").click()
        expect(page.get_by_role("heading", name="Clientes")).to_be_visible(timeout=15_000)

    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            admin = browser.new_context(locale="pt-BR").new_page()
            sign_in(admin, "ana")
            expect(admin.locator("#banner-congelamento")).to_have_count(0)
            menu = admin.get_by_role("navigation", name="Menu principal")
            menu.get_by_text("Sistema", exact=True).click()
            menu.get_by_role("link", name="Inadimplência").click()
            card = admin.locator("#congelamento")
            expect(card.get_by_role("heading", name="Congelamento de cortes automáticos")).to_be_visible()
            card.get_by_role("button", name="Congelar cortes automáticos").click()  # no reason yet
            expect(card.get_by_role("alert")).to_have_text("Informe o motivo do congelamento.")
            card.get_by_label("Motivo (obrigatório)").fill("Banco X não envia pagamentos desde ontem")
            card.get_by_label("Até (opcional, último dia congelado)").fill(last_day.isoformat())
            card.get_by_role("button", name="Congelar cortes automáticos").click()
            expect(admin.locator("#congelamento-aviso")).to_have_text("Cortes automáticos congelados.")
            expect(admin.locator("#congelamento-motivo")).to_have_text("Banco X não envia pagamentos desde ontem")
            expect(admin.locator("#congelamento-historico tbody tr")).to_have_count(1)
            expect(admin.locator("#congelamento-historico tbody tr").first).to_contain_text("Ligado")
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            card.screenshot(path=str(SCREENSHOTS / "18-congelamento-inadimplencia.png"))

            admin.goto(f"{served}/clientes")
            banner_box = admin.locator("#banner-congelamento")
            expect(banner_box).to_contain_text("Cortes automáticos congelados")
            expect(banner_box).to_contain_text("Motivo: Banco X não envia pagamentos desde ontem.")
            expect(banner_box).to_contain_text(f"até {brazilian.day(last_day)}, por ana")
            admin.screenshot(path=str(SCREENSHOTS / "17-cortes-congelados.png"), full_page=True)

            viewer = browser.new_context(locale="pt-BR").new_page()
            sign_in(viewer, "vera")
            expect(viewer.locator("#banner-congelamento")).to_contain_text("Cortes automáticos congelados")
            viewer.locator("#banner-congelamento").get_by_role("link").click()
            expect(viewer.locator("#congelamento-estado")).to_contain_text("Congelado.")
            expect(viewer.locator("#congelar")).to_have_count(0)
            expect(viewer.locator("#descongelar")).to_have_count(0)

            banner_box.get_by_role("link").click()
            admin.get_by_role("button", name="Desligar congelamento").click()
            expect(admin.locator("#congelamento-aviso")).to_contain_text("Congelamento desligado")
            expect(admin.locator("#banner-congelamento")).to_have_count(0)
            expect(admin.locator("#congelamento-historico tbody tr").first).to_contain_text("Desligado")
            admin.goto(f"{served}/clientes")
            expect(admin.locator("#banner-congelamento")).to_have_count(0)
        finally:
            browser.close()
    assert not freeze_views.current_state(pg_db).frozen
