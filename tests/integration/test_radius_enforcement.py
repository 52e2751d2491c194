"""RADIUS enforcement end to end on PostgreSQL: the rows Ativa writes answered by a real FreeRADIUS,
open sessions the router reported through it (accounting), and the session effects sending
CoA/Disconnect requests to a fake router (a real UDP server on 127.0.0.2) through the pipeline a
worker runs (effects.process_effects with the workers' Deliver)."""

from collections.abc import Iterator

import pytest
from pyrad import packet
from sqlalchemy import select, text

from tests.conftest import VALID_CPFS
from tests.freeradius_support import RadiusServer, send_accounting
from tests.radius_router_support import FakeRouter
from workers.connectors.outbound import Outbound
from workflow.db.engine import Database
from workflow.db.models import OutboxEffect, Plan, RadiusPacket, Router
from workflow.db.types import utcnow
from workflow.domain.customer_machine import TransitionRequest
from workflow.domain.vocabulary import CustomerEvent, Role, Source
from workflow.settings import Settings
from workflow.usecases import customer_services, customers, effects, transitions
from workflow.usecases.radius import enforcement

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
