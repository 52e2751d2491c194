"""Shared by the benchmarks: a throwaway PostgreSQL database, and alternating transitions."""

import uuid

import psycopg
from sqlalchemy.engine import make_url

from workflow.domain.vocabulary import CustomerEvent


def event_for(k: int) -> CustomerEvent:
    return CustomerEvent.INACTIVATE if k % 2 == 0 else CustomerEvent.ACTIVATE


def psycopg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_database(admin_url: str) -> tuple[str, str]:
    """A fresh database `ativa_bench_<random>` on the server of `admin_url`: (name, url)."""
    name = f"ativa_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(psycopg_dsn(admin_url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    return name, url


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(psycopg_dsn(admin_url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
