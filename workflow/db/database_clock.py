"""One clock for every host: the database's.

Effect claims and the scheduler's lease are timestamps written by one host and compared by
another; a worker whose clock runs a minute fast would take over claims still held. On
PostgreSQL each process measures how far its clock is from the server's (on a connection's
checkout, at most every CLOCK_CHECK_SECONDS) and `utcnow()` corrects for it. SQLite runs on one
host: nothing to measure.
"""

import logging
import time
from datetime import UTC, timedelta

from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError

from . import types

CLOCK_CHECK_SECONDS = 300.0
# Below this the difference is the measurement's own noise (half a round trip): left at zero.
NEGLIGIBLE = timedelta(milliseconds=20)
WARN_ABOVE = timedelta(seconds=1)

logger = logging.getLogger(__name__)


def measure_offset(dbapi_connection, samples: int = 3) -> timedelta:
    """This host's clock minus the database's, taken at the middle of the quickest of a few
    round trips (the uncertainty is half a round trip)."""
    best = None
    cursor = dbapi_connection.cursor()
    try:
        for _ in range(samples):
            before = types._host_clock()
            cursor.execute("SELECT clock_timestamp()")
            database_now = cursor.fetchone()[0]
            after = types._host_clock()
            if best is None or after - before < best[0]:
                best = (after - before, before + (after - before) / 2 - _aware(database_now))
    finally:
        cursor.close()
    if best is None:
        raise ValueError("samples must be at least 1")
    return best[1]


def _aware(moment):
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def follow_database_clock(engine: Engine) -> None:
    last_check = [float("-inf")]

    @event.listens_for(engine, "checkout")
    def _check(dbapi_connection, _record, _proxy):
        if time.monotonic() - last_check[0] < CLOCK_CHECK_SECONDS:
            return
        try:
            offset = measure_offset(dbapi_connection)
        except Exception:  # the real work decides; the clock is read later
            logger.debug("could not read the database's clock; trying on the next checkout", exc_info=True)
            offset = None
        try:
            dbapi_connection.rollback()  # end the transaction the measurement opened, failed or not
        except Exception as error:
            # The connection is broken: the pool replaces it and tries another.
            raise DisconnectionError("connection lost while reading the database's clock") from error
        if offset is None:
            return
        last_check[0] = time.monotonic()
        if abs(offset) < NEGLIGIBLE:
            offset = timedelta(0)
        elif abs(offset) > WARN_ABOVE:
            logger.warning(
                "this host's clock is %.1f s %s the database's; Ativa follows the database's",
                abs(offset.total_seconds()),
                "ahead of" if offset > timedelta(0) else "behind",
            )
        types.set_clock_offset(offset)


def measure_now(engine: Engine) -> None:
    """Measure at start-up, before the first claim is timed; a database that is down now is
    measured at its first checkout later."""
    try:
        with engine.connect():
            pass
    except SQLAlchemyError:
        logger.debug("database unreachable at start-up; its clock is read on the first checkout")
