"""Insert or update many rows of one table in one go, on SQLite and PostgreSQL.

A multi-row VALUES insert of hundreds of rows is one huge statement whose placeholders psycopg
rewrites on the client (slower than the database's whole work), and executemany is one statement
per row for the server. On PostgreSQL one INSERT … SELECT unnest(<one array per column>) (or
UPDATE … FROM such a SELECT) is short whatever the row count and writes every row in one statement
(a column with one value in every row is bound once, not as an array); SQLite, in process, takes
executemany.
"""

from collections.abc import Sequence
from functools import lru_cache

from sqlalchemy import BindParameter, Connection, Insert, Table, Update, bindparam, cast, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY


def id_list(name: str, value: list | None = None) -> BindParameter:
    """The values of an IN over integer ids (or tuples of them), written into the SQL as literals:
    a few hundred placeholders cost psycopg more to rewrite on the client than the query costs the
    server, and integers need no quoting."""
    return bindparam(name, value, expanding=True, literal_execute=True)


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict], returning: tuple[str, ...] = ()) -> list:
    """Insert `rows` (dicts with the same keys: column names) into `table`; with `returning`
    (column names), those columns of every row written, in no particular order."""
    if not rows:
        return []
    if conn.dialect.name != "postgresql":
        statement = insert(table)
        if returning:  # SQLite 3.35+: one INSERT … RETURNING per row, as executemany
            return list(conn.execute(statement.returning(*(table.c[n] for n in returning)), list(rows)))
        conn.execute(statement, list(rows))
        return []
    varying, same, values = _split(rows, ())
    statement = _unnest_insert(table, varying, same)
    if returning:
        return list(conn.execute(statement.returning(*(table.c[n] for n in returning)), values))
    conn.execute(statement, values)
    return []


def update_rows(conn: Connection, table: Table, key: str, rows: Sequence[dict]) -> None:
    """UPDATE `table` SET every other column of each row WHERE `key` = the row's `key` (dicts with
    the same keys: column names; `key` unique in the rows)."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(_each_update(table, key, tuple(rows[0])), [{f"_{n}": v for n, v in row.items()} for row in rows])
        return
    varying, same, values = _split(rows, (key,))
    conn.execute(_unnest_update(table, key, varying, same), {f"_{n}": v for n, v in values.items()})


def _split(rows: Sequence[dict], always_varying: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...], dict]:
    """(columns that vary, columns with one value in every row, the statement's parameters)."""
    first = rows[0]
    same = tuple(n for n in first if n not in always_varying and all(row[n] == first[n] for row in rows))
    varying = tuple(n for n in first if n not in same)
    return varying, same, {n: first[n] for n in same} | {n: [row[n] for row in rows] for n in varying}


def _unnested(table: Table, name: str, prefix: str = ""):
    # Each cast names the type, which a NULL (or an array of NULLs) does not carry.
    array = ARRAY(table.c[name].type)
    return func.unnest(cast(bindparam(prefix + name, type_=array), array))


def _one_value(table: Table, name: str, prefix: str = ""):
    return cast(bindparam(prefix + name, type_=table.c[name].type), table.c[name].type)


@lru_cache(maxsize=32)
def _unnest_insert(table: Table, varying: tuple[str, ...], same: tuple[str, ...]) -> Insert:
    # Set-returning functions side by side in one SELECT list advance in step (PostgreSQL 10+), and
    # a plain value beside them is repeated on every row.
    columns = [*(_unnested(table, n) for n in varying), *(_one_value(table, n) for n in same)]
    return insert(table).from_select([*varying, *same], select(*columns))


@lru_cache(maxsize=32)
def _unnest_update(table: Table, key: str, varying: tuple[str, ...], same: tuple[str, ...]) -> Update:
    # Parameters named apart from the columns (SQLAlchemy reserves the columns' own names in SET).
    rows = select(*(_unnested(table, n, "_").label(n) for n in varying)).subquery("v")
    return (
        update(table)
        .where(table.c[key] == rows.c[key])
        .values({n: rows.c[n] for n in varying if n != key} | {n: _one_value(table, n, "_") for n in same})
    )


@lru_cache(maxsize=32)
def _each_update(table: Table, key: str, names: tuple[str, ...]) -> Update:
    return (
        update(table)
        .where(table.c[key] == bindparam(f"_{key}"))
        .values({n: bindparam(f"_{n}") for n in names if n != key})
    )
