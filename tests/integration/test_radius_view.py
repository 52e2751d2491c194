"""What the customer page and `ativa radius check` read about a login: FreeRADIUS's group rows beside
the group Ativa wants, the open sessions (from a real FreeRADIUS's accounting) with the router's
name, the last CoA/Disconnect packet; on SQLite, only login and plan. Never the password."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert

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
from workflow.db.radius_tables import radusergroup
from workflow.domain.errors import NotFound
from workflow.domain.vocabulary import ServiceEvent
from workflow.settings import Settings, get_settings
from workflow.usecases import customer_services
from workflow.usecases.radius import view


def network_of(db, customer_id):
    with db.read() as session:
        return view.customer_network(session, get_settings(), customer_id)


@pytest.mark.postgres
def test_a_login_shows_its_plan_group_and_the_session_freeradius_opened(pg_db, freeradius):
    seeded = seed_customer_with_login(pg_db)
    reply = send_accounting(
        freeradius, "Start", login=LOGIN, session_id="81a00001", framed_ip=FRAMED_IP, nas_ip=ROUTER_ADDRESS
    )
    assert reply.code == 5  # Accounting-Response: the row is in radacct

    network = network_of(pg_db, seeded.customer_id)[seeded.service_id]
    assert (network.login, network.plan.name) == (LOGIN, "Fibra 50")
    assert (network.plan.download_kbps, network.plan.upload_kbps) == (50_000, 10_000)
    assert network.groups == (f"ativa_plano_{seeded.plan_id}",) == (network.wanted_group,)
    assert not network.diverges
    [session] = network.sessions
    assert (session.router_address, session.router_name, session.framed_ip) == (ROUTER_ADDRESS, ROUTER_NAME, FRAMED_IP)
    assert session.since is not None and session.acct_session_id == "81a00001"
    assert PASSWORD not in repr(network)

    send_accounting(freeradius, "Stop", login=LOGIN, session_id="81a00001", framed_ip=FRAMED_IP, nas_ip=ROUTER_ADDRESS)
    assert network_of(pg_db, seeded.customer_id)[seeded.service_id].sessions == ()


@pytest.mark.postgres
def test_a_duplicate_group_row_or_a_stale_group_shows_as_divergent(pg_db):
    seeded = seed_customer_with_login(pg_db)
    with pg_db.write_core() as conn:
        conn.execute(insert(radusergroup).values(username=LOGIN, groupname="ativa_bloqueado", priority=2))
    network = network_of(pg_db, seeded.customer_id)[seeded.service_id]
    assert network.groups == (f"ativa_plano_{seeded.plan_id}", "ativa_bloqueado") and network.diverges

    with pg_db.write() as session:  # suspending rewrites the login's rows: one row, the blocked group
        customer_services.change_service(session, seeded.service_id, ServiceEvent.SUSPEND, "teste")
    network = network_of(pg_db, seeded.customer_id)[seeded.service_id]
    assert network.groups == ("ativa_bloqueado",) == (network.wanted_group,) and not network.diverges


@pytest.mark.postgres
def test_sessions_of_an_unknown_router_and_the_last_packet_of_each_service(pg_db):
    seeded = seed_customer_with_login(pg_db)
    open_session(pg_db, LOGIN, "s-1", datetime(2026, 11, 30, 15, 0, tzinfo=UTC), nas_ip="10.9.9.9")
    record_packet(pg_db, seeded, "coa", "ack", datetime(2026, 11, 30, 14, 0, tzinfo=UTC))
    record_packet(pg_db, seeded, "disconnect", "timeout", datetime(2026, 11, 30, 15, 0, tzinfo=UTC))

    network = network_of(pg_db, seeded.customer_id)[seeded.service_id]
    [session] = network.sessions
    assert (session.router_address, session.router_name) == ("10.9.9.9", None)
    assert (network.last_packet.kind, network.last_packet.outcome) == ("disconnect", "timeout")


def test_on_sqlite_radius_is_off_and_only_login_and_plan_show(sqlite_db):
    seeded = seed_customer_with_login(sqlite_db)
    network = network_of(sqlite_db, seeded.customer_id)[seeded.service_id]
    assert (network.login, network.plan.name, network.radius_on) == (LOGIN, "Fibra 50", False)
    assert network.groups == () and network.sessions == () and not network.diverges
    with sqlite_db.read() as session, pytest.raises(view.RadiusOff):
        view.check_login(session.connection(), get_settings(), LOGIN)


@pytest.mark.postgres
def test_check_login_tells_accept_with_the_plan_rate_then_reject_once_cancelled(pg_db):
    seeded = seed_customer_with_login(pg_db)
    open_session(pg_db, LOGIN, "s-2", datetime(2026, 11, 30, 15, 0, tzinfo=UTC))
    with pg_db.read() as session:
        found = view.check_login(session.connection(), get_settings(), LOGIN)
    assert (found.answer, found.password_set, found.service_id) == ("accept", True, seeded.service_id)
    [group] = found.groups
    assert group.name == f"ativa_plano_{seeded.plan_id}" and group.check == ()
    assert ("Mikrotik-Rate-Limit", "10000k/50000k") in [(a.name, a.value) for a in group.reply]
    assert [s.router_name for s in found.sessions] == [ROUTER_NAME]
    assert PASSWORD not in repr(found)

    with pg_db.write() as session:
        customer_services.change_service(session, seeded.service_id, ServiceEvent.CANCEL)
    with pg_db.read() as session:
        found = view.check_login(session.connection(), get_settings(), LOGIN)
    assert found.answer == "reject" and [g.name for g in found.groups] == ["ativa_cancelado"]
    assert ("Auth-Type", "Reject") in [(a.name, a.value) for a in found.groups[0].check]


@pytest.mark.postgres
def test_check_login_of_an_unknown_login_is_not_found(pg_db):
    with pg_db.read() as session, pytest.raises(NotFound):
        view.check_login(session.connection(), get_settings(), "ninguem")


@pytest.mark.postgres
def test_a_radius_database_of_its_own_that_does_not_answer_leaves_login_and_plan(pg_db):
    seeded = seed_customer_with_login(pg_db)
    settings = Settings(database_url=pg_db.url, radius_database_url="postgresql+psycopg://postgres@127.0.0.1:1/radius")
    with pg_db.read() as session:
        network = view.customer_network(session, settings, seeded.customer_id)[seeded.service_id]
    assert (network.login, network.plan.name, network.unreachable, network.diverges) == (LOGIN, "Fibra 50", True, False)
