"""The collection ladder on the network, end to end on PostgreSQL: each stage's group answered by a
real FreeRADIUS (Access-Request), the stage's session effects carried out by the workers' pipeline
(effects.process_effects) against a fake router (a real UDP server on 127.0.0.2), payments at each
stage, the separate RADIUS database and the reconciler.

The ladder here: notice after 3 days past due, reduced speed after 7, the cut after 15 (grace)."""

import threading
from collections.abc import Callable, Iterator
from datetime import date, timedelta

import pytest
from pyrad import packet
from sqlalchemy import select, text, update

from tests.conftest import VALID_CPFS, add_invoice
from tests.freeradius_support import RadiusServer, send_accounting
from tests.radius_router_support import FakeRouter
from tests.support import wait_for
from workers.connectors.outbound import Outbound
from workflow.db.engine import Database
from workflow.db.models import Customer, Invoice, OutboxEffect, Plan, Router, StatusChange
from workflow.db.types import utcnow
from workflow.domain.customer_machine import TransitionRequest
from workflow.domain.vocabulary import CustomerEvent, Role, Source
from workflow.settings import Settings, get_settings
from workflow.usecases import billing, customer_services, customers, effects, ladder, transitions
from workflow.usecases.business_day import provider_today
from workflow.usecases.customer_locks import lock_customer_row
from workflow.usecases.delinquency import policy_from
from workflow.usecases.radius import enforcement, view
from workflow.usecases.radius.reconcile import reconcile_radius

pytestmark = pytest.mark.postgres

ROUTER_SECRET = "segredo-do-roteador-1"
ROUTER_ADDRESS = "127.0.0.2"
PASSWORD = "senha-do-cliente"
NOTICE_DAYS, REDUCE_DAYS = 3, 7
DOWNLOAD, UPLOAD = 100_000, 50_000
PLAN_RATE = "50000k/100000k"  # upload/download, as the router reads it
HALF_RATE = "25000k/50000k"  # the reduced rate at the default 50 %
NOTICE = "notice"
REDUCED = "reduced"

LadderEnv = Callable[..., Settings]


@pytest.fixture
def ladder_env(monkeypatch) -> Iterator[LadderEnv]:
    """Sets the ladder's variables (as the service reads them: get_settings) and returns the
    Settings a worker would run with, the same variables included."""

    def configure(**env: str) -> Settings:
        values = {"ATIVA_NOTICE_AFTER_DAYS": str(NOTICE_DAYS), "ATIVA_REDUCE_AFTER_DAYS": str(REDUCE_DAYS)} | env
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        return Settings(
            effect_retry_schedule="0,0,0",
            radius_timeout_seconds=0.3,
            radius_tries=2,
            provisioning_webhook_url=None,
            billing_webhook_url=None,
        )

    yield configure
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def used(ladder_env) -> Settings:
    return ladder_env()


@pytest.fixture
def router(pg_db, used) -> Iterator[FakeRouter]:
    with FakeRouter(secret=ROUTER_SECRET, address=ROUTER_ADDRESS) as fake:
        now = utcnow()
        with pg_db.write() as session:
            session.add(
                Router(
                    name="r-teste",
                    address=fake.address,
                    secret=ROUTER_SECRET,
                    coa_port=fake.port,
                    vendor="mikrotik",
                    created_at=now,
                    updated_at=now,
                )
            )
        sync(pg_db, used)
        yield fake


# -- helpers ------------------------------------------------------------------------------------


def sync(db: Database, used: Settings) -> None:
    with db.write_core() as conn:
        enforcement.sync_configuration(conn, used)


def add_plan(db: Database, used: Settings, name: str = "Fibra 100") -> int:
    now = utcnow()
    with db.write() as session:
        plan = Plan(
            name=name,
            name_key=name.lower(),
            download_kbps=DOWNLOAD,
            upload_kbps=UPLOAD,
            created_at=now,
            updated_at=now,
        )
        session.add(plan)
        session.flush()
        plan_id = plan.id
    sync(db, used)
    return plan_id


def add_customer(db: Database, used: Settings, n: int, login: str, plan_id: int) -> tuple[int, int]:
    """A customer with one service holding `login`: (customer id, service id); the new service's
    effect is carried out (no session yet)."""
    with db.write() as session:
        cid = customers.create_customer(session, customers.CustomerDraft(f"Cliente {n}", VALID_CPFS[n])).id
    with db.write() as session:
        sid = customer_services.add_service(
            session, cid, "Fibra", f"svc-{n}", customer_services.Access(login, PASSWORD, plan_id)
        ).id
    carry_out(db, used)
    return cid, sid


def carry_out(db: Database, used: Settings, ids: list[int] | None = None) -> list[str]:
    """What a worker does with one message of effect ids (by default every pending effect)."""
    ids = pending_ids(db) if ids is None else ids
    if not ids:
        return []
    results = effects.process_effects(db, ids, used, Outbound(used), retry_later=lambda i, s: None)
    return [r.state for r in results]


def pending_ids(db: Database) -> list[int]:
    with db.read() as session:
        return list(
            session.scalars(select(OutboxEffect.id).where(OutboxEffect.state == "pending").order_by(OutboxEffect.id))
        )


def session_effects(db: Database, service_id: int) -> list[OutboxEffect]:
    with db.read() as session:
        return list(
            session.scalars(
                select(OutboxEffect)
                .where(OutboxEffect.service_id == service_id, OutboxEffect.name.like("radius_%"))
                .order_by(OutboxEffect.id)
            )
        )


def groups(db: Database, login: str) -> list[str]:
    with db.read() as session:
        return list(
            session.scalars(text("SELECT groupname FROM radusergroup WHERE username = :u ORDER BY id"), {"u": login})
        )


def history(db: Database, cid: int) -> list[tuple]:
    with db.read() as session:
        return [
            (row.event, row.reason, row.source, row.delinquency_stage, row.from_status, row.to_status)
            for row in session.scalars(
                select(StatusChange).where(StatusChange.customer_id == cid).order_by(StatusChange.id)
            )
        ]


def customer_row(db: Database, cid: int) -> Customer:
    with db.read() as session:
        row = session.get(Customer, cid)
        assert row is not None
        return row


def access_request(server: RadiusServer, login: str) -> packet.Packet:
    with server.client() as client:
        request = client.CreateAuthPacket(User_Name=login, NAS_IP_Address="127.0.0.1", NAS_Port_Id="pppoe-tests")
        request["User-Password"] = request.PwCrypt(PASSWORD)
        reply = client.SendPacket(request)
    assert reply.code == packet.AccessAccept
    return reply


def answered(server: RadiusServer, login: str) -> tuple[list[str], list[str]]:
    """(Mikrotik-Rate-Limit, Mikrotik-Address-List) FreeRADIUS answers the login."""
    reply = access_request(server, login)
    return (
        list(reply["Mikrotik-Rate-Limit"]) if "Mikrotik-Rate-Limit" in reply else [],
        list(reply["Mikrotik-Address-List"]) if "Mikrotik-Address-List" in reply else [],
    )


def connect(server: RadiusServer, login: str, session_id: str, framed_ip: str) -> None:
    """The router reports the customer's session (Accounting Start): an open session in radacct."""
    send_accounting(server, "Start", login=login, session_id=session_id, framed_ip=framed_ip, nas_ip=ROUTER_ADDRESS)


def advance(db: Database, used: Settings, today: date) -> ladder.LadderRun:
    return ladder.advance_ladder(db, policy_from(used), today, used)


def invoice_ref(db: Database, invoice_id: int) -> str:
    with db.read() as session:
        invoice = session.get(Invoice, invoice_id)
        assert invoice is not None
        return invoice.external_id


def pay(db: Database, cid: int, invoice_id: int, webhook_id: str, today: date) -> billing.EventOutcome:
    return billing.apply_event(
        db,
        billing.InvoiceEvent(webhook_id, "invoice.paid", invoice_ref(db, invoice_id), cid, None, None, None, None),
        today=today,
    )


def end_snooze(db: Database, cid: int) -> None:
    """The acknowledgement's hours pass."""
    with db.write() as session:
        session.execute(
            update(Customer).where(Customer.id == cid).values(notice_snoozed_until=utcnow() - timedelta(seconds=1))
        )


def plan_groups(plan: int) -> dict[str, str]:
    return {
        "plan": f"ativa_plano_{plan}",
        NOTICE: f"ativa_plano_{plan}_aviso",
        REDUCED: f"ativa_plano_{plan}_reduzido",
    }


# -- 1. each stage's attributes at Access-Request ---------------------------------------------


def test_each_stage_answers_its_group_at_access_request(pg_db, freeradius, used):
    today = provider_today()
    plan = add_plan(pg_db, used)
    group = plan_groups(plan)
    cid, _ = add_customer(pg_db, used, 0, "escada", plan)
    assert answered(freeradius, "escada") == ([PLAN_RATE], [])

    invoice = add_invoice(pg_db, cid, days_overdue=NOTICE_DAYS)  # not yet past the notice's days
    assert advance(pg_db, used, today).advanced == {}
    assert groups(pg_db, "escada") == [group["plan"]]

    # A day later: the notice, the plan's rate with the notice list.
    run = advance(pg_db, used, today + timedelta(days=1))
    assert run.advanced == {cid: NOTICE}
    assert groups(pg_db, "escada") == [group[NOTICE]]
    assert answered(freeradius, "escada") == ([PLAN_RATE], ["ativa_aviso"])
    assert customer_row(pg_db, cid).delinquency_stage == NOTICE
    assert advance(pg_db, used, today + timedelta(days=1)).advanced == {}  # the same day again: nothing

    # "Continuar navegando": the plan's group, off the list.
    ladder.acknowledge_notice(pg_db, cid, today + timedelta(days=1), "Continuar navegando")
    assert groups(pg_db, "escada") == [group["plan"]]
    assert answered(freeradius, "escada") == ([PLAN_RATE], [])
    assert customer_row(pg_db, cid).notice_snoozed_until is not None

    # The snooze ends: back on the list.
    end_snooze(pg_db, cid)
    run = ladder.resume_notices(pg_db, today + timedelta(days=1))
    assert run.resumed == [cid] and run.kept == {}
    assert groups(pg_db, "escada") == [group[NOTICE]]
    assert answered(freeradius, "escada") == ([PLAN_RATE], ["ativa_aviso"])
    assert customer_row(pg_db, cid).notice_snoozed_until is None

    # Past the reduction's days: half the plan's rates, and no notice list.
    run = advance(pg_db, used, today + timedelta(days=REDUCE_DAYS - NOTICE_DAYS + 1))
    assert run.advanced == {cid: REDUCED}
    assert groups(pg_db, "escada") == [group[REDUCED]]
    assert answered(freeradius, "escada") == ([HALF_RATE], [])

    stages = [row for row in history(pg_db, cid) if row[0] != "activate"]
    assert stages == [
        ("advance_stage", "delinquency", "scheduler", NOTICE, "active", "active"),
        ("acknowledge_notice", "delinquency", "notice_page", NOTICE, "active", "active"),
        ("resume_notice", "delinquency", "scheduler", NOTICE, "active", "active"),
        ("advance_stage", "delinquency", "scheduler", REDUCED, "active", "active"),
    ]
    assert invoice  # still open: the debt stands through every step


def test_a_debt_older_than_the_reduction_goes_straight_to_the_reduced_rate(pg_db, freeradius, used):
    plan = add_plan(pg_db, used)
    cid, _ = add_customer(pg_db, used, 0, "direto.reduzido", plan)
    add_invoice(pg_db, cid, days_overdue=REDUCE_DAYS + 1)

    assert advance(pg_db, used, provider_today()).advanced == {cid: REDUCED}

    assert groups(pg_db, "direto.reduzido") == [plan_groups(plan)[REDUCED]]
    assert answered(freeradius, "direto.reduzido") == ([HALF_RATE], [])


def test_a_configured_list_and_a_fixed_reduced_rate_capped_at_the_plans(pg_db, freeradius, ladder_env):
    used = ladder_env(ATIVA_RADIUS_NOTICE_ADDRESS_LIST="lista_cobranca", ATIVA_REDUCED_RATE_KBPS="60000")
    today = provider_today()
    plan = add_plan(pg_db, used)
    avisado, _ = add_customer(pg_db, used, 0, "lista.propria", plan)
    reduzido, _ = add_customer(pg_db, used, 1, "taxa.fixa", plan)
    add_invoice(pg_db, avisado, days_overdue=NOTICE_DAYS + 1)
    add_invoice(pg_db, reduzido, days_overdue=REDUCE_DAYS + 1)

    assert advance(pg_db, used, today).advanced == {avisado: NOTICE, reduzido: REDUCED}

    assert answered(freeradius, "lista.propria") == ([PLAN_RATE], ["lista_cobranca"])
    # 60,000 kbps down (below the plan's 100,000); up capped at the plan's 50,000.
    assert answered(freeradius, "taxa.fixa") == (["50000k/60000k"], [])


# -- 2. the session effects of each stage -----------------------------------------------------


def test_the_reduced_stage_reaches_the_open_session_by_coa_with_the_reduced_rate(pg_db, freeradius, router, used):
    plan = add_plan(pg_db, used)
    cid, sid = add_customer(pg_db, used, 0, "sessao.reduzida", plan)
    connect(freeradius, "sessao.reduzida", "r001", "100.64.5.1")
    add_invoice(pg_db, cid, days_overdue=REDUCE_DAYS + 1)

    advance(pg_db, used, provider_today())
    carry_out(pg_db, used)

    [coa] = router.accepted
    assert coa.kind == "coa"
    assert (coa.first("User-Name"), coa.first("Acct-Session-Id")) == ("sessao.reduzida", "r001")
    assert coa.first("Mikrotik-Rate-Limit") == HALF_RATE
    assert "Mikrotik-Address-List" not in coa.attributes
    effect = session_effects(pg_db, sid)[-1]
    assert (effect.name, effect.state, effect.origin) == ("radius_coa", "done", "transition")
    assert effect.note == f"CoA ACK from {ROUTER_ADDRESS} (session r001)"
    assert effect.transition_id is not None


def test_the_notice_coa_carries_the_list_and_leaving_the_list_disconnects(pg_db, freeradius, router, used):
    today = provider_today()
    plan = add_plan(pg_db, used)
    cid, sid = add_customer(pg_db, used, 0, "sessao.aviso", plan)
    connect(freeradius, "sessao.aviso", "n001", "100.64.5.2")
    add_invoice(pg_db, cid, days_overdue=NOTICE_DAYS + 1)

    advance(pg_db, used, today)
    carry_out(pg_db, used)
    [coa] = router.accepted
    assert coa.kind == "coa"
    assert coa.first("Mikrotik-Address-List") == "ativa_aviso"
    assert coa.first("Mikrotik-Rate-Limit") == PLAN_RATE

    # Acknowledged: off the list, which a CoA cannot be trusted to do: a Disconnect.
    ladder.acknowledge_notice(pg_db, cid, today, "Continuar navegando")
    carry_out(pg_db, used)
    assert [r.kind for r in router.accepted] == ["coa", "disconnect"]
    assert router.accepted[-1].first("Acct-Session-Id") == "n001"
    assert session_effects(pg_db, sid)[-1].name == "radius_disconnect"

    # The snooze ends: back on the list by CoA.
    end_snooze(pg_db, cid)
    assert ladder.resume_notices(pg_db, today).resumed == [cid]
    carry_out(pg_db, used)
    assert [r.kind for r in router.accepted] == ["coa", "disconnect", "coa"]
    assert router.accepted[-1].first("Mikrotik-Address-List") == "ativa_aviso"

    # From the notice to the reduced rate: off the list too, so a Disconnect (the redial gets the
    # reduced group).
    advance(pg_db, used, today + timedelta(days=REDUCE_DAYS - NOTICE_DAYS))
    carry_out(pg_db, used)
    assert [r.kind for r in router.accepted] == ["coa", "disconnect", "coa", "disconnect"]
    assert groups(pg_db, "sessao.aviso") == [plan_groups(plan)[REDUCED]]


def test_a_payment_at_the_notice_disconnects_and_at_the_reduced_rate_restores_the_plans_rate_by_coa(
    pg_db, freeradius, router, used
):
    today = provider_today()
    plan = add_plan(pg_db, used)
    avisado, _ = add_customer(pg_db, used, 0, "paga.aviso", plan)
    reduzido, _ = add_customer(pg_db, used, 1, "paga.reduzido", plan)
    connect(freeradius, "paga.aviso", "p001", "100.64.5.3")
    connect(freeradius, "paga.reduzido", "p002", "100.64.5.4")
    notice_invoice = add_invoice(pg_db, avisado, days_overdue=NOTICE_DAYS + 1)
    reduced_invoice = add_invoice(pg_db, reduzido, days_overdue=REDUCE_DAYS + 1)
    advance(pg_db, used, today)
    carry_out(pg_db, used)
    assert sorted(r.kind for r in router.accepted) == ["coa", "coa"]

    pay(pg_db, avisado, notice_invoice, "pay-aviso", today)
    pay(pg_db, reduzido, reduced_invoice, "pay-reduzido", today)
    carry_out(pg_db, used)

    sent = {r.first("Acct-Session-Id"): r for r in router.accepted[2:]}
    assert sent["p001"].kind == "disconnect"
    assert sent["p002"].kind == "coa"
    assert sent["p002"].first("Mikrotik-Rate-Limit") == PLAN_RATE
    assert "Mikrotik-Address-List" not in sent["p002"].attributes


def test_a_router_that_naks_the_stage_coa_gets_a_disconnect(pg_db, freeradius, router, used):
    plan = add_plan(pg_db, used)
    cid, sid = add_customer(pg_db, used, 0, "nak.reduzido", plan)
    connect(freeradius, "nak.reduzido", "k001", "100.64.5.5")
    add_invoice(pg_db, cid, days_overdue=REDUCE_DAYS + 1)
    router.policy = "coa_nak"

    advance(pg_db, used, provider_today())
    carry_out(pg_db, used)

    assert [r.kind for r in router.accepted] == ["coa", "disconnect"]
    assert router.accepted[0].first("Mikrotik-Rate-Limit") == HALF_RATE
    effect = session_effects(pg_db, sid)[-1]
    assert (effect.name, effect.state) == ("radius_coa", "done")
    assert effect.note == f"CoA NAK from {ROUTER_ADDRESS}, disconnect ACK instead (session k001)"


# -- 3. a payment at each stage --------------------------------------------------------------


@pytest.mark.parametrize("stage", [NOTICE, REDUCED])
def test_a_payment_at_a_stage_returns_the_login_to_its_plan_in_the_payments_transaction(pg_db, used, stage):
    today = provider_today()
    plan = add_plan(pg_db, used)
    cid, sid = add_customer(pg_db, used, 0, "pagante", plan)
    days = NOTICE_DAYS + 1 if stage == NOTICE else REDUCE_DAYS + 1
    invoice = add_invoice(pg_db, cid, days_overdue=days)
    assert advance(pg_db, used, today).advanced == {cid: stage}
    carry_out(pg_db, used)
    assert groups(pg_db, "pagante") == [plan_groups(plan)[stage]]
    before = {e.id for e in session_effects(pg_db, sid)}

    outcome = pay(pg_db, cid, invoice, f"pay-{stage}", today)

    assert outcome.stage_cleared and not outcome.reactivated
    assert groups(pg_db, "pagante") == [f"ativa_plano_{plan}"]  # no effect carried out yet
    [queued] = [e for e in session_effects(pg_db, sid) if e.id not in before]
    assert queued.state == "pending"
    assert queued.name == ("radius_disconnect" if stage == NOTICE else "radius_coa")
    assert queued.transition_id == outcome.transition_id
    row = customer_row(pg_db, cid)
    assert (row.status, row.delinquency_stage, row.notice_snoozed_until) == ("active", "none", None)
    assert history(pg_db, cid)[-1] == ("clear_stage", "payment_received", "billing", "none", "active", "active")


def test_a_payment_after_the_cut_activates_the_login_in_its_plans_group(pg_db, used):
    today = provider_today()
    plan = add_plan(pg_db, used)
    cid, sid = add_customer(pg_db, used, 0, "cortado", plan)
    invoice = add_invoice(pg_db, cid, days_overdue=16)
    assert advance(pg_db, used, today).advanced == {cid: REDUCED}
    with pg_db.write() as session:  # the cut (reason delinquency), as the sweep makes it
        transitions.transition_customer(
            session,
            cid,
            CustomerEvent.INACTIVATE,
            TransitionRequest("delinquency", None, actor_role=Role.OPERATOR),
            transitions.Actor("t", Role.OPERATOR),
            Source.API,
        )
    carry_out(pg_db, used)
    assert groups(pg_db, "cortado") == ["ativa_bloqueado"]
    assert customer_row(pg_db, cid).delinquency_stage == "none"  # the cut ends the ladder
    before = {e.id for e in session_effects(pg_db, sid)}

    outcome = pay(pg_db, cid, invoice, "pay-corte", today)

    assert outcome.reactivated and not outcome.stage_cleared
    assert history(pg_db, cid)[-1] == ("activate", "payment_received", "billing", None, "inactive", "active")
    row = customer_row(pg_db, cid)
    assert (row.status, row.delinquency_stage) == ("active", "none")
    # The activation's own effect brings the service back (as any activation), and with it the
    # login: to its plan's group, not a stage's, and its blocked session dropped.
    carry_out(pg_db, used)
    assert groups(pg_db, "cortado") == [f"ativa_plano_{plan}"]
    [queued] = [e for e in session_effects(pg_db, sid) if e.id not in before]
    assert (queued.name, queued.state) == ("radius_disconnect", "done")


def test_a_partial_payment_leaves_the_stage(pg_db, used):
    today = provider_today()
    plan = add_plan(pg_db, used)
    cid, _ = add_customer(pg_db, used, 0, "parcial", plan)
    paid = add_invoice(pg_db, cid, days_overdue=REDUCE_DAYS + 1)
    add_invoice(pg_db, cid, days_overdue=NOTICE_DAYS + 1)
    assert advance(pg_db, used, today).advanced == {cid: REDUCED}

    outcome = pay(pg_db, cid, paid, "pay-parcial", today)

    assert not outcome.stage_cleared
    assert groups(pg_db, "parcial") == [plan_groups(plan)[REDUCED]]
    assert customer_row(pg_db, cid).delinquency_stage == REDUCED  # a step back waits for the payment


def lock_waiters(db: Database) -> int:
    with db.engine.connect() as probe:
        return probe.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        ).scalar_one()


@pytest.mark.parametrize("first", ["ladder", "payment"])
def test_a_payment_racing_the_stage_change_leaves_the_login_on_its_plan(pg_db, used, first):
    """The ladder's step and the payment queue on the customer's lock, in either order: the
    customer ends at no stage and the login in its plan's group (a step that came first undone
    by the payment, in the history; a payment that came first leaves no step to take)."""
    today = provider_today()
    plan = add_plan(pg_db, used)
    cid, _ = add_customer(pg_db, used, 0, "corrida", plan)
    invoice = add_invoice(pg_db, cid, days_overdue=NOTICE_DAYS + 1)
    results: dict[str, object] = {}

    def run(name: str, call: Callable[[], object]) -> None:
        try:
            results[name] = call()
        except BaseException as error:  # noqa: BLE001 - asserted below
            results[name] = error

    calls = {
        "ladder": lambda: advance(pg_db, used, today),
        "payment": lambda: pay(pg_db, cid, invoice, "pay-corrida", today),
    }
    order = [first, "payment" if first == "ladder" else "ladder"]
    threads = [threading.Thread(target=run, args=(name, calls[name])) for name in order]
    with pg_db.write() as session:
        lock_customer_row(session.connection(), cid)  # both queue behind this lock
        for waiting, thread in enumerate(threads, start=1):
            thread.start()
            wait_for(lambda n=waiting: lock_waiters(pg_db) >= n, what=f"{waiting} waiting on the customer's lock")
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()

    stepped, paid = results["ladder"], results["payment"]
    assert isinstance(stepped, ladder.LadderRun), stepped
    assert isinstance(paid, billing.EventOutcome), paid
    events = [row[0] for row in history(pg_db, cid) if row[0] != "activate"]
    # PostgreSQL grants a row's lock to its waiters in turn: the first to queue goes first.
    if first == "ladder":  # the step, then the payment that undoes it
        assert stepped.advanced == {cid: NOTICE} and paid.stage_cleared
        assert events == ["advance_stage", "clear_stage"]
    else:  # the payment, then nothing left to step for
        assert stepped.advanced == {} and not paid.stage_cleared and events == []
    row = customer_row(pg_db, cid)
    assert (row.status, row.delinquency_stage) == ("active", "none")
    assert groups(pg_db, "corrida") == [f"ativa_plano_{plan}"]
    carry_out(pg_db, used)  # the step's effect, late or not, leaves the plan's group
    assert groups(pg_db, "corrida") == [f"ativa_plano_{plan}"]
    assert reconcile_radius(pg_db, used).logins == []


# -- 4. a RADIUS database of its own ---------------------------------------------------------


def test_separate_mode_the_stage_group_is_written_by_the_session_effect(pg_db, ladder_env, router, radius_database_url):
    separate = ladder_env(ATIVA_RADIUS_DATABASE_URL=radius_database_url)
    plan = add_plan(pg_db, separate)
    radius_db = Database(radius_database_url)
    try:
        cid, sid = add_customer(pg_db, separate, 0, "separado", plan)
        assert groups(radius_db, "separado") == [f"ativa_plano_{plan}"]
        assert groups(pg_db, "separado") == []
        with radius_db.write() as session:
            session.execute(
                text(
                    "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, framedipaddress,"
                    " acctstarttime) VALUES ('s001', 'u-s001', 'separado', :nas, '100.64.6.1', now())"
                ),
                {"nas": ROUTER_ADDRESS},
            )
        add_invoice(pg_db, cid, days_overdue=REDUCE_DAYS + 1)

        advance(pg_db, separate, provider_today())
        assert groups(radius_db, "separado") == [f"ativa_plano_{plan}"]  # not until the effect runs
        carry_out(pg_db, separate)

        assert groups(radius_db, "separado") == [plan_groups(plan)[REDUCED]]
        assert groups(pg_db, "separado") == []
        with radius_db.read() as session:
            reduced_rate = session.scalar(
                text("SELECT value FROM radgroupreply WHERE groupname = :g AND attribute = 'Mikrotik-Rate-Limit'"),
                {"g": plan_groups(plan)[REDUCED]},
            )
        assert reduced_rate == HALF_RATE
        [coa] = router.accepted
        assert (coa.kind, coa.first("Mikrotik-Rate-Limit")) == ("coa", HALF_RATE)
        assert session_effects(pg_db, sid)[-1].state == "done"
    finally:
        radius_db.dispose()


# -- 5. the reconciler and the groups Ativa keeps --------------------------------------------


def test_sync_writes_each_plans_notice_and_reduced_groups(pg_db, used):
    plan = add_plan(pg_db, used)
    with pg_db.read() as session:
        rows = session.execute(
            text("SELECT groupname, attribute, value FROM radgroupreply WHERE groupname LIKE :g ORDER BY id"),
            {"g": f"ativa_plano_{plan}%"},
        ).all()
    by_group: dict[str, dict[str, str]] = {}
    for name, attribute, value in rows:
        by_group.setdefault(name, {})[attribute] = value
    group = plan_groups(plan)
    assert by_group[group["plan"]]["Mikrotik-Rate-Limit"] == PLAN_RATE
    assert "Mikrotik-Address-List" not in by_group[group["plan"]]
    assert by_group[group[NOTICE]]["Mikrotik-Rate-Limit"] == PLAN_RATE
    assert by_group[group[NOTICE]]["Mikrotik-Address-List"] == "ativa_aviso"
    assert by_group[group[REDUCED]]["Mikrotik-Rate-Limit"] == HALF_RATE
    assert "Mikrotik-Address-List" not in by_group[group[REDUCED]]
    assert by_group[group[REDUCED]]["WISPr-Bandwidth-Max-Down"] == str(DOWNLOAD // 2 * 1000)
    assert set(by_group) == set(group.values())


def test_the_reconciler_puts_a_login_at_the_notice_back_in_the_notice_group(pg_db, used):
    plan = add_plan(pg_db, used)
    cid, sid = add_customer(pg_db, used, 0, "deriva.aviso", plan)
    _, other = add_customer(pg_db, used, 1, "sem.deriva", plan)
    add_invoice(pg_db, cid, days_overdue=NOTICE_DAYS + 1)
    advance(pg_db, used, provider_today())
    carry_out(pg_db, used)
    assert reconcile_radius(pg_db, used).logins == []
    with pg_db.write() as session:  # a hand edit puts the login back in its plan's group
        session.execute(
            text("UPDATE radusergroup SET groupname = :g WHERE username = 'deriva.aviso'"),
            {"g": f"ativa_plano_{plan}"},
        )

    repair = reconcile_radius(pg_db, used)

    assert repair.logins == ["deriva.aviso"]
    assert groups(pg_db, "deriva.aviso") == [plan_groups(plan)[NOTICE]]
    assert groups(pg_db, "sem.deriva") == [f"ativa_plano_{plan}"]
    assert [e.origin for e in session_effects(pg_db, sid)][-1] == "reconciler"
    assert [e.origin for e in session_effects(pg_db, other)] == ["service"]
    assert reconcile_radius(pg_db, used).logins == []


def test_the_reconciler_rewrites_a_stage_group_whose_rate_was_edited(pg_db, used):
    plan = add_plan(pg_db, used)
    with pg_db.write() as session:
        session.execute(
            text("UPDATE radgroupreply SET value = '1k/1k' WHERE groupname = :g AND attribute = 'Mikrotik-Rate-Limit'"),
            {"g": plan_groups(plan)[REDUCED]},
        )
        session.execute(text("DELETE FROM radgroupreply WHERE groupname = :g"), {"g": plan_groups(plan)[NOTICE]})

    assert reconcile_radius(pg_db, used).groups_rewritten

    with pg_db.read() as session:
        rows = dict(
            session.execute(
                text("SELECT groupname, value FROM radgroupreply WHERE attribute = 'Mikrotik-Rate-Limit'")
            ).all()
        )
    assert rows[plan_groups(plan)[REDUCED]] == HALF_RATE
    assert rows[plan_groups(plan)[NOTICE]] == PLAN_RATE
    assert not reconcile_radius(pg_db, used).groups_rewritten


# -- 6. what operators see of a login at a step ----------------------------------------------


def test_the_views_and_the_api_name_the_stage_group_and_see_no_divergence(pg_db, used):
    from fastapi.testclient import TestClient

    from workflow.application import create_app
    from workflow.usecases.tokens import create_token

    plan = add_plan(pg_db, used)
    group = plan_groups(plan)
    avisado, notice_service = add_customer(pg_db, used, 0, "visto.aviso", plan)
    reduzido, reduced_service = add_customer(pg_db, used, 1, "visto.reduzido", plan)
    add_invoice(pg_db, avisado, days_overdue=NOTICE_DAYS + 1)
    add_invoice(pg_db, reduzido, days_overdue=REDUCE_DAYS + 1)
    advance(pg_db, used, provider_today())
    carry_out(pg_db, used)
    with pg_db.write() as session:
        token = create_token(session, "visao", "admin")[1]
    app = create_app(Settings(database_url=pg_db.url), pg_db)

    for cid, sid, login, stage in (
        (avisado, notice_service, "visto.aviso", NOTICE),
        (reduzido, reduced_service, "visto.reduzido", REDUCED),
    ):
        with pg_db.read() as session:
            network = view.customer_network(session, used, cid)[sid]
            checked = view.check_login(session.connection(), used, login)
        assert (network.wanted_group, network.groups, network.diverges) == (group[stage], (group[stage],), False)
        assert (checked.wanted_group, checked.diverges) == (group[stage], False)
        with TestClient(app) as client:
            listed = client.get(f"/api/v1/customers/{cid}/services", headers={"Authorization": f"Bearer {token}"})
        assert listed.status_code == 200, listed.text
        assert [item["radius_group"] for item in listed.json()["items"]] == [group[stage]]

    # Acknowledged: the plan's group is the one wanted now.
    ladder.acknowledge_notice(pg_db, avisado, provider_today(), "Continuar navegando")
    with pg_db.read() as session:
        network = view.customer_network(session, used, avisado)[notice_service]
    assert (network.wanted_group, network.diverges) == (group["plan"], False)
