"""Painel (/painel, issue 14 part 3): the numbers on a seeded world on both databases (cuts per day
by source, reactivations by reason, payment -> restored latency against a hand computation), the
page for each role with its Tentar de novo, the freeze, and a payment's latency through the real
path (billing event, activation, restore effect carried out)."""

import os
import re
import shutil
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update

from tests.conftest import VALID_CPFS, add_invoice, service_missing
from tests.e2e.billing_support import inactivate
from tests.e2e.web_support import csrf_of, serving, signed_in
from workflow.application import create_app
from workflow.db.models import BillingEvent, Invoice, OutboxEffect, StatusChange
from workflow.db.types import utcnow
from workflow.domain.customer_machine import TransitionRequest
from workflow.domain.vocabulary import CustomerEvent, Effect, EffectState, Role, Source
from workflow.settings import Settings
from workflow.usecases import billing, customers, dashboard, effects, freeze, metrics, transitions, users

TIMEZONE = "America/Sao_Paulo"
ZONE = ZoneInfo(TIMEZONE)
PASSWORD = "senha-forte-123"


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def new_customers(db, count: int) -> list[int]:
    ids = []
    for n in range(count):
        with db.write() as session:
            ids.append(customers.create_customer(session, customers.CustomerDraft(f"Cliente {n}", VALID_CPFS[n])).id)
    return ids


class World:
    """Rows written as the services write them, at chosen times: the history's transitions, the
    restore effects they led to and the billing events that caused them."""

    def __init__(self, db, customer_ids: list[int]):
        self.db, self.customer_ids, self.version = db, customer_ids, 1000

    def change(self, at: datetime, event: str, reason: str, source: str, customer: int = 0) -> int:
        self.version += 1
        with self.db.write() as session:
            row = StatusChange(
                customer_id=self.customer_ids[customer],
                customer_version=self.version,
                event=event,
                from_status="active" if event == "inactivate" else "inactive",
                to_status="inactive" if event == "inactivate" else "active",
                reason=reason,
                actor="scheduler" if source == "scheduler" else "user:ana",
                source=source,
                created_at=at,
            )
            session.add(row)
            session.flush()
            return row.id

    def paid_and_restored(self, received: datetime, seconds: float | None, customer: int = 0) -> int:
        """A payment that reactivated the customer; its services restored `seconds` later (None:
        the restore effect has not run yet)."""
        transition = self.change(received, "activate", "payment_received", "billing", customer)
        with self.db.write() as session:
            session.add(
                BillingEvent(
                    webhook_id=f"msg-{transition}",
                    type="invoice.paid",
                    customer_id=self.customer_ids[customer],
                    invoice_external_id=f"inv-{transition}",
                    outcome="invoice paid",
                    received_at=received,
                    transition_id=transition,
                )
            )
            session.add(
                OutboxEffect(
                    transition_id=transition,
                    customer_id=self.customer_ids[customer],
                    name=Effect.RESTORE_SERVICES.value,
                    state=EffectState.PENDING.value if seconds is None else EffectState.DONE.value,
                    created_at=received,
                    next_attempt_at=received,
                    completed_at=None if seconds is None else received + timedelta(seconds=seconds),
                )
            )
        return transition


def local(day_offset: int, hour: int, minute: int = 0, *, now: datetime) -> datetime:
    """A provider-local time `day_offset` days from today's date."""
    today = now.astimezone(ZONE).date()
    return datetime.combine(today + timedelta(days=day_offset), datetime.min.time(), ZONE).replace(
        hour=hour, minute=minute
    )


def test_cuts_and_reactivations_per_provider_day_by_source_and_reason(db):
    world = World(db, new_customers(db, 1))
    now = utcnow()
    # Two days ago: two cuts by the scheduler, one by hand (23:30 there is 02:30 UTC the next day:
    # still the provider's day), one cut for another reason (not a cut), a payment and a manual return.
    world.change(local(-2, 9, now=now), "inactivate", "delinquency", "scheduler")
    world.change(local(-2, 23, 30, now=now), "inactivate", "delinquency", "scheduler")
    world.change(local(-2, 14, now=now), "inactivate", "delinquency", "ui")
    world.change(local(-2, 15, now=now), "inactivate", "customer_request", "ui")
    world.change(local(-2, 16, now=now), "activate", "payment_received", "billing")
    world.change(local(-2, 17, now=now), "activate", "manual", "api")
    # Today just after midnight (the day before in UTC until 03:00): one trust unlock.
    world.change(local(0, 0, 10, now=now), "activate", "trust_unlock", "ui")
    # 29 days ago is the chart's first day; 30 days ago is outside it. Kept-status events never count.
    world.change(local(-29, 12, now=now), "inactivate", "delinquency", "cli")
    world.change(local(-30, 12, now=now), "inactivate", "delinquency", "scheduler")
    world.change(local(-1, 12, now=now), "advance_stage", "delinquency", "scheduler")

    with db.read() as session:
        days = dashboard.cuts_and_reactivations(session, now.astimezone(ZONE).date(), TIMEZONE)
    assert len(days) == 30
    assert days[-1].day == now.astimezone(ZONE).date() and days[0].day == days[-1].day - timedelta(days=29)
    by_day = {d.day: d.counts for d in days if any(d.counts.values())}
    today = now.astimezone(ZONE).date()
    assert by_day == {
        today - timedelta(days=29): {"auto_cut": 0, "manual_cut": 1, "payment": 0, "other": 0},
        today - timedelta(days=2): {"auto_cut": 2, "manual_cut": 1, "payment": 1, "other": 1},
        today: {"auto_cut": 0, "manual_cut": 0, "payment": 0, "other": 1},
    }


def test_payment_to_restored_latency_quantiles_match_a_hand_computation(db):
    world = World(db, new_customers(db, 2))
    now = utcnow()
    # Within the last 24 h: 1..20 seconds (sorted, 20 samples: p50 is the 11th, p90 the 19th, p99 the 20th).
    for n in range(1, 21):
        world.paid_and_restored(now - timedelta(hours=1, minutes=n), float(n), customer=n % 2)
    # Three days ago: three slow ones (the week's figures only), and one whose restore is pending.
    for seconds in (100.0, 200.0, 300.0):
        world.paid_and_restored(now - timedelta(days=3), seconds)
    world.paid_and_restored(now - timedelta(days=3), None)
    # Eight days ago: outside both windows.
    world.paid_and_restored(now - timedelta(days=8), 5000.0)
    # A later event of the same customer that did not reactivate anybody must not be taken for the cause.
    with db.write() as session:
        session.add(
            BillingEvent(
                webhook_id="msg-other",
                type="invoice.paid",
                customer_id=world.customer_ids[0],
                invoice_external_id="inv-other",
                outcome="invoice paid",
                received_at=now - timedelta(minutes=5),
            )
        )

    with db.read() as session:
        board = dashboard.dashboard(session, TIMEZONE, 30, now)
    assert board.restore_last_day.count == 20
    assert board.restore_last_day.quantiles == {0.5: 11.0, 0.9: 19.0, 0.99: 20.0}
    # The week: 1..20 and 100, 200, 300 (23 samples): p50 the 12th, p90 the 21st, p99 the 23rd.
    assert board.restore_last_week.count == 23
    assert board.restore_last_week.quantiles == {0.5: 12.0, 0.9: 100.0, 0.99: 300.0}
    per_day = {item.day: item.latencies.count for item in board.restore_per_day}
    assert len(per_day) == 7 and sum(per_day.values()) == 23


def test_the_payment_restore_query_reads_by_key_not_whole_tables(sqlite_db):
    """Bounded: the transitions of the window by their time index, then the event and the effect
    of each by their transition_id index; never a scan of billing_events or outbox_effects (the
    text match this replaced took seconds over 100k effects)."""
    query = metrics.payment_restores_query(utcnow() - timedelta(days=7), 1000)
    compiled = query.compile(dialect=sqlite_db.engine.dialect, compile_kwargs={"literal_binds": True})
    with sqlite_db.read() as session:
        plan = " | ".join(row[-1] for row in session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
    # No table walked whole, no sort of the window: every step is an index search.
    assert "SCAN" not in plan and "TEMP B-TREE" not in plan, plan
    assert "status_changes USING INDEX ix_status_changes_created_at" in plan, plan
    assert "billing_events USING INDEX ix_billing_events_transition_id" in plan, plan
    assert "outbox_effects USING INDEX ix_outbox_effects_transition_id" in plan, plan


def test_customers_by_status_and_stage(db):
    ids = new_customers(db, 4)
    add_invoice(db, ids[0], days_overdue=30)
    inactivate(db, ids[0], "delinquency")
    inactivate(db, ids[1], "customer_request")
    with db.read() as session:
        counts = dashboard.customer_counts(session)
    assert counts.by_status == {"active": 2, "inactive": 2}
    assert counts.by_stage == {"none": 2, "notice": 0, "reduced": 0, "cut": 1}


# -- the page -----------------------------------------------------------------------------------------


@pytest.fixture
def app_for(db):
    with db.write() as session:
        for name, role in (("ana", "admin"), ("maria", "operator"), ("vitor", "viewer")):
            users.create_user(session, name, role, PASSWORD)
    app = create_app(Settings(database_url=db.url, timezone=TIMEZONE), db)
    clients = []

    def client(username: str):
        opened = TestClient(app, follow_redirects=False)
        clients.append(opened.__enter__())
        return signed_in(opened, username)

    yield client
    for opened in clients:
        opened.__exit__(None, None, None)


def failed_effect(db, n: int = 0) -> tuple[int, int]:
    """A customer inactivated by hand whose billing notification failed for good."""
    with db.write() as session:
        cid = customers.create_customer(session, customers.CustomerDraft(f"Cliente {n}", VALID_CPFS[n])).id
    with db.write() as session:
        outcome = transitions.transition_customer(
            session,
            cid,
            CustomerEvent.INACTIVATE,
            TransitionRequest("customer_request", None, actor_role=Role.ADMIN),
            transitions.Actor("user:ana", Role.ADMIN),
            Source.UI,
        )
        effect_id = next(e.id for e in outcome.effects if e.name == Effect.NOTIFY_BILLING)
        session.execute(
            update(OutboxEffect)
            .where(OutboxEffect.id == effect_id)
            .values(state=EffectState.FAILED.value, attempts=5, last_error="HTTP 503 from billing")
        )
    return cid, effect_id


def test_every_role_sees_the_page_and_only_an_admin_retries_a_failed_effect(db, app_for):
    cid, effect_id = failed_effect(db)
    retry = f"/clientes/{cid}/efeitos/{effect_id}/tentar-de-novo"
    for username in ("ana", "maria", "vitor"):
        page = app_for(username).get("/painel")
        assert page.status_code == 200, page.text
        assert '<a href="/painel">Painel</a>' in page.text  # in the menu
        text = _text(page.text)
        assert "Efeitos com falha" in text and "Cliente 0" in text
        assert "o sistema de cobrança respondeu com erro HTTP 503" in text
        assert re.search(
            r'data-effect="notify_billing"><td>Avisar a cobrança</td>\s*<td class="num">0</td>'
            r'<td class="num">1</td>',
            page.text,
        )
        assert (retry in page.text) is (username == "ana")
        assert ("Congelar ou liberar em Inadimplência" in text) is (username == "ana")
        assert page.text.count('<g class="bar"') == 30 + 30 + 7  # cuts, reactivations, latency
        assert "Espera do efeito mais antigo" in text and "Processos de trabalho ativos" in text
        assert "Workers" not in text and "repasse" not in text

    viewer = app_for("vitor")
    refused = viewer.post(retry, data={"csrf_token": csrf_of(viewer.get("/painel").text), "voltar": "painel"})
    assert refused.status_code == 403
    with db.read() as session:
        assert session.get(OutboxEffect, effect_id).state == EffectState.FAILED

    admin = app_for("ana")
    done = admin.post(retry, data={"csrf_token": csrf_of(admin.get("/painel").text), "voltar": "painel"})
    assert done.status_code == 303 and done.headers["location"] == "/painel"
    with db.read() as session:
        assert session.get(OutboxEffect, effect_id).state == EffectState.PENDING
    back = admin.get("/painel")
    assert "Nova tentativa pedida" in back.text and "Nenhum efeito com falha." in back.text
    # From the customer's page (no `voltar`), the answer still goes back there.
    cid2, effect2 = failed_effect(db, 1)
    elsewhere = admin.post(
        f"/clientes/{cid2}/efeitos/{effect2}/tentar-de-novo", data={"csrf_token": csrf_of(back.text)}
    )
    assert elsewhere.headers["location"] == f"/clientes/{cid2}"


def test_the_page_shows_the_freeze_while_it_holds(db, app_for):
    viewer = app_for("vitor")
    assert 'data-frozen="no"' in viewer.get("/painel").text
    freeze.freeze_cuts(db, "Banco X sem retorno de boletos", None, "user:ana", "ui")
    text = _text(viewer.get("/painel").text)
    assert "Congelados." in text
    assert "Motivo Banco X sem retorno de boletos" in text
    assert "Até ser liberado por uma pessoa" in text and "Por ana (Tela)" in text
    freeze.lift_freeze(db, "user:ana", "ui")
    text = _text(viewer.get("/painel").text)
    assert "Em funcionamento" in text and "Última mudança do congelamento" in text and "por ana" in text


def test_the_page_needs_a_session(db):
    with TestClient(create_app(Settings(database_url=db.url), db), follow_redirects=False) as client:
        answer = client.get("/painel")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/entrar?next=/painel")


def test_a_payment_through_the_real_path_gets_its_latency_counted(db):
    """Cut by hand, the invoice paid by a billing event: the activation's restore_services, carried
    out by the effects' protocol, is the end of the latency; the event's arrival its start."""
    [cid] = new_customers(db, 1)
    invoice_id = add_invoice(db, cid, days_overdue=20, amount="120.00")
    inactivate(db, cid, "delinquency")
    with db.read() as session:
        external_id = session.execute(select(Invoice.external_id).where(Invoice.id == invoice_id)).scalar_one()
    before = utcnow()
    outcome = billing.apply_event(
        db,
        billing.InvoiceEvent(
            webhook_id="msg-pago-1",
            type="invoice.paid",
            invoice_id=external_id,
            customer_id=cid,
            customer_ref=None,
            amount=Decimal("120.00"),
            due_date=None,
            paid_at=None,
        ),
    )
    assert outcome.reactivated
    with db.read() as session:
        restore = session.scalar(
            select(OutboxEffect).where(
                OutboxEffect.transition_id == outcome.transition_id, OutboxEffect.name == Effect.RESTORE_SERVICES
            )
        )
        event = session.scalar(select(BillingEvent).where(BillingEvent.webhook_id == "msg-pago-1"))
        activation = session.get(StatusChange, outcome.transition_id)
        received = event.received_at
    # The event names the transition it caused, and its arrival precedes that transition (the
    # latency counts the time spent applying the event too).
    assert event.transition_id == outcome.transition_id
    assert before <= received <= activation.created_at
    settings = Settings(database_url=db.url)
    effects.process_effects(db, [restore.id], settings, lambda delivery: None, lambda i, s: None)
    with db.read() as session:
        completed = session.get(OutboxEffect, restore.id).completed_at
        samples = dashboard.payment_restores(session, utcnow() - timedelta(hours=1))
    assert completed is not None
    assert samples == [(received, max((completed - received).total_seconds(), 0.0))]


def test_metrics_expose_the_freeze_the_customers_and_the_payment_restore_quantiles(api):
    from tests.e2e.api_support import metric_sample

    ids = [api.new_customer(n)["id"] for n in range(3)]
    world = World(api.db, ids)
    now = utcnow()
    for n in range(1, 11):  # 1..10 s: p50 the 6th, p90 and p99 the 10th
        world.paid_and_restored(now - timedelta(hours=n), float(n))
    world.paid_and_restored(now - timedelta(days=8), 999.0)  # outside the window
    api.post(f"/api/v1/customers/{ids[0]}/inactivate", json={"reason": "customer_request"})

    text = api.get("/metrics", role=Role.VIEWER).text
    assert metric_sample(text, "ativa_cuts_frozen") == 0
    assert metric_sample(text, "ativa_customers", status="active") == 2
    assert metric_sample(text, "ativa_customers", status="inactive") == 1
    assert metric_sample(text, "ativa_payment_restore_seconds", quantile="0.5") == 6
    assert metric_sample(text, "ativa_payment_restore_seconds", quantile="0.9") == 10
    assert metric_sample(text, "ativa_payment_restore_seconds", quantile="0.99") == 10
    for action in ("on", "off", "tripped", "expired"):
        assert metric_sample(text, "ativa_freeze_changes_total", action=action) == 0

    freeze.freeze_cuts(api.db, "banco fora do ar", None, "user:ana", "ui")
    text = api.get("/metrics", role=Role.VIEWER).text
    assert metric_sample(text, "ativa_cuts_frozen") == 1
    assert metric_sample(text, "ativa_freeze_changes_total", action="on") == 1
    assert metric_sample(text, "ativa_freeze_alerts", state="pending") == 1
    assert "# TYPE ativa_freeze_changes_total counter" in text and "# TYPE ativa_cuts_frozen gauge" in text
    freeze.lift_freeze(api.db, "user:ana", "ui")
    text = api.get("/metrics", role=Role.VIEWER).text
    assert metric_sample(text, "ativa_cuts_frozen") == 0
    assert metric_sample(text, "ativa_freeze_changes_total", action="off") == 1
    assert metric_sample(text, "ativa_freeze_alerts", state="pending") == 2
    assert metric_sample(text, "ativa_freeze_alerts", state="failed") == 0


# -- a real browser at a phone's width, against `ativa serve` on PostgreSQL -------------------------

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(os.environ.get("ATIVA_SCREENSHOT_DIR", Path(__file__).parents[2] / "test-artifacts" / "screenshots"))


@pytest.fixture
def served(pg_db, tmp_path):
    if not Path(CHROMIUM).exists():
        service_missing("Debian's chromium", FileNotFoundError(CHROMIUM))
    with serving(pg_db.url, tmp_path, "ana", "admin", PASSWORD, {"ATIVA_TIMEZONE": TIMEZONE}) as base:
        yield base


def seed_a_month(db) -> None:
    """A month of cuts and reactivations, a week of payments restored, a failed effect, a freeze."""
    failed_effect(db, 2)
    world = World(db, new_customers(db, 2))
    now = utcnow()
    for back in range(30):
        for n in range((back * 7) % 5):
            world.change(local(-back, 9 + n, now=now), "inactivate", "delinquency", "scheduler")
        if back % 3 == 0:
            world.change(local(-back, 15, now=now), "inactivate", "delinquency", "ui")
        for n in range((back * 3) % 4):
            world.change(local(-back, 10 + n, now=now), "activate", "payment_received", "billing")
        if back % 4 == 1:
            world.change(local(-back, 17, now=now), "activate", "manual", "ui")
    for back in range(7):
        for n in range(3):
            world.paid_and_restored(now - timedelta(days=back, minutes=10 * n), 20.0 + 15 * back + 7 * n)
    freeze.freeze_cuts(db, "Banco sem retorno de boletos desde ontem", None, "user:ana", "ui")


@pytest.mark.postgres
def test_in_a_phone_browser_the_page_fits_the_screen(pg_db, served):
    playwright_api = pytest.importorskip("playwright.sync_api")
    expect = playwright_api.expect
    seed_a_month(pg_db)
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            context = browser.new_context(
                locale="pt-BR", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
            )
            page = context.new_page()
            page.goto(f"{served}/")
            page.get_by_label("Usuário").fill("ana")
            page.get_by_label("Senha").fill(PASSWORD)
            page.get_by_role("button", name="Entrar").click()
            # The site's root lands on the dashboard after signing in.
            expect(page.get_by_role("heading", name="Painel", exact=True)).to_be_visible(timeout=15_000)
            expect(page.locator("#congelamento")).to_contain_text("Congelados.")
            expect(page.locator("#congelamento")).to_contain_text("seguem normalmente")
            expect(page.locator("#grafico-cortes g.bar")).to_have_count(30)
            expect(page.locator("#efeitos-com-falha").get_by_role("button", name="Tentar de novo")).to_be_visible()
            # Nothing wider than the screen (the tables scroll inside their own box), and the
            # charts shrink to the screen's width.
            assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
            chart = page.locator("#grafico-cortes svg").bounding_box()
            assert chart["width"] > 250 and chart["x"] + chart["width"] <= 390
            # No hover on a phone: the day's numbers are one tap away, in a table that fits too.
            numbers = page.locator("#numeros-cortes")
            expect(numbers).to_be_hidden()
            page.locator("#grafico-cortes").get_by_text("Ver números").click()
            expect(numbers).to_be_visible()
            expect(numbers.locator("tbody tr")).to_have_count(30)
            assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
            described = page.locator("#grafico-cortes svg").get_attribute("aria-describedby")
            assert described == "numeros-cortes"
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "16-painel.png"), full_page=True)
        finally:
            browser.close()
