"""Hosts with wrong clocks still agree on claims and leases: they follow PostgreSQL's clock."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from tests.integration.effects_support import pending_effects
from workflow.db import types
from workflow.db.engine import Database
from workflow.settings import Settings
from workflow.usecases import effects, leases

SETTINGS = Settings()  # claims of ATIVA_EFFECT_CLAIM_SECONDS (default 60 s)


@pytest.fixture
def fast_host(monkeypatch):
    """From here on this process is a host whose clock runs ten minutes ahead."""
    monkeypatch.setattr(types, "_host_clock", lambda: datetime.now(UTC) + timedelta(minutes=10))
    yield
    monkeypatch.undo()
    types.set_clock_offset(timedelta(0))  # what this (true) host measures anyway


def _database_now(db: Database) -> datetime:
    with db.read() as session:
        return session.execute(text("SELECT clock_timestamp()")).scalar_one()


def test_a_host_ten_minutes_fast_reads_the_database_clock(pg_db, fast_host):
    skewed = Database(pg_db.url)  # a process started on that host
    try:
        assert abs(types.utcnow() - _database_now(skewed)) < timedelta(seconds=1)
    finally:
        skewed.dispose()


def test_a_claim_held_elsewhere_is_not_taken_by_a_host_whose_clock_runs_ahead(pg_db, fast_host):
    # Claimed on a host with the right clock, for 30 s.
    types.set_clock_offset(timedelta(minutes=10))  # the right clock, while _host_clock runs ahead
    effect_id = pending_effects(pg_db)[0]
    [claim] = effects.claim_effects(pg_db, [effect_id], SETTINGS)
    assert isinstance(claim, effects.Claim)
    held = leases.acquire_or_renew(pg_db, "beat", "right-host", 30)
    assert held

    types.set_clock_offset(timedelta(0))  # the fast host, before it measured anything
    skewed = Database(pg_db.url)
    try:
        # Uncorrected, it would read the claim and the lease as ten minutes expired.
        assert effects.claim_effects(skewed, [effect_id], SETTINGS) == [effects.RunResult(effect_id, effects.BUSY)]
        assert leases.acquire_or_renew(skewed, "beat", "fast-host", 30) is False
    finally:
        skewed.dispose()


def test_a_failed_clock_reading_leaves_the_connection_usable(pg_db, monkeypatch):
    from workflow.db import database_clock

    def failing(dbapi_connection, samples=3):
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT 1 / 0")  # leaves the transaction aborted

    monkeypatch.setattr(database_clock, "measure_offset", failing)
    fresh = Database(pg_db.url)  # its first checkouts read the clock, and fail
    try:
        with fresh.read() as session:
            assert session.execute(text("SELECT 41 + 1")).scalar_one() == 42
    finally:
        fresh.dispose()
