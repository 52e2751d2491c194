"""A real FreeRADIUS for tests: Ativa's shipped configuration (deploy/freeradius), built by its install
script in a temporary directory, started in the foreground (`freeradius -X`) on 127.0.0.1 with free
ports, against a given PostgreSQL database. Not a test module: conftest.py and tests import it.

The test client (127.0.0.1) is known to FreeRADIUS the way routers are in production: a row of the
`nas` table, read when FreeRADIUS starts (`read_clients = yes`).
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from pyrad import packet
from pyrad.client import Client, Timeout
from pyrad.dictionary import Dictionary
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
INSTALL_SCRIPT = ROOT / "deploy" / "freeradius" / "install.sh"
DICTIONARY = ROOT / "workers" / "connectors" / "radius_dictionary" / "dictionary"
STOCK_DIR = Path("/etc/freeradius/3.0")
STOCK_SCHEMA = STOCK_DIR / "mods-config" / "sql" / "main" / "postgresql" / "schema.sql"
POSTGRESQL_DRIVER = Path("/usr/lib/freeradius/rlm_sql_postgresql.so")
TEST_CLIENT_SECRET = "segredo-dos-testes-radius"
# `nas.description` of the test client: not 'ativa', so Ativa's router mirror leaves the row alone.
TEST_CLIENT_DESCRIPTION = "ativa-tests"
STARTUP_SECONDS = 30
LOG_TAIL_LINES = 200


def freeradius_binary() -> str | None:
    """Debian's binary is `freeradius` (upstream's `radiusd`), in /usr/sbin (not on every PATH)."""
    return shutil.which("freeradius") or shutil.which("freeradius", path="/usr/sbin:/usr/local/sbin")


def missing_freeradius() -> str | None:
    """Why FreeRADIUS cannot run here with Ativa's configuration, or None."""
    if freeradius_binary() is None:
        return "no freeradius binary (Debian package freeradius)"
    if not POSTGRESQL_DRIVER.exists():
        return f"no {POSTGRESQL_DRIVER} (Debian package freeradius-postgresql)"
    if not os.access(STOCK_DIR / "radiusd.conf", os.R_OK):
        return f"{STOCK_DIR} is not readable by this user (run as root or in the group freerad)"
    return None


def psycopg_dsn(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_freeradius_tables(database_url: str) -> None:
    """FreeRADIUS's tables, from Debian's stock schema (idempotent: CREATE ... IF NOT EXISTS).
    The one place to swap for workflow.db.radius_tables.create_radius_schema."""
    with psycopg.connect(psycopg_dsn(database_url), autocommit=True) as conn:
        conn.execute(STOCK_SCHEMA.read_text())


def register_test_client(database_url: str, address: str, secret: str) -> None:
    """The test client as a `nas` row (replacing an earlier one for the same address)."""
    with psycopg.connect(psycopg_dsn(database_url), autocommit=True) as conn:
        conn.execute("DELETE FROM nas WHERE nasname = %s AND description = %s", (address, TEST_CLIENT_DESCRIPTION))
        conn.execute(
            "INSERT INTO nas (nasname, shortname, type, secret, description) VALUES (%s, %s, 'other', %s, %s)",
            (address, "tests", secret, TEST_CLIENT_DESCRIPTION),
        )


def free_udp_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def freeradius_environment(database_url: str, host: str, auth_port: int, acct_port: int) -> dict[str, str]:
    """The variables Ativa's configuration reads (deploy/freeradius/mods-available/sql and
    sites-available/ativa). The password goes in PGPASSWORD: libpq reads it, while FreeRADIUS's debug
    output prints RADIUS_DB_PASSWORD in its connection line."""
    url = make_url(database_url)
    environment = {
        **os.environ,
        "RADIUS_DB_HOST": url.host or "",
        "RADIUS_DB_PORT": str(url.port or ""),
        "RADIUS_DB_USER": url.username or "",
        "RADIUS_DB_PASSWORD": "",
        "RADIUS_DB_NAME": url.database or "",
        "RADIUS_LISTEN_ADDRESS": host,
        "RADIUS_AUTH_PORT": str(auth_port),
        "RADIUS_ACCT_PORT": str(acct_port),
    }
    if url.password:
        environment["PGPASSWORD"] = url.password
    return environment


@dataclass(frozen=True)
class RadiusServer:
    """A running FreeRADIUS: where to send requests, the test client's secret, its debug log."""

    host: str
    auth_port: int
    acct_port: int
    secret: str
    log_path: Path

    @contextmanager
    def client(self, timeout: float = 3, retries: int = 2) -> Iterator[Client]:
        """A pyrad client signing with the test client's secret (Message-Authenticator on
        Access-Requests by default); its socket is closed on exit."""
        client = Client(
            server=self.host,
            authport=self.auth_port,
            acctport=self.acct_port,
            secret=self.secret.encode(),
            dict=Dictionary(str(DICTIONARY)),
        )
        client.timeout = timeout
        client.retries = retries
        try:
            yield client
        finally:
            client._CloseSocket()  # pyrad has no public close

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as error:
            return f"(no FreeRADIUS log: {error})"
        return "\n".join(text.splitlines()[-lines:])


def answers_status_server(server: RadiusServer) -> bool:
    with server.client(timeout=0.5, retries=1) as client:
        try:
            reply = client.SendPacket(client.CreateAuthPacket(code=packet.StatusServer))
        except (Timeout, OSError):
            return False
    return reply.code == packet.AccessAccept


def _start(command: list[str], environment: dict[str, str], log_path: Path) -> subprocess.Popen:
    with log_path.open("wb") as log:
        return subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_ready(process: subprocess.Popen, server: RadiusServer) -> bool:
    """True once it answers a Status-Server; False if it exited (e.g. a port taken meanwhile)."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if "Ready to process requests" in server.log_path.read_text(errors="replace") and answers_status_server(server):
            return True
        time.sleep(0.2)
    _stop(process)
    raise RuntimeError(f"FreeRADIUS did not answer within {STARTUP_SECONDS}s:\n{server.log_tail()}")


@contextmanager
def running_freeradius(
    database_url: str, *, host: str = "127.0.0.1", secret: str = TEST_CLIENT_SECRET
) -> Iterator[RadiusServer]:
    """FreeRADIUS with Ativa's configuration against `database_url` (which must hold FreeRADIUS's
    tables), answering the test client `host` with `secret`; stopped on exit."""
    missing = missing_freeradius()
    binary = freeradius_binary()
    if missing or binary is None:
        raise FileNotFoundError(f"FreeRADIUS cannot run: {missing}")
    register_test_client(database_url, host, secret)
    # Not pytest's tmp_path (mode 0700 under /tmp/pytest-of-root): FreeRADIUS switches to the user
    # freerad, which must traverse this directory and read the configuration.
    workdir = Path(tempfile.mkdtemp(prefix="ativa-freeradius-"))
    try:
        workdir.chmod(0o755)
        confdir = workdir / "raddb"
        installed = subprocess.run([str(INSTALL_SCRIPT), str(confdir)], capture_output=True, text=True)
        if installed.returncode != 0:
            raise RuntimeError(f"{INSTALL_SCRIPT.name} failed: {installed.stderr.strip()}")
        for _attempt in range(3):
            server = RadiusServer(host, free_udp_port(host), free_udp_port(host), secret, workdir / "freeradius.log")
            environment = freeradius_environment(database_url, host, server.auth_port, server.acct_port)
            process = _start([binary, "-X", "-f", "-d", str(confdir)], environment, server.log_path)
            if _wait_until_ready(process, server):
                break
        else:
            raise RuntimeError(f"FreeRADIUS exited at start:\n{server.log_tail()}")
        try:
            yield server
        finally:
            _stop(process)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# Every FreeRADIUS table a test writes; not `nas`, whose clients FreeRADIUS read at start.
ROW_TABLES = ("radcheck", "radreply", "radgroupcheck", "radgroupreply", "radusergroup", "radacct", "radpostauth")


def empty_freeradius_rows(database_url: str) -> None:
    with psycopg.connect(psycopg_dsn(database_url), autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(ROW_TABLES)} RESTART IDENTITY")


def send_accounting(
    server: RadiusServer,
    status: str,
    *,
    login: str,
    session_id: str,
    framed_ip: str,
    nas_ip: str = "127.0.0.1",
    **attributes: object,
) -> packet.Packet:
    """An Accounting-Request as a router sends it (status: Start, Interim-Update, Stop); returns the
    Accounting-Response. A Start leaves an open session in radacct (acctstoptime NULL), the way a
    connected customer has one."""
    with server.client() as client:
        request = client.CreateAcctPacket(
            User_Name=login,
            Acct_Status_Type=status,
            Acct_Session_Id=session_id,
            NAS_IP_Address=nas_ip,
            NAS_Port_Id="pppoe-tests",
            Framed_IP_Address=framed_ip,
            **attributes,
        )
        return client.SendPacket(request)
