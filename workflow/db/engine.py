"""Engine and unit of work.

SQLite has one writer at a time and ignores FOR UPDATE, so a read-then-write unit must take the
write lock when it begins (BEGIN IMMEDIATE); otherwise two transitions could both read "active".
PostgreSQL units lock the customer row with SELECT … FOR UPDATE instead.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from .database_clock import follow_database_clock, measure_now
from .reconnect import reaching_commit, replace_connections_closed_by_the_server

_WRITE_OPTION = "ativa_write_lock"


def make_engine(url: str, **kwargs) -> Engine:
    parsed = make_url(url)
    # A failed statement's message must not carry its values: they include service passwords and
    # router secrets, and messages end up in logs and on failed effects (last_error).
    kwargs.setdefault("hide_parameters", True)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", False)
        # At most 30 connections, as before (10 + 20 overflow), but all kept once opened: the
        # API's threads (anyio's 40) hold up to 30 under load, and overflow connections were
        # closed at every check-in and opened again by the next request (a PostgreSQL backend
        # started, its catalog caches and prepared statements lost, per request). Opened lazily:
        # a worker process that needs one connection still opens one.
        kwargs.setdefault("pool_size", 30)
        kwargs.setdefault("max_overflow", 0)
        engine = create_engine(url, **kwargs)
        replace_connections_closed_by_the_server(engine)
        follow_database_clock(engine)
        measure_now(engine)
        return engine

    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not the driver's legacy mode, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        write = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


class Database:
    """Holds the engine and hands out units of work (one transaction each)."""

    def __init__(self, url: str, **engine_kwargs):
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        self._write_engine = self.engine.execution_options(**{_WRITE_OPTION: True})
        self._writer = sessionmaker(self._write_engine, expire_on_commit=False)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reader() as session, session.begin():
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A unit of work that will write: commits on success, rolls back on any error."""
        with self._writer() as session, session.begin():
            yield session
            reaching_commit()

    @contextmanager
    def write_core(self) -> Iterator[Connection]:
        """A write unit on a bare connection, for hot paths of Core statements that publish
        nothing: no Session to build and tear down. Commits on success, rolls back on error."""
        with self._write_engine.begin() as connection:
            yield connection
            reaching_commit()

    def dispose(self) -> None:
        self.engine.dispose()


def is_unique_violation(error: IntegrityError) -> bool:
    """A unique key refused the row (PostgreSQL's SQLSTATE 23505, SQLite's UNIQUE constraint), as
    opposed to a foreign key, NOT NULL or check constraint."""
    if getattr(error.orig, "sqlstate", None) == "23505":
        return True
    return "UNIQUE constraint failed" in str(error.orig)
