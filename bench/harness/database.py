"""Throwaway PostgreSQL databases on the server of an *admin* URL, dropped at the end; and the
command-line options that name the servers a benchmark uses."""

import argparse
import os
import sys
import uuid

import psycopg
from sqlalchemy.engine import make_url

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def psycopg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_database(admin_url: str) -> tuple[str, str]:
    """A fresh database `ativa_bench_<random>` on the server of `admin_url`: (name, url)."""
    name = f"ativa_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(psycopg_dsn(admin_url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, _url_of(admin_url, name)


def create_database_or_report(admin_url: str) -> tuple[str, str] | None:
    """`create_database`, or None after saying on stderr that the server is not reachable."""
    try:
        return create_database(admin_url)
    except psycopg.OperationalError as error:
        print(f"PostgreSQL is not reachable at {make_url(admin_url)!r}: {error}", file=sys.stderr)
        return None


def clone_database(admin_url: str, template: str) -> tuple[str, str]:
    """A file-level copy of `template` (no one may be connected to it): (name, url)."""
    name = f"{template}_base"
    with psycopg.connect(psycopg_dsn(admin_url), autocommit=True, connect_timeout=5) as conn:
        if conn.info.server_version >= 150000:  # no WAL for the copy
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY = FILE_COPY')
        else:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return name, _url_of(admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(psycopg_dsn(admin_url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_version(url: str) -> str:
    with psycopg.connect(psycopg_dsn(url)) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


def _url_of(admin_url: str, name: str) -> str:
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def add_database_url_argument(parser: argparse.ArgumentParser) -> None:
    """--database-url, as every benchmark takes it."""
    parser.add_argument(
        "--database-url",
        default=os.environ.get("ATIVA_BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL),
        help="admin URL of the PostgreSQL server to create the throwaway database(s) on",
    )


def add_redis_url_argument(parser: argparse.ArgumentParser, default: str) -> None:
    """--redis-url, for the benchmarks that run a worker (each its own default database)."""
    parser.add_argument(
        "--redis-url",
        default=default,
        help=f"Redis database used as broker; FLUSHDB at start and end (default {default})",
    )


def redis_or_report(url: str):
    """A client of the Redis database at `url`, or None after saying on stderr that it is not
    reachable."""
    import redis  # only the benchmarks that run a worker need it

    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as error:
        print(f"Redis is not reachable at {url!r}: {error}", file=sys.stderr)
        return None
    return client
