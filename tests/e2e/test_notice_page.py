"""The public notice page /aviso over HTTP, on PostgreSQL with the radacct rows FreeRADIUS would
have written: the visitor is whoever holds the session's Framed-IP-Address (or, behind a trusted
proxy, the address its header names), sees only their first name and what is overdue, and
"Continuar navegando" acknowledges the notice for that address's customer alone. Then a real
browser against `ativa serve` clicks the button."""

import os
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from tests.conftest import VALID_CPFS, add_invoice, service_missing
from tests.radius_view_support import FRAMED_IP, LOGIN, PASSWORD, open_session, seed_customer_with_login
from tests.support import free_port, start_serve, stop_serve, wait_healthy
from workflow.application import create_app
from workflow.db.engine import Database
from workflow.db.models import Customer, OutboxEffect, Service, StatusChange
from workflow.db.radius_tables import radacct, radusergroup
from workflow.db.types import utcnow
from workflow.domain.vocabulary import Effect, InvoiceStatus, Source
from workflow.settings import Settings
from workflow.usecases import customer_services, customers, delinquency, ladder
from workflow.usecases.business_day import provider_today
from workflow.usecases.radius import enforcement

OTHER_IP = "100.64.0.77"
PROXY = "10.9.0.5"
NEUTRAL = "Nenhum aviso para esta conexão"
CPF = VALID_CPFS[0]
CPF_MASKED = "529.982.247-25"


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def ladder_settings(db, **extra) -> Settings:
    return Settings(database_url=db.url, notice_after_days=3, reduce_after_days=10, grace_days=20, **extra)


def at_notice(db, framed_ip: str = FRAMED_IP):
    """João da Silva, login joao, two invoices past due (and one not yet due, one paid), moved to
    the notice stage by the ladder's own job, with an open session at `framed_ip`; beside him
    Maria Oliveira, another customer at the notice stage with her own session and debts."""
    seeded = seed_customer_with_login(db)
    with db.write() as session:
        session.execute(
            update(Customer)
            .where(Customer.id == seeded.customer_id)
            .values(email="joao@exemplo.com.br", phone="(11) 98888-7777")
        )
        maria = customers.create_customer(
            session, customers.CustomerDraft("Maria Oliveira", VALID_CPFS[1], email="maria@exemplo.com.br")
        ).id
        customer_services.add_service(
            session, maria, "Fibra", access=customer_services.Access("maria", PASSWORD, seeded.plan_id)
        )
    add_invoice(db, seeded.customer_id, days_overdue=7, amount="1234.56")
    add_invoice(db, seeded.customer_id, days_overdue=5, amount="99.90")
    add_invoice(db, seeded.customer_id, days_overdue=-3, amount="555.55")  # not due yet
    add_invoice(db, seeded.customer_id, days_overdue=9, amount="777.77", status=InvoiceStatus.PAID)
    add_invoice(db, maria, days_overdue=6, amount="4321.00")
    today = provider_today()
    settings = ladder_settings(db)
    run = ladder.advance_ladder(db, delinquency.policy_from(settings), today, settings)
    assert run.advanced == {seeded.customer_id: "notice", maria: "notice"}, run
    since = utcnow() - timedelta(minutes=30)
    open_session(db, LOGIN, "sessao-joao", since, framed_ip=framed_ip)
    open_session(db, "maria", "sessao-maria", since, framed_ip=OTHER_IP)
    return seeded, maria, today


@pytest.fixture
def app_for(pg_db):
    clients = []

    def make(address: str = FRAMED_IP, **extra) -> TestClient:
        app = create_app(ladder_settings(pg_db, **extra), pg_db)
        client = TestClient(app, client=(address, 50000), raise_server_exceptions=False, follow_redirects=False)
        clients.append(client.__enter__())
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def groups(db, login: str) -> list[str]:
    with db.read() as session:
        return list(session.scalars(select(radusergroup.c.groupname).where(radusergroup.c.username == login)))


def test_the_visitor_at_the_notice_stage_sees_first_name_what_is_overdue_and_the_button(pg_db, app_for):
    _seeded, _maria, today = at_notice(pg_db)
    client = app_for(
        notice_payment_text="Pague pelo PIX: chave 12.345.678/0001-90 <b>CNPJ</b>\nOu no app do provedor.",
        notice_payment_url="https://pagar.exemplo.com.br/fatura?a=1&b=2",
    )
    page = client.get("/aviso")
    assert page.status_code == 200, page.text
    text = _text(page.text)
    assert "Olá, João ." in text
    due_7, due_5 = (today - timedelta(days=7)).strftime("%d/%m/%Y"), (today - timedelta(days=5)).strftime("%d/%m/%Y")
    assert f"{due_7} R$ 1.234,56 {due_5} R$ 99,90 Total R$ 1.334,46" in text
    assert "R$ 555,55" not in text and "R$ 777,77" not in text  # not yet due; paid
    assert re.search(
        r'<form method="post" action="/aviso">\s*<button type="submit" class="primary">'
        r"Continuar navegando</button>",
        page.text,
    )
    # The payment text is escaped plain text; the link is the configured one.
    assert "&lt;b&gt;CNPJ&lt;/b&gt;" in page.text and "<b>CNPJ</b>" not in page.text
    assert 'href="https://pagar.exemplo.com.br/fatura?a=1&amp;b=2"' in page.text
    # Nothing more: no surname, document, e-mail, phone, login, ids, the other customer or the UI.
    for leak in ("Silva", CPF, CPF_MASKED, "joao@exemplo", "98888", LOGIN, "Maria", "4.321,00", "/clientes", "Sair"):
        assert leak not in page.text, leak
    assert "<input" not in page.text and "inv-" not in page.text  # no id in the form, no invoice's
    assert page.headers["cache-control"] == "no-store"
    assert "noindex" in page.headers["x-robots-tag"]
    assert '<meta name="robots" content="noindex, nofollow">' in page.text


def test_an_unknown_address_or_a_customer_at_no_step_gets_the_neutral_page(pg_db, app_for):
    at_notice(pg_db)
    for address in ("100.64.9.9", "testclient", "2001:db8::10", "fe80::1%eth0", "::1", "255.255.255.255"):
        page = app_for(address).get("/aviso")
        assert page.status_code == 200 and NEUTRAL in page.text, address
        assert "Continuar navegando" not in page.text and "R$" not in page.text
    # A session whose stop never arrived, older than the one holding the address now: ignored.
    open_session(pg_db, "maria", "sessao-velha", utcnow() - timedelta(days=3), framed_ip="100.64.5.5")
    open_session(pg_db, LOGIN, "sessao-nova", utcnow(), framed_ip="100.64.5.5")
    assert "Olá, João" in _text(app_for("100.64.5.5").get("/aviso").text)
    # Over IPv6 (a dual-stack customer): the session's IPv6 address or prefixes hold the visitor's.
    with pg_db.write_core() as conn:
        conn.execute(
            radacct.update()
            .where(radacct.c.acctsessionid == "sessao-joao")
            .values(framedipv6prefix="2001:db8:0:10::/64", delegatedipv6prefix="2001:db8:100::/56")
        )
        conn.execute(
            radacct.update().where(radacct.c.acctsessionid == "sessao-maria").values(framedipv6address="2001:db8::77")
        )
    for address, name in (("2001:db8:0:10::5", "João"), ("2001:db8:100:ff::1", "João"), ("2001:db8::77", "Maria")):
        assert f"Olá, {name}" in _text(app_for(address).get("/aviso").text), address
    for address in ("2001:db8:101::1", "2001:db8::78"):
        assert NEUTRAL in app_for(address).get("/aviso").text, address
    # The dual-stack socket's way of writing the IPv4 address is that address.
    assert "Olá, João" in _text(app_for(f"::ffff:{FRAMED_IP}").get("/aviso").text)
    # At the reduced stage: what is owed, no button (only the notice stage has one to press).
    with pg_db.write() as session:
        session.execute(update(Customer).where(Customer.name == "João da Silva").values(delinquency_stage="reduced"))
    page = app_for().get("/aviso")
    assert "R$ 1.334,46" in _text(page.text) and "velocidade desta conexão está reduzida" in page.text
    assert "Continuar navegando" not in page.text
    refused = app_for().post("/aviso")
    assert refused.status_code == 409 and "Nenhum aviso a confirmar" in refused.text
    # Paid up: the payment clears the stage, the page is neutral again.
    with pg_db.write() as session:
        session.execute(Customer.__table__.update().values(delinquency_stage="none"))
    page = app_for().get("/aviso")
    assert NEUTRAL in page.text and "João" not in page.text


def test_other_methods_and_paths_under_aviso_answer_in_the_visitors_words(pg_db, app_for):
    at_notice(pg_db)
    client = app_for()
    head = client.head("/aviso")
    assert head.status_code == 200 and head.text == "" and head.headers["cache-control"] == "no-store"
    for method, path in (("PUT", "/aviso"), ("DELETE", "/aviso"), ("GET", "/aviso/1")):
        response = client.request(method, path)
        assert response.status_code == (404 if path == "/aviso/1" else 405), (method, path)
        assert "Não foi possível atender ao pedido" in response.text and "/clientes" not in response.text
        assert "noindex" in response.headers["x-robots-tag"]
    big = client.post("/aviso", content=b"x" * 70_000, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert big.status_code == 413 and "/clientes" not in big.text


def test_radius_off_on_sqlite_everyone_gets_the_neutral_page(sqlite_db):
    with sqlite_db.write() as session:
        cid = customers.create_customer(session, customers.CustomerDraft("João da Silva", CPF)).id
    add_invoice(sqlite_db, cid, days_overdue=7)
    with TestClient(create_app(ladder_settings(sqlite_db), sqlite_db), client=(FRAMED_IP, 1)) as client:
        page = client.get("/aviso")
        assert page.status_code == 200 and NEUTRAL in page.text
        refused = client.post("/aviso")
        assert refused.status_code == 200 and NEUTRAL in refused.text


def test_a_radius_database_of_its_own_is_where_the_session_is_looked_up(pg_db, app_for, radius_database_url):
    at_notice(pg_db)  # its sessions are in the main database, which FreeRADIUS does not use in this mode
    separate = app_for(radius_database_url=radius_database_url)
    assert NEUTRAL in separate.get("/aviso").text
    radius_db = Database(radius_database_url)
    try:
        open_session(radius_db, LOGIN, "sessao-separada", utcnow(), framed_ip=FRAMED_IP)
    finally:
        radius_db.dispose()
    page = separate.get("/aviso")
    assert page.status_code == 200 and "Olá, João" in _text(page.text) and "R$ 1.334,46" in page.text
    # That database down (here: gone): the page is neutral, never an error.
    missing = radius_database_url.rsplit("/", 1)[0] + "/ativa_radius_nao_existe"
    try:
        down = app_for(radius_database_url=missing).get("/aviso")
        assert down.status_code == 200 and NEUTRAL in down.text
        assert app_for(radius_database_url=missing).post("/aviso").status_code == 200
    finally:
        enforcement._radius_database.cache_clear()


def test_a_trusted_proxy_header_is_believed_and_an_untrusted_one_ignored(pg_db, app_for):
    at_notice(pg_db)
    proxied = {"notice_client_ip_header": "X-Forwarded-For", "notice_trusted_proxies": f"{PROXY}, 10.8.0.0/16"}
    behind = app_for(PROXY, **proxied)
    # The right-most address not of a trusted proxy is the visitor; what is left of it, anyone wrote.
    for chain in (FRAMED_IP, f"203.0.113.9, {FRAMED_IP}", f"{FRAMED_IP}, 10.8.3.4", f"unknown, {FRAMED_IP}"):
        page = behind.get("/aviso", headers={"X-Forwarded-For": chain})
        assert "Olá, João" in _text(page.text), chain
    for chain in (
        f"{FRAMED_IP}, 203.0.113.9",
        "not-an-address",
        f"{FRAMED_IP},,",
        f"[{FRAMED_IP}]",
        "1.2.3.4:80",
        f"{FRAMED_IP}, unknown, 10.8.3.4",
    ):
        page = behind.get("/aviso", headers={"X-Forwarded-For": chain})
        assert page.status_code == 200 and NEUTRAL in page.text, chain
    assert NEUTRAL in behind.get("/aviso").text  # no header: the proxy's own address, which holds no session
    # From an address that is no proxy of ours, the header is ignored: the socket address counts.
    spoofed = app_for("203.0.113.50", **proxied).get("/aviso", headers={"X-Forwarded-For": FRAMED_IP})
    assert spoofed.status_code == 200 and NEUTRAL in spoofed.text
    direct = app_for(FRAMED_IP, **proxied).get("/aviso", headers={"X-Forwarded-For": OTHER_IP})
    assert "Olá, João" in _text(direct.text) and "Maria" not in direct.text
    # A one-address header.
    real_ip = app_for(PROXY, notice_client_ip_header="X-Real-IP", notice_trusted_proxies=PROXY)
    assert "Olá, Maria" in _text(real_ip.get("/aviso", headers={"X-Real-IP": OTHER_IP}).text)
    page = real_ip.get("/aviso", headers={"X-Real-IP": f"{OTHER_IP}, {FRAMED_IP}"})
    assert NEUTRAL in page.text
    # No header setting: nothing in a header counts, even from the proxy.
    unset = app_for(PROXY, notice_trusted_proxies=PROXY).get("/aviso", headers={"X-Forwarded-For": FRAMED_IP})
    assert NEUTRAL in unset.text


def test_a_cancelled_or_suspended_service_gets_the_neutral_page(pg_db, app_for):
    seeded, _maria, _ = at_notice(pg_db)
    for status in ("suspended", "cancelled"):
        with pg_db.write() as session:
            session.execute(update(Service).where(Service.id == seeded.service_id).values(status=status))
        page = app_for().get("/aviso")
        assert page.status_code == 200 and NEUTRAL in page.text and "João" not in page.text, status
        assert NEUTRAL in app_for().post("/aviso").text
    with pg_db.read() as session:
        assert session.scalar(select(Customer.notice_snoozed_until).where(Customer.id == seeded.customer_id)) is None
    with pg_db.write() as session:
        session.execute(update(Service).where(Service.id == seeded.service_id).values(status="active"))
    assert "Olá, João" in _text(app_for().get("/aviso").text)


def test_with_notice_hosts_another_host_gets_421_and_the_post_must_come_from_those_hosts(pg_db, app_for):
    seeded, _maria, _ = at_notice(pg_db)
    client = app_for(notice_hosts="aviso.provedor.com.br, aviso.provedor.com.br:8080")
    ours = {"Host": "aviso.provedor.com.br"}
    # A rebound name (or any Host not listed): the neutral page, 421, for GET and POST alike.
    for host in ("testserver", "evil.example", "aviso.provedor.com.br.evil.example", ""):
        for method in ("GET", "POST"):
            response = client.request(method, "/aviso", headers={"Host": host, "Origin": f"http://{host}"})
            assert response.status_code == 421 and NEUTRAL in response.text, (method, host)
            assert "João" not in response.text and "R$" not in response.text
    page = client.get("/aviso", headers=ours)
    assert page.status_code == 200 and "Olá, João" in _text(page.text)
    assert "Olá, João" in _text(client.get("/aviso", headers={"Host": "AVISO.provedor.com.br:8080"}).text)
    # The POST's Origin/Referer must name one of those hosts, whatever the request's Host says.
    for headers in ({"Origin": "http://evil.example"}, {"Referer": "http://testserver/aviso"}):
        forged = client.post("/aviso", headers={**ours, **headers})
        assert forged.status_code == 403 and "Pedido recusado" in forged.text, headers
    with pg_db.read() as session:
        assert session.scalar(select(Customer.notice_snoozed_until).where(Customer.id == seeded.customer_id)) is None
    done = client.post(
        "/aviso", headers={"Host": "aviso.provedor.com.br", "Origin": "http://aviso.provedor.com.br:8080"}
    )
    assert done.status_code == 200 and "Aviso confirmado" in done.text
    # Unset: any Host, and the Origin compared with the request's own Host (as before).
    assert "Olá, Maria" in _text(app_for(OTHER_IP).get("/aviso", headers={"Host": "qualquer.example"}).text)


def test_hostile_headers_never_break_the_page(pg_db, app_for):
    at_notice(pg_db)
    behind = app_for(PROXY, notice_client_ip_header="X-Forwarded-For", notice_trusted_proxies=PROXY)
    hostile = [
        b"100.64.0.10\x00",
        b"\x00",
        b"100.64.0.10" + "\udc80".encode("utf-8", "surrogatepass"),
        "\ud800".encode("utf-8", "surrogatepass"),
        b"\xff\xfe",
        b"::1%25eth0",
        b"9" * 5000,
        b"," * 3000,
        b"fe80::1%eth0",
        b"2001:db8::1, 100.64.0.10",
    ]
    for value in hostile:
        for method in ("GET", "POST"):
            response = behind.request(method, "/aviso", headers={"X-Forwarded-For": value, "Origin": value})
            assert response.status_code in (200, 403), (value, response.status_code)
            assert "Continuar navegando" not in response.text or value.endswith(b"100.64.0.10")
    direct = app_for()
    for value in (b"\x00", "\ud800".encode("utf-8", "surrogatepass"), b"http://\xff"):
        response = direct.post("/aviso", headers={"Origin": value, "Referer": value})
        assert response.status_code == 403 and "Pedido recusado" in response.text, value
    with pg_db.read() as session:
        assert session.scalar(select(Customer.notice_snoozed_until).where(Customer.name == "João da Silva")) is None


def test_continuar_navegando_acknowledges_the_notice_of_that_address_once(pg_db, app_for):
    seeded, maria, _ = at_notice(pg_db)
    assert groups(pg_db, LOGIN) == [f"ativa_plano_{seeded.plan_id}_aviso"]
    client = app_for()
    # A form posted from another site is refused and changes nothing.
    for headers in ({"Origin": "http://evil.example"}, {"Referer": "http://evil.example/aviso"}, {"Origin": "null"}):
        forged = client.post("/aviso", headers=headers)
        assert forged.status_code == 403 and "Pedido recusado" in forged.text, headers
    with pg_db.read() as session:
        assert session.scalar(select(Customer.notice_snoozed_until).where(Customer.id == seeded.customer_id)) is None

    before = utcnow()
    # An id in the form means nothing: the address decides whose notice it is.
    done = client.post("/aviso", data={"customer_id": str(maria)}, headers={"Origin": "http://testserver"})
    assert done.status_code == 200, done.text
    assert "Sua conexão será reiniciada em instantes" in done.text and "24 hora(s)" in done.text
    assert "noindex" in done.headers["x-robots-tag"] and done.headers["cache-control"] == "no-store"

    with pg_db.read() as session:
        joao = session.get(Customer, seeded.customer_id)
        assert joao.delinquency_stage == "notice"
        assert before + timedelta(hours=24) <= joao.notice_snoozed_until <= utcnow() + timedelta(hours=24)
        assert session.get(Customer, maria).notice_snoozed_until is None
        change = session.scalars(
            select(StatusChange).where(StatusChange.customer_id == seeded.customer_id).order_by(StatusChange.id.desc())
        ).first()
        assert (change.event, change.source, change.from_status, change.to_status) == (
            "acknowledge_notice",
            Source.NOTICE_PAGE.value,
            "active",
            "active",
        )
        assert FRAMED_IP in change.note
        effects = session.scalars(select(OutboxEffect).where(OutboxEffect.transition_id == change.id)).all()
        assert [(e.name, e.service_id) for e in effects] == [(Effect.RADIUS_DISCONNECT.value, seeded.service_id)]
    assert groups(pg_db, LOGIN) == [f"ativa_plano_{seeded.plan_id}"]
    assert groups(pg_db, "maria") == [f"ativa_plano_{seeded.plan_id}_aviso"]

    # The page still shows what is owed, without the button; a second press is refused cleanly.
    page = client.get("/aviso")
    assert "R$ 1.334,46" in _text(page.text) and "Continuar navegando" not in page.text
    assert "Você já confirmou este aviso" in page.text
    again = client.post("/aviso")  # no Origin or Referer (not a browser): nothing to compare
    assert again.status_code == 409 and "Aviso já confirmado" in again.text
    with pg_db.read() as session:
        acknowledgements = session.scalars(
            select(StatusChange.customer_id).where(StatusChange.event == "acknowledge_notice")
        )
        assert list(acknowledgements) == [seeded.customer_id]
    # The neutral answer for an address without a notice, to the POST too.
    assert NEUTRAL in app_for("100.64.9.9").post("/aviso").text


def test_too_many_requests_from_one_address_get_429_with_retry_after(pg_db, app_for):
    at_notice(pg_db)
    client = app_for(notice_rate_per_minute=3)
    assert [client.get("/aviso").status_code for _ in range(2)] == [200, 200]
    assert client.post("/aviso", headers={"Origin": "http://evil.example"}).status_code == 403
    throttled = client.get("/aviso")
    assert throttled.status_code == 429
    assert 1 <= int(throttled.headers["retry-after"]) <= 20
    assert "Muitos acessos desta conexão" in throttled.text and "noindex" in throttled.headers["x-robots-tag"]
    assert client.post("/aviso").status_code == 429
    with pg_db.read() as session:
        assert session.scalar(select(Customer.notice_snoozed_until).where(Customer.name == "João da Silva")) is None
    # Another address has its own allowance (the same app: buckets are per address).
    other = TestClient(client.app, client=(OTHER_IP, 50000))
    assert "Olá, Maria" in _text(other.get("/aviso").text)


# -- a real browser against `ativa serve` on PostgreSQL -----------------------------------------

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(os.environ.get("ATIVA_SCREENSHOT_DIR", Path(__file__).parents[2] / "test-artifacts" / "screenshots"))


@pytest.mark.postgres
def test_in_the_browser_continuar_navegando_acknowledges_the_notice(pg_db, tmp_path):
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        service_missing("Debian's chromium", FileNotFoundError(CHROMIUM))
    seeded, _maria, _ = at_notice(pg_db, framed_ip="127.0.0.1")  # the browser connects from loopback
    port, log = free_port(), tmp_path / "serve.log"
    process = start_serve(
        tmp_path,
        port,
        log,
        "--no-worker",
        env_extra={"ATIVA_DATABASE_URL": pg_db.url, "ATIVA_NOTICE_PAYMENT_TEXT": "PIX: pix@provedor.com.br"},
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process, log)
        with playwright_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
            try:
                page = browser.new_context(locale="pt-BR").new_page()
                page.goto(f"http://127.0.0.1:{port}/aviso")
                expect = playwright_api.expect
                expect(page.get_by_role("heading", name="Aviso de pagamento em aberto")).to_be_visible()
                expect(page.locator(".nome")).to_have_text("João")
                expect(page.locator(".total")).to_have_text("R$ 1.334,46")
                expect(page.locator(".pagamento")).to_have_text("PIX: pix@provedor.com.br")
                expect(page.get_by_role("navigation")).to_have_count(0)
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOTS / "15-aviso.png"), full_page=True)
                page.get_by_role("button", name="Continuar navegando").click()
                expect(page.get_by_role("heading", name="Aviso confirmado")).to_be_visible(timeout=15_000)
                expect(page.locator("main")).to_contain_text("Sua conexão será reiniciada em instantes")
            finally:
                browser.close()
    finally:
        stop_serve(process)
    with pg_db.read() as session:
        assert session.get(Customer, seeded.customer_id).notice_snoozed_until is not None
    assert groups(pg_db, LOGIN) == [f"ativa_plano_{seeded.plan_id}"]


def test_the_settings_refuse_a_payment_link_that_is_not_http_and_a_malformed_proxy():
    for url in ("javascript:alert(1)", "ftp://x.example/a", "https://", "//evil.example", "https://x\x00.example"):
        with pytest.raises(ValueError):
            Settings(notice_payment_url=url)
    assert Settings(notice_payment_url=" https://pagar.example/x ").notice_payment_url == "https://pagar.example/x"
    for proxies in ("10.0.0.1, banana", "10.0.0.0/33", "::1/129"):
        with pytest.raises(ValueError):
            Settings(notice_trusted_proxies=proxies)
    for header in ("X-Forwarded-For\r\nX", "X Real", ""):
        with pytest.raises(ValueError):
            Settings(notice_client_ip_header=header, notice_trusted_proxies=PROXY)
    with pytest.raises(ValueError):
        Settings(notice_payment_text="PIX\x00")
    assert [str(n) for n in Settings(notice_trusted_proxies="10.0.0.1, 10.8.0.0/16,::1").notice_proxies] == [
        "10.0.0.1/32",
        "10.8.0.0/16",
        "::1/128",
    ]
