"""Ativa creates FreeRADIUS's tables exactly as FreeRADIUS 3.2's own PostgreSQL schema does, so a
stock FreeRADIUS with its stock queries reads them: same tables, columns, types, defaults' presence
and indexes. Compared against Debian's schema.sql loaded into a database of its own."""

import uuid

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.freeradius_support import STOCK_SCHEMA, psycopg_dsn
from workflow.db.engine import Database
from workflow.db.radius_tables import RADIUS_TABLES, create_radius_schema

_COLUMNS = """
SELECT table_name, column_name, data_type, is_nullable, column_default IS NOT NULL, character_maximum_length
FROM information_schema.columns WHERE table_schema = 'public' AND table_name = ANY(%s)
ORDER BY table_name, ordinal_position
"""
_INDEXES = """
SELECT tablename, lower(indexname), regexp_replace(lower(indexdef), '^.* using ', '')
FROM pg_indexes WHERE schemaname = 'public' AND tablename = ANY(%s) ORDER BY 1, 2
"""
# Ativa's own, beside FreeRADIUS's: open sessions by login, and by address (the notice page).
OWN_INDEXES = {
    "ativa_radacct_open_login": "btree (lower(username)) where (acctstoptime is null)",
    "ativa_radacct_open_address": "btree (framedipaddress) where (acctstoptime is null)",
}


def _describe(url: str) -> tuple[list, list]:
    with psycopg.connect(psycopg_dsn(url)) as conn:
        tables = sorted(RADIUS_TABLES)
        return conn.execute(_COLUMNS, (tables,)).fetchall(), conn.execute(_INDEXES, (tables,)).fetchall()


@pytest.fixture
def empty_database(postgres_url):
    name = f"ativa_radius_schema_{uuid.uuid4().hex[:8]}"
    admin = psycopg_dsn(postgres_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_tables_match_freeradius_own_schema(postgres_url, empty_database):
    if not STOCK_SCHEMA.exists():
        pytest.fail(f"{STOCK_SCHEMA} is missing: install Debian's freeradius-postgresql")
    with psycopg.connect(psycopg_dsn(empty_database), autocommit=True) as conn:
        conn.execute(STOCK_SCHEMA.read_text())
    stock_columns, stock_indexes = _describe(empty_database)
    ours_columns, ours_indexes = _describe(postgres_url)  # created by create_radius_schema
    assert {t for t, *_ in stock_columns} == RADIUS_TABLES
    assert ours_columns == stock_columns
    assert [i for i in ours_indexes if i[1] not in OWN_INDEXES] == stock_indexes
    for name, definition in OWN_INDEXES.items():
        assert ("radacct", name, definition) in ours_indexes


def test_an_existing_freeradius_database_gets_ativas_own_indexes(empty_database):
    with psycopg.connect(psycopg_dsn(empty_database), autocommit=True) as conn:
        conn.execute(STOCK_SCHEMA.read_text())
    database = Database(empty_database)
    try:
        create_radius_schema(database.engine)
        create_radius_schema(database.engine)  # again: nothing to do
    finally:
        database.dispose()
    _, indexes = _describe(empty_database)
    assert {(name, definition) for _, name, definition in indexes} >= set(OWN_INDEXES.items())


def test_creating_them_again_keeps_their_rows(pg_db):
    with pg_db.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO radcheck (username, attribute, op, value) VALUES ('kept', 'x', ':=', 'y')")
    create_radius_schema(pg_db.engine)
    with pg_db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM radcheck WHERE username = 'kept'").scalar() == 1


def test_they_can_live_in_a_database_of_their_own(empty_database):
    database = Database(empty_database)
    try:
        create_radius_schema(database.engine)
    finally:
        database.dispose()
    columns, _ = _describe(empty_database)
    assert {t for t, *_ in columns} == RADIUS_TABLES
