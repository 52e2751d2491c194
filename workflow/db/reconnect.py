"""Lost database connections: noticed before use when possible, and a request run once more when
it lost its connection before it committed anything.

A PostgreSQL connection dies in the pool when the server ends it (`pg_terminate_backend`, a
restart, a failover, an idle timeout of a proxy): the next statement on it fails. Two defences,
neither costing a round trip on the happy path:

- at checkout, a pooled connection whose socket is readable while it sat idle has been closed
  by the server (or sent something we never asked for): the pool replaces it. One poll(2) call,
  about 2 µs, where `pool_pre_ping` would cost a round trip per checkout;
- a request whose connection dies under it (a race the check cannot close, or a connection lost
  mid-transaction) is run again once, if no write unit of it reached COMMIT, or if the units that
  did are guarded by an Idempotency-Key (which replays the stored answer when the COMMIT went
  through). A write unit whose COMMIT failed may or may not have committed: without a key, it is
  never run again.
"""

import select
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from sqlalchemy import Engine, event
from sqlalchemy.exc import DBAPIError, DisconnectionError


def replace_connections_closed_by_the_server(engine: Engine) -> None:
    @event.listens_for(engine, "checkout")
    def _check(dbapi_connection, _record, _proxy):
        try:
            poller = select.poll()  # not select(): no limit on the descriptor's number
            poller.register(dbapi_connection.fileno(), select.POLLIN)
            readable = bool(poller.poll(0))
        except (OSError, ValueError, AttributeError) as error:  # closed already
            raise DisconnectionError(f"the pooled connection is unusable ({error})") from error
        if readable:
            raise DisconnectionError("the server closed this pooled connection")


@dataclass
class RequestUnits:
    """What the write units of one request did, as far as running it again is concerned."""

    committed: bool = False  # a write unit reached COMMIT outside an idempotency guard
    guarded: bool = False  # the units now running are guarded by an Idempotency-Key

    @property
    def repeatable(self) -> bool:
        return not self.committed


_current: ContextVar[RequestUnits | None] = ContextVar("ativa_request_units", default=None)


@contextmanager
def tracking() -> Iterator[RequestUnits]:
    """Follow the write units of one request (threads it hands work to see the same record)."""
    units = RequestUnits()
    token = _current.set(units)
    try:
        yield units
    finally:
        _current.reset(token)


@contextmanager
def guarded_by_idempotency_key() -> Iterator[None]:
    """Units that record an Idempotency-Key with their change: running them again is safe."""
    units = _current.get()
    if units is None:
        yield
        return
    before, units.guarded = units.guarded, True
    try:
        yield
    finally:
        units.guarded = before


def reaching_commit() -> None:
    """Called by a write unit just before its COMMIT."""
    units = _current.get()
    if units is not None and not units.guarded:
        units.committed = True


def lost_connection(error: BaseException) -> bool:
    """Whether the error, or one it was raised from, is a database connection found dead."""
    seen = 0
    current: BaseException | None = error
    while current is not None and seen < 5:
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        current = current.__cause__ or current.__context__
        seen += 1
    return False
