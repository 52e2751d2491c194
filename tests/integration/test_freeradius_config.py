"""Ativa's FreeRADIUS configuration (deploy/freeradius) in a real FreeRADIUS: the rows Ativa writes
(one radcheck password, one radusergroup row per login, group check/reply rows) give the answers a
router acts on, and accounting from the router leaves the open sessions Ativa reads."""

import hashlib
import os
from collections.abc import Iterator

import psycopg
import pytest
from pyrad import packet

from tests.freeradius_support import RadiusServer, empty_freeradius_rows, psycopg_dsn, send_accounting

pytestmark = pytest.mark.postgres

LOGIN = "Cliente.Teste@ativa"
PASSWORD = "s3nha-do-cliente"
PLAN_GROUP = "ativa_plano_1"
BLOCKED_GROUP = "ativa_bloqueado"
CANCELLED_GROUP = "ativa_cancelado"
CANCELLED_MESSAGE = "Serviço cancelado."


class RadiusRows:
    """Hand-written SQL, the rows as Ativa writes them."""

    def __init__(self, database_url: str):
        self.dsn = psycopg_dsn(database_url)

    def query(self, statement: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            cursor = conn.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def add_login(self, login: str, password: str, group: str) -> None:
        self.query(
            "INSERT INTO radcheck (username, attribute, op, value) VALUES (%s, 'Cleartext-Password', ':=', %s)",
            (login, password),
        )
        self.query("INSERT INTO radusergroup (username, groupname, priority) VALUES (%s, %s, 1)", (login, group))

    def move_login(self, login: str, group: str) -> None:
        self.query("UPDATE radusergroup SET groupname = %s WHERE username = %s", (group, login))

    def add_groups(self) -> None:
        replies = [
            (PLAN_GROUP, "Mikrotik-Rate-Limit", "10000k/50000k"),
            (BLOCKED_GROUP, "Mikrotik-Address-List", "ativa_bloqueados"),
            (CANCELLED_GROUP, "Reply-Message", CANCELLED_MESSAGE),
        ]
        for group, attribute, value in replies:
            self.query(
                "INSERT INTO radgroupreply (groupname, attribute, op, value) VALUES (%s, %s, ':=', %s)",
                (group, attribute, value),
            )
        self.query(
            "INSERT INTO radgroupcheck (groupname, attribute, op, value) VALUES (%s, 'Auth-Type', ':=', 'Reject')",
            (CANCELLED_GROUP,),
        )


@pytest.fixture
def rows(freeradius_database_url) -> Iterator[RadiusRows]:
    empty_freeradius_rows(freeradius_database_url)
    radius_rows = RadiusRows(freeradius_database_url)
    radius_rows.add_groups()
    yield radius_rows


def access_request(server: RadiusServer, login: str, password: str) -> packet.Packet:
    with server.client() as client:
        request = client.CreateAuthPacket(User_Name=login, NAS_IP_Address="127.0.0.1", NAS_Port_Id="pppoe-tests")
        request["User-Password"] = request.PwCrypt(password)
        return client.SendPacket(request)


def chap_request(server: RadiusServer, login: str, password: str) -> packet.Packet:
    """CHAP as a PPPoE concentrator sends it: the reason Ativa keeps passwords in clear text."""
    challenge, chap_id = os.urandom(16), b"\x07"
    with server.client() as client:
        request = client.CreateAuthPacket(User_Name=login, NAS_IP_Address="127.0.0.1")
        request["CHAP-Challenge"] = challenge
        request["CHAP-Password"] = chap_id + hashlib.md5(chap_id + password.encode() + challenge).digest()  # noqa: S324 (CHAP is MD5)
        return client.SendPacket(request)


def test_a_login_on_a_plan_is_accepted_with_the_plan_rate(freeradius, rows):
    rows.add_login(LOGIN, PASSWORD, PLAN_GROUP)

    reply = access_request(freeradius, LOGIN, PASSWORD)

    assert reply.code == packet.AccessAccept
    assert reply["Mikrotik-Rate-Limit"] == ["10000k/50000k"]
    assert "Mikrotik-Address-List" not in reply


def test_chap_is_accepted_with_the_stored_password(freeradius, rows):
    rows.add_login(LOGIN, PASSWORD, PLAN_GROUP)

    assert chap_request(freeradius, LOGIN, PASSWORD).code == packet.AccessAccept
    assert chap_request(freeradius, LOGIN, "outra-senha").code == packet.AccessReject


def test_a_blocked_login_is_accepted_into_the_address_list_without_a_rate(freeradius, rows):
    rows.add_login(LOGIN, PASSWORD, BLOCKED_GROUP)

    reply = access_request(freeradius, LOGIN, PASSWORD)

    assert reply.code == packet.AccessAccept
    assert reply["Mikrotik-Address-List"] == ["ativa_bloqueados"]
    assert "Mikrotik-Rate-Limit" not in reply


def test_a_reject_group_rejects_with_its_portuguese_message(freeradius, rows):
    rows.add_login(LOGIN, PASSWORD, CANCELLED_GROUP)

    reply = access_request(freeradius, LOGIN, PASSWORD)

    assert reply.code == packet.AccessReject
    assert reply["Reply-Message"] == [CANCELLED_MESSAGE]
    assert "Mikrotik-Rate-Limit" not in reply


def test_a_wrong_password_or_unknown_login_is_rejected_and_no_password_is_logged(freeradius, rows):
    rows.add_login(LOGIN, PASSWORD, PLAN_GROUP)

    wrong_password = access_request(freeradius, LOGIN, "senha-errada")
    unknown_login = access_request(freeradius, "ninguem", PASSWORD)
    other_case = access_request(freeradius, LOGIN.lower(), PASSWORD)

    assert wrong_password.code == packet.AccessReject
    assert "Mikrotik-Rate-Limit" not in wrong_password
    assert unknown_login.code == packet.AccessReject
    # The stock queries match user names exactly: Ativa writes the login as the router sends it.
    assert other_case.code == packet.AccessReject
    logged = rows.query("SELECT username, pass, reply FROM radpostauth ORDER BY id")
    assert [(username, reply) for username, _, reply in logged] == [
        (LOGIN, "Access-Reject"),
        ("ninguem", "Access-Reject"),
        (LOGIN.lower(), "Access-Reject"),
    ]
    assert {password for _, password, _ in logged} == {""}


def test_a_group_change_applies_to_the_next_request_without_a_restart(freeradius, rows):
    rows.add_login(LOGIN, PASSWORD, PLAN_GROUP)
    assert access_request(freeradius, LOGIN, PASSWORD)["Mikrotik-Rate-Limit"] == ["10000k/50000k"]

    rows.move_login(LOGIN, BLOCKED_GROUP)
    blocked = access_request(freeradius, LOGIN, PASSWORD)
    rows.move_login(LOGIN, CANCELLED_GROUP)
    cancelled = access_request(freeradius, LOGIN, PASSWORD)
    rows.move_login(LOGIN, PLAN_GROUP)
    restored = access_request(freeradius, LOGIN, PASSWORD)

    assert (blocked.code, blocked["Mikrotik-Address-List"]) == (packet.AccessAccept, ["ativa_bloqueados"])
    assert "Mikrotik-Rate-Limit" not in blocked
    assert cancelled.code == packet.AccessReject
    assert (restored.code, restored["Mikrotik-Rate-Limit"]) == (packet.AccessAccept, ["10000k/50000k"])
    assert "Mikrotik-Address-List" not in restored


def test_accounting_start_opens_a_session_and_stop_closes_it(freeradius, rows):
    rows.add_login(LOGIN, PASSWORD, PLAN_GROUP)
    session = {"login": LOGIN, "session_id": "81a00001", "framed_ip": "100.64.0.10"}

    started = send_accounting(freeradius, "Start", **session)
    open_rows = rows.query(
        "SELECT username, acctsessionid, host(nasipaddress), host(framedipaddress), acctstoptime FROM radacct"
    )
    stopped = send_accounting(
        freeradius,
        "Stop",
        **session,
        Acct_Session_Time=300,
        Acct_Input_Octets=1000,
        Acct_Output_Octets=5000,
        Acct_Terminate_Cause="User-Request",
    )
    closed_rows = rows.query(
        "SELECT acctstoptime IS NOT NULL, acctsessiontime, acctinputoctets, acctoutputoctets, acctterminatecause "
        "FROM radacct"
    )

    assert started.code == stopped.code == packet.AccountingResponse
    assert open_rows == [(LOGIN, "81a00001", "127.0.0.1", "100.64.0.10", None)]
    assert closed_rows == [(True, 300, 1000, 5000, "User-Request")]


def test_sessions_of_two_logins_stay_apart(freeradius, rows):
    rows.add_login(LOGIN, PASSWORD, PLAN_GROUP)
    rows.add_login("outro.cliente", PASSWORD, BLOCKED_GROUP)

    send_accounting(freeradius, "Start", login=LOGIN, session_id="81a00002", framed_ip="100.64.0.11")
    send_accounting(freeradius, "Start", login="outro.cliente", session_id="81a00003", framed_ip="100.64.0.12")
    send_accounting(freeradius, "Stop", login="outro.cliente", session_id="81a00003", framed_ip="100.64.0.12")

    open_sessions = rows.query("SELECT username, acctsessionid FROM radacct WHERE acctstoptime IS NULL")
    assert open_sessions == [(LOGIN, "81a00002")]


def test_only_ativa_listens_on_the_configured_address_and_ports(freeradius):
    """The stock default (1812/1813 on every address), inner-tunnel (127.0.0.1:18120) and proxy
    listeners stay off: a second FreeRADIUS or the router's own ports are not taken by surprise."""
    log = freeradius.log_path.read_text(errors="replace")

    listening = [line for line in log.splitlines() if line.startswith("Listening on")]

    assert listening == [
        f"Listening on auth address 127.0.0.1 port {freeradius.auth_port} bound to server ativa",
        f"Listening on acct address 127.0.0.1 port {freeradius.acct_port} bound to server ativa",
    ]


def test_an_interim_update_whose_start_was_lost_opens_the_session(freeradius, rows):
    """A router that lost its Start (FreeRADIUS down at the time) still leaves an open session."""
    rows.add_login(LOGIN, PASSWORD, PLAN_GROUP)

    send_accounting(
        freeradius, "Interim-Update", login=LOGIN, session_id="81a00004", framed_ip="100.64.0.13", Acct_Session_Time=60
    )

    open_sessions = rows.query(
        "SELECT username, acctsessionid, host(framedipaddress) FROM radacct WHERE acctstoptime IS NULL"
    )
    assert open_sessions == [(LOGIN, "81a00004", "100.64.0.13")]


def test_accounting_on_from_a_rebooted_router_closes_its_open_sessions(freeradius, rows):
    rows.add_login(LOGIN, PASSWORD, PLAN_GROUP)
    send_accounting(freeradius, "Start", login=LOGIN, session_id="81a00005", framed_ip="100.64.0.14")

    with freeradius.client() as client:
        reply = client.SendPacket(
            client.CreateAcctPacket(Acct_Status_Type="Accounting-On", NAS_IP_Address="127.0.0.1", Acct_Session_Id="0")
        )

    assert reply.code == packet.AccountingResponse
    assert rows.query("SELECT acctsessionid FROM radacct WHERE acctstoptime IS NULL") == []
