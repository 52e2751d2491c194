"""RADIUS enforcement end to end on PostgreSQL: the rows Ativa writes answered by a real FreeRADIUS,
open sessions the router reported through it (accounting), and the session effects sending
CoA/Disconnect requests to a fake router (a real UDP server on 127.0.0.2) through the pipeline a
worker runs (effects.process_effects with the workers' Deliver)."""

import random
import threading
from collections.abc import Iterator

import pytest
from pyrad import packet
from sqlalchemy import event, select, text

from tests.conftest import VALID_CPFS
from tests.freeradius_support import RadiusServer, send_accounting
from tests.radius_router_support import FakeRouter
from workers.connectors.outbound import Outbound
from workflow.db.engine import Database
from workflow.db.models import OutboxEffect, Plan, RadiusPacket, Router, Service
from workflow.db.types import utcnow
from workflow.domain.customer_machine import TransitionRequest
from workflow.domain.vocabulary import CustomerEvent, Role, Source
from workflow.settings import Settings, get_settings
from workflow.usecases import customer_services, customers, effects, transitions
from workflow.usecases.radius import enforcement
from workflow.usecases.radius.reconcile import reconcile_radius

pytestmark = pytest.mark.postgres

ROUTER_SECRET = "segredo-do-roteador-1"
ROUTER_ADDRESS = "127.0.0.2"
PASSWORD = "senha-do-cliente"
BLOCKED_MESSAGE = "Acesso suspenso. Entre em contato com o provedor para regularizar."


def settings(**overrides) -> Settings:
    values = {
        "effect_retry_schedule": "0,0,0",
        "radius_timeout_seconds": 0.3,
        "radius_tries": 2,
        "provisioning_webhook_url": None,
        "billing_webhook_url": None,
    } | overrides
    return Settings(**values)


SETTINGS = settings()


@pytest.fixture
def router(pg_db) -> Iterator[FakeRouter]:
    with FakeRouter(secret=ROUTER_SECRET, address=ROUTER_ADDRESS) as fake:
        register_router(pg_db, fake.address, fake.port, ROUTER_SECRET)
        yield fake


def register_router(db: Database, address: str, port: int, secret: str, vendor: str = "mikrotik") -> None:
    now = utcnow()
    with db.write() as session:
        session.add(
            Router(
                name=f"r-{address}",
                address=address,
                secret=secret,
                coa_port=port,
                vendor=vendor,
                created_at=now,
                updated_at=now,
            )
        )
    sync(db, SETTINGS)


def sync(db: Database, used: Settings) -> None:
    with db.write_core() as conn:
        enforcement.sync_configuration(conn, used)


def add_plan(db: Database, name: str, download: int, upload: int) -> int:
    now = utcnow()
    with db.write() as session:
        plan = Plan(
            name=name, name_key=name.lower(), download_kbps=download, upload_kbps=upload, created_at=now, updated_at=now
        )
        session.add(plan)
        session.flush()
        plan_id = plan.id
    sync(db, SETTINGS)
    return plan_id


def add_customer(db: Database, n: int, login: str, plan_id: int) -> tuple[int, int]:
    """A customer with one service holding `login`; returns (customer id, service id). The
    effect queued by the new service (no open session yet) is carried out."""
    with db.write() as session:
        cid = customers.create_customer(session, customers.CustomerDraft(f"Cliente {n}", VALID_CPFS[n])).id
    with db.write() as session:
        sid = customer_services.add_service(
            session, cid, "Fibra", f"svc-{n}", customer_services.Access(login, PASSWORD, plan_id)
        ).id
    carry_out(db, pending_ids(db))
    return cid, sid


def move(db: Database, cid: int, event: CustomerEvent, reason: str, used: Settings = SETTINGS) -> list[str]:
    with db.write() as session:
        outcome = transitions.transition_customer(
            session,
            cid,
            event,
            TransitionRequest(reason, None, actor_role=Role.OPERATOR),
            transitions.Actor("t", Role.OPERATOR),
            Source.API,
        )
        ids = [e.id for e in outcome.effects]
    return carry_out(db, ids, used)


def carry_out(db: Database, ids: list[int], used: Settings = SETTINGS) -> list[str]:
    """What a worker does with one message of effect ids (and the calls they make)."""
    if not ids:
        return []
    results = effects.process_effects(db, ids, used, Outbound(used), retry_later=lambda i, s: None)
    return [r.state for r in results]


def pending_ids(db: Database) -> list[int]:
    with db.read() as session:
        return list(session.scalars(select(OutboxEffect.id).where(OutboxEffect.state == "pending")))


def session_effects(db: Database, service_id: int) -> list[OutboxEffect]:
    with db.read() as session:
        return list(
            session.scalars(
                select(OutboxEffect)
                .where(OutboxEffect.service_id == service_id, OutboxEffect.name.like("radius_%"))
                .order_by(OutboxEffect.id)
            )
        )


def packets(db: Database, service_id: int) -> list[RadiusPacket]:
    with db.read() as session:
        return list(
            session.scalars(select(RadiusPacket).where(RadiusPacket.service_id == service_id).order_by(RadiusPacket.id))
        )


def groups(db: Database, login: str) -> list[str]:
    with db.read() as session:
        return list(
            session.scalars(text("SELECT groupname FROM radusergroup WHERE username = :u ORDER BY id"), {"u": login})
        )


def access_request(server: RadiusServer, login: str, password: str = PASSWORD) -> packet.Packet:
    with server.client() as client:
        request = client.CreateAuthPacket(User_Name=login, NAS_IP_Address="127.0.0.1", NAS_Port_Id="pppoe-tests")
        request["User-Password"] = request.PwCrypt(password)
        return client.SendPacket(request)


def connect(server: RadiusServer, login: str, session_id: str, framed_ip: str, nas_ip: str = ROUTER_ADDRESS) -> None:
    """The router reports the customer's session (Accounting Start): an open session in radacct."""
    send_accounting(server, "Start", login=login, session_id=session_id, framed_ip=framed_ip, nas_ip=nas_ip)


def disconnected(server: RadiusServer, login: str, session_id: str, framed_ip: str) -> None:
    send_accounting(server, "Stop", login=login, session_id=session_id, framed_ip=framed_ip, nas_ip=ROUTER_ADDRESS)


def test_a_block_and_a_payment_move_the_login_and_drop_its_session_each_time(pg_db, freeradius, router):
    plan = add_plan(pg_db, "Fibra 500", 500_000, 250_000)
    cid, sid = add_customer(pg_db, 0, "ana.silva", plan)
    accepted = access_request(freeradius, "ana.silva")
    assert accepted.code == packet.AccessAccept
    assert accepted["Mikrotik-Rate-Limit"] == ["250000k/500000k"]
    connect(freeradius, "ana.silva", "81a2", "100.64.0.10")

    move(pg_db, cid, CustomerEvent.INACTIVATE, "customer_request")

    blocked = access_request(freeradius, "ana.silva")
    assert blocked.code == packet.AccessAccept
    assert blocked["Mikrotik-Address-List"] == ["ativa_bloqueados"]
    assert "Mikrotik-Rate-Limit" not in blocked
    [request] = router.accepted
    assert request.kind == "disconnect"
    assert request.first("User-Name") == "ana.silva"
    assert request.first("Acct-Session-Id") == "81a2"
    assert request.first("NAS-IP-Address") == ROUTER_ADDRESS
    assert request.first("Framed-IP-Address") == "100.64.0.10"
    effect = session_effects(pg_db, sid)[-1]
    assert (effect.name, effect.state) == ("radius_disconnect", "done")
    assert effect.note == f"disconnect ACK from {ROUTER_ADDRESS} (session 81a2)"
    [sent] = packets(pg_db, sid)
    assert (sent.kind, sent.outcome, sent.acct_session_id, sent.login, sent.customer_id, sent.effect_id) == (
        "disconnect",
        "ack",
        "81a2",
        "ana.silva",
        cid,
        effect.id,
    )
    assert ROUTER_SECRET not in (effect.note or "") + (sent.detail or "")

    # The router ends the session and redials into the blocked group; then the customer pays.
    disconnected(freeradius, "ana.silva", "81a2", "100.64.0.10")
    connect(freeradius, "ana.silva", "81a3", "100.64.0.11")
    move(pg_db, cid, CustomerEvent.ACTIVATE, "payment_received")

    again = access_request(freeradius, "ana.silva")
    assert again.code == packet.AccessAccept
    assert again["Mikrotik-Rate-Limit"] == ["250000k/500000k"]
    assert [r.first("Acct-Session-Id") for r in router.accepted] == ["81a2", "81a3"]
    assert groups(pg_db, "ana.silva") == [f"ativa_plano_{plan}"]


def test_a_login_without_an_open_session_gets_no_packet_and_its_effect_says_so(pg_db, freeradius, router):
    plan = add_plan(pg_db, "Fibra 100", 100_000, 50_000)
    cid, sid = add_customer(pg_db, 0, "sem.sessao", plan)

    move(pg_db, cid, CustomerEvent.INACTIVATE, "customer_request")

    assert router.accepted == []
    effect = session_effects(pg_db, sid)[-1]
    assert (effect.state, effect.note) == ("done", "no open session: nothing sent")
    assert packets(pg_db, sid) == []
    assert groups(pg_db, "sem.sessao") == ["ativa_bloqueado"]


def test_a_nak_session_not_found_is_done_and_noted(pg_db, freeradius, router):
    plan = add_plan(pg_db, "Fibra 100", 100_000, 50_000)
    cid, sid = add_customer(pg_db, 0, "sessao.velha", plan)
    connect(freeradius, "sessao.velha", "aa01", "100.64.0.20")
    router.policy = "session_not_found"

    move(pg_db, cid, CustomerEvent.INACTIVATE, "customer_request")

    effect = session_effects(pg_db, sid)[-1]
    assert (effect.state, effect.note) == ("done", f"session not found at {ROUTER_ADDRESS} (session aa01)")
    assert [p.outcome for p in packets(pg_db, sid)] == ["session_not_found"]


def test_a_silent_router_fails_the_effect_after_its_attempts_and_a_retry_succeeds_once_it_answers(
    pg_db, freeradius, router
):
    plan = add_plan(pg_db, "Fibra 100", 100_000, 50_000)
    cid, sid = add_customer(pg_db, 0, "roteador.mudo", plan)
    connect(freeradius, "roteador.mudo", "bb01", "100.64.0.30")
    router.policy = "silent"

    move(pg_db, cid, CustomerEvent.INACTIVATE, "customer_request")
    effect = session_effects(pg_db, sid)[-1]
    while (state := carry_out(pg_db, [effect.id])) == ["pending"]:
        pass
    assert state == ["failed"]
    failed = session_effects(pg_db, sid)[-1]
    assert failed.attempts == 3
    assert f"disconnect timeout: no answer from {ROUTER_ADDRESS} (session bb01)" in failed.last_error
    assert [p.outcome for p in packets(pg_db, sid)] == ["timeout"] * 3

    router.policy = "ack"
    with pg_db.write() as session:
        effects.retry_effect(session, effect.id, "operador")
    assert carry_out(pg_db, [effect.id]) == ["done"]
    assert session_effects(pg_db, sid)[-1].note == f"disconnect ACK from {ROUTER_ADDRESS} (session bb01)"
    assert [p.outcome for p in packets(pg_db, sid)] == ["timeout"] * 3 + ["ack"]


def test_a_wrong_secret_in_the_router_row_is_rejected_by_the_router_and_the_effect_is_not_done(
    pg_db, freeradius, router
):
    with pg_db.write() as session:
        session.execute(Router.__table__.update().values(secret="outro-segredo-errado"))
    plan = add_plan(pg_db, "Fibra 100", 100_000, 50_000)
    cid, sid = add_customer(pg_db, 0, "segredo.errado", plan)
    connect(freeradius, "segredo.errado", "cc01", "100.64.0.40")

    move(pg_db, cid, CustomerEvent.INACTIVATE, "customer_request")

    assert router.accepted == []
    assert router.rejected and router.rejected[0].reason == "bad request authenticator"
    effect = session_effects(pg_db, sid)[-1]
    assert effect.state == "pending" and "timeout" in effect.last_error
    assert "outro-segredo-errado" not in effect.last_error

    # One effect alone, the way tools carry one out: the same failure, recorded the same way.
    assert effects.carry_out_effect(pg_db, effect.id, SETTINGS, Outbound(SETTINGS)).state == "pending"
    assert session_effects(pg_db, sid)[-1].attempts == 2
    assert [p.outcome for p in packets(pg_db, sid)] == ["timeout", "timeout"]
    assert all("outro-segredo-errado" not in (p.detail or "") for p in packets(pg_db, sid))


def test_a_session_on_an_unknown_router_fails_naming_its_address(pg_db, freeradius, router):
    plan = add_plan(pg_db, "Fibra 100", 100_000, 50_000)
    cid, sid = add_customer(pg_db, 0, "roteador.novo", plan)
    connect(freeradius, "roteador.novo", "dd01", "100.64.0.50", nas_ip="10.0.0.9")

    move(pg_db, cid, CustomerEvent.INACTIVATE, "customer_request")
    effect = session_effects(pg_db, sid)[-1]
    while carry_out(pg_db, [effect.id]) == ["pending"]:
        pass

    failed = session_effects(pg_db, sid)[-1]
    assert failed.state == "failed"
    assert "no router registered for 10.0.0.9" in failed.last_error
    assert {p.outcome for p in packets(pg_db, sid)} == {"no_router"}
    assert router.accepted == []


def test_a_plan_change_sends_a_coa_with_the_new_rate_and_a_coa_nak_falls_back_to_a_disconnect(
    pg_db, freeradius, router
):
    slow = add_plan(pg_db, "Fibra 100", 100_000, 50_000)
    fast = add_plan(pg_db, "Fibra 300", 300_000, 150_000)
    faster = add_plan(pg_db, "Fibra 600", 600_000, 300_000)
    _, sid = add_customer(pg_db, 0, "troca.plano", slow)
    connect(freeradius, "troca.plano", "ee01", "100.64.0.60")

    with pg_db.write() as session:
        customer_services.update_service(session, sid, plan_id=fast)
    carry_out(pg_db, pending_ids(pg_db))

    [coa] = router.accepted
    assert coa.kind == "coa"
    assert coa.first("Mikrotik-Rate-Limit") == "150000k/300000k"
    assert coa.first("Acct-Session-Id") == "ee01"
    effect = session_effects(pg_db, sid)[-1]
    assert (effect.name, effect.state) == ("radius_coa", "done")
    assert effect.note == f"CoA ACK from {ROUTER_ADDRESS} (session ee01)"
    assert access_request(freeradius, "troca.plano")["Mikrotik-Rate-Limit"] == ["150000k/300000k"]

    router.policy = "coa_nak"
    with pg_db.write() as session:
        customer_services.update_service(session, sid, plan_id=faster)
    carry_out(pg_db, pending_ids(pg_db))

    assert [r.kind for r in router.accepted] == ["coa", "coa", "disconnect"]
    assert router.accepted[1].first("Mikrotik-Rate-Limit") == "300000k/600000k"
    effect = session_effects(pg_db, sid)[-1]
    assert effect.state == "done"
    assert effect.note == f"CoA NAK from {ROUTER_ADDRESS}, disconnect ACK instead (session ee01)"
    assert [(p.kind, p.outcome) for p in packets(pg_db, sid)] == [("coa", "ack"), ("disconnect", "ack")]


def test_an_old_coa_for_a_service_blocked_since_becomes_a_disconnect(pg_db, freeradius, router):
    slow = add_plan(pg_db, "Fibra 100", 100_000, 50_000)
    fast = add_plan(pg_db, "Fibra 300", 300_000, 150_000)
    cid, sid = add_customer(pg_db, 0, "coa.atrasado", slow)
    connect(freeradius, "coa.atrasado", "ff01", "100.64.0.70")
    with pg_db.write() as session:
        customer_services.update_service(session, sid, plan_id=fast)
    [coa_effect] = pending_ids(pg_db)

    move(pg_db, cid, CustomerEvent.INACTIVATE, "customer_request")
    carry_out(pg_db, [coa_effect])

    assert [r.kind for r in router.accepted] == ["disconnect", "disconnect"]
    assert "Mikrotik-Rate-Limit" not in router.accepted[1].attributes


def test_reject_mode_refuses_a_blocked_login_with_the_portuguese_message(pg_db, freeradius, router):
    reject = settings(radius_block_mode="reject")
    sync(pg_db, reject)
    plan = add_plan(pg_db, "Fibra 100", 100_000, 50_000)
    sync(pg_db, reject)
    cid, _ = add_customer(pg_db, 0, "bloqueio.total", plan)

    move(pg_db, cid, CustomerEvent.INACTIVATE, "customer_request", reject)

    refused = access_request(freeradius, "bloqueio.total")
    assert refused.code == packet.AccessReject
    assert refused["Reply-Message"] == [BLOCKED_MESSAGE]
    move(pg_db, cid, CustomerEvent.ACTIVATE, "payment_received", reject)
    assert access_request(freeradius, "bloqueio.total")["Mikrotik-Rate-Limit"] == ["50000k/100000k"]


def radius_rows(db: Database, statement: str, **params) -> list[tuple]:
    with db.write() as session:
        result = session.execute(text(statement), params)
        return [tuple(row) for row in result] if result.returns_rows else []


@pytest.mark.parametrize(
    "tamper",
    [
        "UPDATE radusergroup SET groupname = 'ativa_plano_999' WHERE username = 'mexido'",
        "INSERT INTO radusergroup (username, groupname, priority) VALUES ('mexido', 'ativa_bloqueado', 0)",
        "DELETE FROM radusergroup WHERE username = 'mexido'",
        "UPDATE radcheck SET value = 'outra' WHERE username = 'mexido'",
    ],
    ids=["changed-group", "second-row", "missing-row", "password"],
)
def test_the_reconciler_repairs_a_hand_edited_login_and_queues_a_disconnect(pg_db, tamper):
    plan = add_plan(pg_db, "Fibra 100", 100_000, 50_000)
    _, sid = add_customer(pg_db, 0, "mexido", plan)
    _, other = add_customer(pg_db, 1, "intacto", plan)
    assert reconcile_radius(pg_db, SETTINGS).logins == []
    radius_rows(pg_db, tamper)

    created = effects.reconcile(pg_db, settings=SETTINGS)

    assert groups(pg_db, "mexido") == [f"ativa_plano_{plan}"]
    assert radius_rows(pg_db, "SELECT attribute, value FROM radcheck WHERE username = 'mexido'") == [
        ("Cleartext-Password", PASSWORD)
    ]
    [queued] = [e for e in session_effects(pg_db, sid) if e.origin == "reconciler"]
    assert created == [queued.id] and queued.name == "radius_disconnect"
    assert [e.origin for e in session_effects(pg_db, other)] == ["service"]
    assert reconcile_radius(pg_db, SETTINGS).logins == []


def test_the_reconciler_rewrites_a_group_whose_attributes_were_edited(pg_db):
    plan = add_plan(pg_db, "Fibra 100", 100_000, 50_000)
    radius_rows(pg_db, "UPDATE radgroupreply SET value = '1k/1k' WHERE attribute = 'Mikrotik-Rate-Limit'")
    radius_rows(pg_db, "DELETE FROM radgroupreply WHERE groupname = 'ativa_bloqueado'")

    repair = reconcile_radius(pg_db, SETTINGS)

    assert repair.groups_rewritten
    assert sorted(
        radius_rows(pg_db, "SELECT groupname, value FROM radgroupreply WHERE attribute LIKE 'Mikrotik%'")
    ) == [
        ("ativa_bloqueado", "ativa_bloqueados"),
        (f"ativa_plano_{plan}", "50000k/100000k"),
        (f"ativa_plano_{plan}_aviso", "50000k/100000k"),
        (f"ativa_plano_{plan}_aviso", "ativa_aviso"),
        (f"ativa_plano_{plan}_reduzido", "25000k/50000k"),
    ]
    assert not reconcile_radius(pg_db, SETTINGS).groups_rewritten


def test_the_reconciler_checks_many_logins_with_a_few_statements(pg_db):
    plan = add_plan(pg_db, "Fibra 100", 100_000, 50_000)
    with pg_db.write() as session:
        cid = customers.create_customer(session, customers.CustomerDraft("Muitos", VALID_CPFS[0])).id
        session.execute(
            Service.__table__.insert(),
            [
                {
                    "customer_id": cid,
                    "name": "Fibra",
                    "status": "active",
                    "login": f"login{i}",
                    "login_key": f"login{i}",
                    "radius_password": PASSWORD,
                    "plan_id": plan,
                    "created_at": utcnow(),
                    "updated_at": utcnow(),
                }
                for i in range(3000)
            ],
        )
    statements: list[str] = []
    listener = lambda conn, cursor, statement, *rest: statements.append(statement)  # noqa: E731
    event.listen(pg_db.engine, "before_cursor_execute", listener)
    try:
        repair = reconcile_radius(pg_db, SETTINGS)
    finally:
        event.remove(pg_db.engine, "before_cursor_execute", listener)

    assert len(repair.logins) == 3000
    assert groups(pg_db, "login2999") == [f"ativa_plano_{plan}"]
    assert len(statements) < 40


def test_concurrent_blocks_and_payments_leave_one_group_row_per_login_matching_the_final_status(pg_db):
    plan = add_plan(pg_db, "Fibra 100", 100_000, 50_000)
    people = [add_customer(pg_db, n, f"concorrente{n}", plan) for n in range(4)]
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)  # noqa: S311 - an order of events, not a secret
        try:
            for _ in range(12):
                cid, _ = rng.choice(people)
                event = rng.choice([CustomerEvent.INACTIVATE, CustomerEvent.ACTIVATE])
                reason = "customer_request" if event is CustomerEvent.INACTIVATE else "payment_received"
                try:
                    move(pg_db, cid, event, reason)
                except Exception as error:
                    if "not allowed" not in str(error) and "already" not in str(error):
                        raise
                carry_out(pg_db, pending_ids(pg_db))
        except BaseException as error:  # noqa: BLE001 - reported by the test's thread
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    carry_out(pg_db, pending_ids(pg_db))

    with pg_db.read() as session:
        services = {s.login: s.status for s in session.scalars(select(Service))}
    for login, status in services.items():
        expected = f"ativa_plano_{plan}" if status == "active" else "ativa_bloqueado"
        assert groups(pg_db, login) == [expected], login
    assert reconcile_radius(pg_db, SETTINGS).logins == []


def test_separate_mode_writes_the_group_in_the_radius_database_from_the_effect(
    pg_db, router, radius_database_url, monkeypatch
):
    monkeypatch.setenv("ATIVA_RADIUS_DATABASE_URL", radius_database_url)
    get_settings.cache_clear()
    separate = settings(radius_database_url=radius_database_url)
    try:
        plan = add_plan(pg_db, "Fibra 100", 100_000, 50_000)
        sync(pg_db, separate)
        with pg_db.write() as session:
            cid = customers.create_customer(session, customers.CustomerDraft("Separado", VALID_CPFS[0])).id
        with pg_db.write() as session:
            sid = customer_services.add_service(
                session, cid, "Fibra", "sep-1", customer_services.Access("separado", PASSWORD, plan)
            ).id
        assert groups(pg_db, "separado") == []  # nothing in the main database
        carry_out(pg_db, pending_ids(pg_db), separate)
        radius_db = Database(radius_database_url)
        assert groups(radius_db, "separado") == [f"ativa_plano_{plan}"]
        radius_rows(
            radius_db,
            "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, framedipaddress, acctstarttime)"
            " VALUES ('ab12', 'u-ab12', 'separado', :nas, '100.64.1.1', now())",
            nas=ROUTER_ADDRESS,
        )

        move(pg_db, cid, CustomerEvent.INACTIVATE, "customer_request", separate)

        assert groups(radius_db, "separado") == ["ativa_bloqueado"]
        assert groups(pg_db, "separado") == []
        [request] = router.accepted
        assert (request.kind, request.first("Acct-Session-Id"), request.first("User-Name")) == (
            "disconnect",
            "ab12",
            "separado",
        )
        assert session_effects(pg_db, sid)[-1].state == "done"
        radius_rows(radius_db, "UPDATE radusergroup SET groupname = 'ativa_plano_1234'")
        assert reconcile_radius(pg_db, separate).logins == ["separado"]
        assert groups(radius_db, "separado") == ["ativa_bloqueado"]
        radius_db.dispose()
    finally:
        get_settings.cache_clear()


def test_metrics_count_the_packets_by_kind_and_outcome(pg_db, freeradius, router):
    from fastapi.testclient import TestClient

    from tests.e2e.api_support import metric_sample
    from workflow.application import create_app
    from workflow.usecases.tokens import create_token

    plan = add_plan(pg_db, "Fibra 100", 100_000, 50_000)
    first, _ = add_customer(pg_db, 0, "metrica.um", plan)
    second, _ = add_customer(pg_db, 1, "metrica.dois", plan)
    connect(freeradius, "metrica.um", "m001", "100.64.2.1")
    connect(freeradius, "metrica.dois", "m002", "100.64.2.2")
    move(pg_db, first, CustomerEvent.INACTIVATE, "customer_request")
    router.policy = "session_not_found"
    move(pg_db, second, CustomerEvent.INACTIVATE, "customer_request")

    with pg_db.write() as session:
        token = create_token(session, "metricas", "admin")[1]
    app = create_app(Settings(database_url=pg_db.url), pg_db)
    with TestClient(app) as client:
        body = client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).text

    assert metric_sample(body, "ativa_radius_packets_total", kind="disconnect", outcome="ack") == 1
    assert metric_sample(body, "ativa_radius_packets_total", kind="disconnect", outcome="session_not_found") == 1
    assert ROUTER_SECRET not in body


def test_a_sweep_message_cuts_its_customers_together_and_sends_their_disconnects_together(pg_db, freeradius, router):
    plan = add_plan(pg_db, "Fibra 100", 100_000, 50_000)
    people = [add_customer(pg_db, n, f"lote{n}", plan) for n in range(3)]
    for n, _ in enumerate(people):
        connect(freeradius, f"lote{n}", f"l00{n}", f"100.64.3.{n + 1}")
    ids: list[int] = []
    for cid, _ in people:
        with pg_db.write() as session:
            outcome = transitions.transition_customer(
                session,
                cid,
                CustomerEvent.INACTIVATE,
                TransitionRequest("customer_request", None, actor_role=Role.OPERATOR),
                transitions.Actor("t", Role.OPERATOR),
                Source.API,
            )
            ids += [e.id for e in outcome.effects]

    carry_out(pg_db, ids)  # one message, as the sweep publishes its batch

    assert sorted(r.first("Acct-Session-Id") for r in router.accepted) == ["l000", "l001", "l002"]
    for n, (_, sid) in enumerate(people):
        assert groups(pg_db, f"lote{n}") == ["ativa_bloqueado"]
        assert session_effects(pg_db, sid)[-1].note == f"disconnect ACK from {ROUTER_ADDRESS} (session l00{n})"
