"""Set-based seeding for the benchmarks on PostgreSQL: INSERT ... SELECT over generate_series, with
the NOT NULL columns a benchmark does not know yet (the schema moves on) filled with a neutral value
of their type and named, so that a new column does not break every benchmark at once."""

import psycopg

# Every table's NOT NULL columns without a default that this script does not fill on purpose get a
# neutral value of their type (and are named in the output): the schema moves on.
NEUTRAL = {
    "integer": "0",
    "bigint": "0",
    "smallint": "0",
    "numeric": "0",
    "boolean": "false",
    "timestamp with time zone": "now()",
    "timestamp without time zone": "now()",
    "date": "current_date",
    "character varying": "''",
    "text": "''",
    "json": "'{}'",
    "jsonb": "'{}'",
}


def insert_select(
    conn: psycopg.Connection, table: str, values: dict[str, str], source: str, params: dict, extra: list[str]
) -> int:
    """INSERT INTO table (...) SELECT <values> FROM <source>; returns the rows written."""
    rows = conn.execute(
        "SELECT column_name, is_nullable, column_default, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    unknown = set(values) - {row[0] for row in rows}
    if unknown:
        raise RuntimeError(f"{table} has no column(s) {', '.join(sorted(unknown))}: update the benchmark")
    names, exprs = [], []
    for name, nullable, default, data_type in rows:
        if name in values:
            names.append(name)
            exprs.append(values[name])
        elif nullable == "NO" and default is None:
            if data_type not in NEUTRAL:
                raise RuntimeError(f"{table}.{name} ({data_type}) is NOT NULL: teach bench/harness/seeding.py a value")
            names.append(name)
            exprs.append(NEUTRAL[data_type])
            if f"{table}.{name}={NEUTRAL[data_type]}" not in extra:
                extra.append(f"{table}.{name}={NEUTRAL[data_type]}")
    cursor = conn.execute(f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(exprs)} FROM {source}", params)
    return cursor.rowcount
