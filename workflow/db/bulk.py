"""Insert many rows of one table in one go, on SQLite and PostgreSQL.

A multi-row VALUES insert of hundreds of rows is one huge statement whose placeholders psycopg
rewrites on the client (slower than the database's whole work), and executemany is one statement
per row for the server. On PostgreSQL one INSERT … SELECT unnest(<one array per column>) is short
whatever the row count and writes every row in one statement (a column with one value in every row
is bound once, not as an array); SQLite, in process, takes executemany.
"""

from collections.abc import Sequence
from functools import lru_cache

from sqlalchemy import BindParameter, Connection, Insert, Table, bindparam, cast, func, insert, select
from sqlalchemy.dialects.postgresql import ARRAY


def id_list(name: str, value: list | None = None) -> BindParameter:
    """The values of an IN over integer ids (or tuples of them), written into the SQL as literals:
    a few hundred placeholders cost psycopg more to rewrite on the client than the query costs the
    server, and integers need no quoting."""
    return bindparam(name, value, expanding=True, literal_execute=True)


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict]) -> None:
    """Insert `rows` (dicts with the same keys: column names) into `table`."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(insert(table), list(rows))
        return
    first = rows[0]
    same = tuple(name for name in first if all(row[name] == first[name] for row in rows))
    varying = tuple(name for name in first if name not in same)
    values = {name: first[name] for name in same} | {name: [row[name] for row in rows] for name in varying}
    conn.execute(_unnest_insert(table, varying, same), values)


@lru_cache(maxsize=32)
def _unnest_insert(table: Table, varying: tuple[str, ...], same: tuple[str, ...]) -> Insert:
    # Set-returning functions side by side in one SELECT list advance in step (PostgreSQL 10+), and
    # a plain value beside them is repeated on every row. Each cast names the type, which a NULL
    # (or an array of NULLs) does not carry.
    columns = [
        *(
            func.unnest(cast(bindparam(name, type_=ARRAY(table.c[name].type)), ARRAY(table.c[name].type)))
            for name in varying
        ),
        *(cast(bindparam(name, type_=table.c[name].type), table.c[name].type) for name in same),
    ]
    return insert(table).from_select([*varying, *same], select(*columns))
