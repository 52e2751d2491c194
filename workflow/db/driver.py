"""Hot statements run on the driver's cursor: compiled once, without SQLAlchemy's per-call work.

`Connection.execute` of a compiled-cached statement still costs about 60–100 µs of client CPU per
statement (execution context, parameter processing, result metadata): more than psycopg spends
sending the statement and reading its answer. For the few statements every transition runs, a
`DriverStatement` compiles the Core statement once per dialect, keeps the SQL text and the
values the statement carries (literals bound by SQLAlchemy), and runs it on the DBAPI cursor of
the unit's connection. Column result processors (UTCDateTime's) still apply, and a driver error
goes through SQLAlchemy's own handling: wrapped as a DBAPIError, and a lost connection
invalidated, exactly as for any statement (workflow/db/reconnect.py relies on that).

PostgreSQL only (psycopg's named parameters; on SQLite, whose UTCDateTime binds need processing
and whose driver is in-process anyway, `rows` is plain `Connection.execute`), and only for
statements whose bound values need no bind processing beyond the driver's: plain strings, numbers,
booleans, dates and aware datetimes (UTCDateTime on PostgreSQL stores what it is given; a naive one
is refused here as its bind check would) and lists of those. What these statements skip: the
engine's `before/after_cursor_execute` events and `echo` logging do not see them.

It reads SQLAlchemy's compiled statement (`_result_columns`, `bind_names`, the types' cached result
processors) and error handling (`Connection._handle_dbapi_exception`): internals, held still by the
`<2.1` pin and checked by tests/integration/test_transition_write_paths.py.
"""

from collections import namedtuple
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler


class DriverStatement:
    """A Core statement ready to run on the driver's cursor (one compilation per dialect)."""

    def __init__(self, statement: ClauseElement, row_name: str = "Row"):
        self.statement = statement
        self.row_name = row_name
        self._compiled: dict[type, tuple] = {}  # per dialect class (its paramstyle and casts)

    def _for(self, conn: Connection) -> tuple:
        dialect = conn.dialect
        ready = self._compiled.get(type(dialect))
        if ready is None:
            compiled = cast(SQLCompiler, self.statement.compile(dialect=dialect))
            if compiled.positional:
                raise TypeError(f"{dialect.name}: a DriverStatement needs named parameters")
            carried = {
                compiled.bind_names[bind]: bind.effective_value
                for bind in compiled.binds.values()
                # A value the statement carries, None included (`.values(column=None)`); a bindparam
                # without one (required) is the caller's to give.
                if not bind.required and not bind.callable
            }
            columns = [(name, type_) for _key, name, _objects, type_ in compiled._result_columns or ()]
            processors = tuple(type_._cached_result_processor(dialect, None) for _, type_ in columns)
            row = namedtuple(self.row_name, [name for name, _ in columns], rename=True) if columns else None
            convert = any(processors)
            ready = (compiled.string, carried, row, processors if convert else None)
            self._compiled[type(dialect)] = ready
        return ready

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list:
        """Run the statement in the connection's transaction; its rows (named tuples, or
        SQLAlchemy rows off PostgreSQL: both have attributes and _asdict()), if any."""
        return rows_in_turn(conn, [(self, params)])[0]

    def _ready(self, conn: Connection, params: Mapping[str, Any]) -> tuple[str, Mapping[str, Any], Any, Any]:
        sql, carried, row, processors = self._for(conn)
        parameters = {**carried, **params} if carried else params
        for name, value in parameters.items():
            if isinstance(value, datetime) and value.tzinfo is None:
                # UTCDateTime's bind check, which the driver's cursor skips: never store local time.
                raise ValueError(f"{name}: a naive datetime ({value!r}); times are timezone-aware UTC")
        return sql, parameters, row, processors

    @staticmethod
    def _rows_of(fetched: Sequence[Any], row: Any, processors: Any) -> list:
        if processors is None:
            return [row._make(values) for values in fetched]
        return [
            row._make(
                [
                    value if convert is None else convert(value)
                    for convert, value in zip(processors, values, strict=True)
                ]
            )
            for values in fetched
        ]


def rows_in_turn(conn: Connection, runs: list[tuple[DriverStatement, Mapping[str, Any]]]) -> list[list]:
    """Run statements one after the other in the connection's transaction; the rows of each.

    On PostgreSQL they go out together (psycopg's pipeline mode): one round trip for all of them,
    and for the BEGIN that opens the transaction, instead of one each. The server still runs them
    in turn, each with its own snapshot: a statement after a row lock sees what was committed
    before the lock was granted, as if it had been sent on its own."""
    if conn.dialect.name != "postgresql":
        results = [conn.execute(cast(Executable, statement.statement), params) for statement, params in runs]
        return [list(result.all()) if result.returns_rows else [] for result in results]
    if not conn.in_transaction():
        # Connection.execute would begin one; the driver's cursor would not, and the pool's
        # rollback on return would silently discard what these statements wrote.
        raise RuntimeError("a DriverStatement runs inside a transaction (Database.write/read)")
    ready = [statement._ready(conn, params) for statement, params in runs]
    dbapi_connection = conn.connection.dbapi_connection
    if dbapi_connection is None:  # only a closed or invalidated connection has none
        raise RuntimeError("a DriverStatement needs an open connection")
    cursors = [dbapi_connection.cursor() for _ in ready]
    sql, parameters, cursor = ready[0][0], ready[0][1], cursors[0]
    try:
        if len(ready) == 1:
            cursor.execute(sql, parameters)
        else:
            with dbapi_connection.pipeline():
                for (sql, parameters, _row, _processors), cursor in zip(ready, cursors, strict=True):
                    cursor.execute(sql, parameters)
        fetched = [
            cursor.fetchall() if row is not None else []
            for (_s, _p, row, _c), cursor in zip(ready, cursors, strict=True)
        ]
    except BaseException as error:  # noqa: BLE001 - handled (and re-raised) as SQLAlchemy does
        # As Connection.execute does: a driver error wrapped, the connection invalidated if it
        # was lost (or if an exit exception interrupted the statement), anything else re-raised.
        conn._handle_dbapi_exception(error, sql, parameters, cursor, None)
    finally:
        for each in cursors:
            each.close()
    return [
        DriverStatement._rows_of(rows, row, processors)
        for rows, (_s, _p, row, processors) in zip(fetched, ready, strict=True)
    ]
