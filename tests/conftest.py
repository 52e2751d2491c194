"""Shared fixtures: a migrated database on SQLite and on PostgreSQL, API clients per role.

With ATIVA_REQUIRE_SERVICES=1 (CI) a missing PostgreSQL fails the run instead of skipping.
"""

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tests import freeradius_support
from workflow.db import migrate
from workflow.db.engine import Database
from workflow.db.models import Base, Invoice
from workflow.db.radius_tables import RADIUS_TABLES, create_radius_schema
from workflow.db.types import utcnow
from workflow.domain.vocabulary import InvoiceStatus, Role

REQUIRE_SERVICES = os.environ.get("ATIVA_REQUIRE_SERVICES") == "1"
# In-process code that publishes effects (CLI tests) must not fill the checkout's ./var broker.
os.environ["ATIVA_DATA_DIR"] = tempfile.mkdtemp(prefix="ativa-tests-")
for _name in [
    n
    for n in os.environ
    if n.startswith("ATIVA_")
    and n not in ("ATIVA_DATA_DIR", "ATIVA_REQUIRE_SERVICES", "ATIVA_TEST_POSTGRES_URL", "ATIVA_TEST_REDIS_URL")
]:
    del os.environ[_name]
POSTGRES_ADMIN_URL = os.environ.get("ATIVA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
VALID_CPFS = ["52998224725", "11144477735", "39053344705", "15350946056", "71428793860"]
VALID_CNPJ = "11222333000181"


def cpf(n: int) -> str:
    """A valid CPF number for customer n (the check digits computed as the Receita does)."""
    digits = [int(d) for d in f"{100000000 + n * 7919:09d}"[-9:]]
    for length in (9, 10):
        total = sum(d * w for d, w in zip(digits, range(length + 1, 1, -1), strict=True))
        digits.append(0 if total % 11 < 2 else 11 - total % 11)
    return "".join(map(str, digits))


def service_missing(what: str, error: Exception):
    message = f"{what} is not reachable ({error})"
    if REQUIRE_SERVICES:
        pytest.fail(f"ATIVA_REQUIRE_SERVICES=1 but {message}")
    pytest.skip(f"{message}; set ATIVA_REQUIRE_SERVICES=1 to make this an error")


def _psycopg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def radius_database_url(postgres_url) -> Iterator[str]:
    """A second PostgreSQL database holding FreeRADIUS's tables (RADIUS in a database of its own)."""
    from workflow.usecases.radius import enforcement

    name = f"ativa_radius_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_psycopg_dsn(POSTGRES_ADMIN_URL), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    database = Database(url)
    create_radius_schema(database.engine)
    database.dispose()
    yield url
    enforcement._radius_database.cache_clear()
    with psycopg.connect(_psycopg_dsn(POSTGRES_ADMIN_URL), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway database on the PostgreSQL server, migrated once for the session."""
    name = f"ativa_test_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(_psycopg_dsn(POSTGRES_ADMIN_URL), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as error:
        service_missing("PostgreSQL", error)
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    database = Database(url)
    migrate.upgrade(database.engine)
    create_radius_schema(database.engine)  # RADIUS is on by default on PostgreSQL
    database.dispose()
    yield url
    with psycopg.connect(_psycopg_dsn(POSTGRES_ADMIN_URL), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def freeradius_database_url(postgres_url) -> str:
    """FreeRADIUS reads the session's test database: its tables in Ativa's own database, the default."""
    return postgres_url


@pytest.fixture(scope="session")
def freeradius(freeradius_database_url) -> Iterator[freeradius_support.RadiusServer]:
    """A real FreeRADIUS with Ativa's configuration (deploy/freeradius) on 127.0.0.1, free ports,
    reading `freeradius_database_url`; the test client is 127.0.0.1 with `.secret`."""
    missing = freeradius_support.missing_freeradius()
    if missing:
        service_missing("FreeRADIUS", FileNotFoundError(missing))
    with freeradius_support.running_freeradius(freeradius_database_url) as server:
        yield server


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test that used FreeRADIUS shows the end of its debug log."""
    report = yield
    server = getattr(item, "funcargs", {}).get("freeradius")
    if report.failed and isinstance(server, freeradius_support.RadiusServer):
        report.sections.append(("FreeRADIUS log (end)", server.log_tail()))
    return report


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("template") / "ativa.db"
    database = Database(f"sqlite:///{path}")
    migrate.upgrade(database.engine)
    with database.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    database.dispose()
    return str(path)


def _truncate_all(database: Database) -> None:
    tables = ", ".join([t.name for t in Base.metadata.sorted_tables] + sorted(RADIUS_TABLES))
    with database.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


def empty_tables(database: Database) -> None:
    """Every table emptied, on either database: for a test that runs many examples on one fixture."""
    if database.engine.dialect.name == "postgresql":
        _truncate_all(database)
        return
    with database.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


def _sqlite_copy(tmp_path, sqlite_template) -> Database:
    path = tmp_path / "ativa.db"
    shutil.copy(sqlite_template, path)
    return Database(f"sqlite:///{path}")


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path, sqlite_template) -> Iterator[Database]:
    """A migrated, empty database: once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        database = _sqlite_copy(tmp_path, sqlite_template)
    else:
        database = Database(request.getfixturevalue("postgres_url"))
        _truncate_all(database)
    yield database
    database.dispose()


@pytest.fixture
def sqlite_db(tmp_path, sqlite_template) -> Iterator[Database]:
    database = _sqlite_copy(tmp_path, sqlite_template)
    yield database
    database.dispose()


@pytest.fixture
def pg_db(postgres_url) -> Iterator[Database]:
    database = Database(postgres_url)
    _truncate_all(database)
    yield database
    database.dispose()


def add_invoice(
    database: Database,
    customer_id: int,
    *,
    days_overdue: int,
    amount: str = "99.90",
    status: InvoiceStatus = InvoiceStatus.OPEN,
    today: date | None = None,
) -> int:
    """An invoice due `days_overdue` days before today (negative: due in the future)."""
    from workflow.usecases.business_day import provider_today

    due = (today or provider_today()) - timedelta(days=days_overdue)
    with database.write() as session:
        invoice = Invoice(
            external_id=f"inv-{uuid.uuid4().hex[:12]}",
            customer_id=customer_id,
            amount=Decimal(amount),
            due_date=due,
            status=status.value,
            created_at=utcnow(),
            updated_at=utcnow(),
        )
        session.add(invoice)
        session.flush()
        return invoice.id


@dataclass
class ApiClient:
    """A TestClient over the real app and database, with one token per role."""

    client: object
    tokens: dict[Role, str]
    db: Database

    def headers(self, role: Role = Role.ADMIN, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}", **extra}

    def get(self, path, role=Role.ADMIN, **kw):
        return self.client.get(path, headers=self.headers(role, **kw.pop("headers", {})), **kw)

    def post(self, path, role=Role.ADMIN, **kw):
        return self.client.post(path, headers=self.headers(role, **kw.pop("headers", {})), **kw)

    def patch(self, path, role=Role.ADMIN, **kw):
        return self.client.patch(path, headers=self.headers(role, **kw.pop("headers", {})), **kw)

    def delete(self, path, role=Role.ADMIN, **kw):
        return self.client.delete(path, headers=self.headers(role, **kw.pop("headers", {})), **kw)

    def new_customer(self, n: int = 0, **fields) -> dict:
        body = {"name": f"Cliente {n}", "document": VALID_CPFS[n], **fields}
        response = self.post("/api/v1/customers", json=body)
        assert response.status_code == 201, response.text
        return response.json()


@pytest.fixture
def api(db) -> Iterator[ApiClient]:
    from fastapi.testclient import TestClient

    from workflow.application import create_app
    from workflow.settings import Settings
    from workflow.usecases.tokens import create_token

    with db.write() as session:
        tokens = {role: create_token(session, f"test-{role.value}", role.value)[1] for role in Role}
    app = create_app(Settings(database_url=db.url, max_body_bytes=65536), db)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield ApiClient(client, tokens, db)
