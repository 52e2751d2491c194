"""The customer page shows each service's access to the network, in Portuguese: login, plan and
its rates, the FreeRADIUS group (and a divergence), the open sessions with the router and IP, the
last CoA/Disconnect; on SQLite (RADIUS off) login and plan only. Never the password. In-process
over HTTP on both databases, then in a real browser against `ativa serve` and a real FreeRADIUS."""

import os
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from tests.conftest import service_missing
from tests.e2e.web_support import PASSWORD as USER_PASSWORD
from tests.e2e.web_support import serving, signed_in
from tests.freeradius_support import send_accounting
from tests.radius_view_support import (
    FRAMED_IP,
    LOGIN,
    PASSWORD,
    ROUTER_ADDRESS,
    ROUTER_NAME,
    open_session,
    record_packet,
    seed_customer_with_login,
)
from workflow.application import create_app
from workflow.db.radius_tables import radusergroup
from workflow.settings import Settings
from workflow.usecases import customer_services, customers, users

NOON_IN_SAO_PAULO = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.fixture
def web(db):
    with db.write() as session:
        users.create_user(session, "otto", "operator", USER_PASSWORD)
    with TestClient(create_app(Settings(database_url=db.url), db), follow_redirects=False) as client:
        yield signed_in(client, "otto")


def test_the_page_shows_login_plan_group_sessions_and_last_packet(db, web):
    seeded = seed_customer_with_login(db)
    if db.is_sqlite:  # RADIUS off: login and plan, nothing from FreeRADIUS
        page = web.get(f"/clientes/{seeded.customer_id}")
        assert page.status_code == 200
        text = _text(page.text)
        assert f"Login {LOGIN}" in text and "Plano Fibra 50 (50 Mbps / 10 Mbps)" in text
        assert "Grupo RADIUS" not in text and "Sessões abertas" not in text
        assert PASSWORD not in page.text
        return
    open_session(db, LOGIN, "sessao-1", NOON_IN_SAO_PAULO)
    record_packet(db, seeded, "disconnect", "ack", NOON_IN_SAO_PAULO)
    page = web.get(f"/clientes/{seeded.customer_id}")
    assert page.status_code == 200
    text = _text(page.text)
    assert f"Login {LOGIN}" in text and "Plano Fibra 50 (50 Mbps / 10 Mbps)" in text
    assert f"Grupo RADIUS ativa_plano_{seeded.plan_id} Velocidade do plano" in text
    assert "divergente" not in text
    assert f"Sessões abertas roteador {ROUTER_NAME} ({ROUTER_ADDRESS}), IP {FRAMED_IP}, desde 30/11/2026 12:00" in text
    assert f"Desconexão confirmada pelo roteador {ROUTER_ADDRESS} em 30/11/2026 12:00" in text
    assert PASSWORD not in page.text

    # A stray second group row: the page warns; the poll of the activity part shows it too.
    with db.write_core() as conn:
        conn.execute(insert(radusergroup).values(username=LOGIN, groupname="ativa_bloqueado", priority=2))
    record_packet(db, seeded, "disconnect", "timeout", NOON_IN_SAO_PAULO)
    text = _text(web.get(f"/clientes/{seeded.customer_id}/atividade").text)
    assert "divergente — o reconciliador corrige" in text
    assert f"Roteador não respondeu ({ROUTER_ADDRESS}, desconexão em 30/11/2026 12:00)" in text


def test_a_service_without_login_or_plan_shows_no_network_column(db, web):
    seeded = seed_customer_with_login(db)
    with db.write() as session:
        other = customers.create_customer(session, customers.CustomerDraft("Sem Login", "11144477735")).id
        customer_services.add_service(session, other, "Telefone fixo")
    page = web.get(f"/clientes/{other}")
    assert page.status_code == 200 and "Acesso à rede" not in page.text and "Telefone fixo" in page.text
    assert "Acesso à rede" in web.get(f"/clientes/{seeded.customer_id}").text


# -- a real browser against `ativa serve` on PostgreSQL, with a session FreeRADIUS opened ----------

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(os.environ.get("ATIVA_SCREENSHOT_DIR", Path(__file__).parents[2] / "test-artifacts" / "screenshots"))


@pytest.fixture
def served(pg_db, tmp_path):
    if not Path(CHROMIUM).exists():
        service_missing("Debian's chromium", FileNotFoundError(CHROMIUM))
    with serving(pg_db.url, tmp_path, "maria", "operator", USER_PASSWORD) as base:
        yield base


@pytest.mark.postgres
def test_in_the_browser_the_customer_page_shows_the_open_session(pg_db, freeradius, served):
    playwright_api = pytest.importorskip("playwright.sync_api")
    expect = playwright_api.expect
    seeded = seed_customer_with_login(pg_db)
    send_accounting(freeradius, "Start", login=LOGIN, session_id="81b00001", framed_ip=FRAMED_IP, nas_ip=ROUTER_ADDRESS)
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_context(locale="pt-BR").new_page()
            page.goto(f"{served}/entrar")
            page.get_by_label("Usuário").fill("maria")
            page.get_by_label("Senha").fill(USER_PASSWORD)
            page.get_by_role("button", name="Entrar").click()
            expect(page.get_by_role("heading", name="Clientes")).to_be_visible(timeout=15_000)
            page.goto(f"{served}/clientes/{seeded.customer_id}")
            row = page.locator(f'#servicos tr[data-service-id="{seeded.service_id}"]')
            expect(row.get_by_role("columnheader")).to_have_count(0)
            expect(page.get_by_role("columnheader", name="Acesso à rede")).to_be_visible()
            expect(row.locator("dd.login")).to_have_text(LOGIN)
            expect(row.locator("dd.plano")).to_have_text("Fibra 50 (50 Mbps / 10 Mbps)")
            expect(row.locator("dd.grupo")).to_contain_text(f"ativa_plano_{seeded.plan_id}")
            expect(row.locator("dd.grupo")).not_to_contain_text("divergente")
            session = row.locator("dd.sessoes li")
            expect(session).to_have_count(1)
            expect(session).to_contain_text(f"roteador {ROUTER_NAME} ({ROUTER_ADDRESS}), IP {FRAMED_IP}, desde ")
            assert re.search(r"desde \d{2}/\d{2}/\d{4} \d{2}:\d{2}$", session.inner_text().strip())
            assert PASSWORD not in page.content()
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "14-acesso-a-rede.png"), full_page=True)
        finally:
            browser.close()
