"""Whether the whole pipeline works, for GET /readyz: the database answers, effects do not wait
(relay lag), a worker is alive (heartbeats) and a scheduler holds the lease."""

from dataclasses import dataclass

from sqlalchemy import text

from ..db.engine import Database
from ..db.types import utcnow
from ..settings import Settings
from . import heartbeats
from .metrics import relay_lag_seconds, scheduler_lease_seconds_left


@dataclass(frozen=True)
class Readiness:
    ready: bool
    problems: list[str]  # why not, one sentence each; empty when ready
    database: bool
    relay_lag_seconds: float | None
    workers_alive: int | None
    scheduler_lease_seconds_left: float | None

    def details(self) -> dict:
        return {
            "database": "ok" if self.database else "unreachable",
            "relay_lag_seconds": self.relay_lag_seconds,
            "workers_alive": self.workers_alive,
            "scheduler_lease_seconds_left": self.scheduler_lease_seconds_left,
        }


def database_answers(db: Database) -> bool:
    """For GET /healthz: whether this process can reach its database."""
    try:
        with db.read() as session:
            session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure to read means the database is not usable
        return False
    return True


def check(db: Database, settings: Settings) -> Readiness:
    try:
        with db.read() as session:
            session.execute(text("SELECT 1"))
            now = utcnow()
            lag = relay_lag_seconds(session, now)
            workers = heartbeats.live_workers(session, settings.worker_stale_seconds, now)
            lease_left = scheduler_lease_seconds_left(session, now)
    except Exception:  # noqa: BLE001 - any failure to read means the database is not usable
        return Readiness(
            ready=False,
            problems=["the database is unreachable"],
            database=False,
            relay_lag_seconds=None,
            workers_alive=None,
            scheduler_lease_seconds_left=None,
        )
    problems = []
    if lag > settings.ready_max_relay_lag_seconds:
        problems.append(
            f"an effect has waited {lag:.0f} s for a worker (limit "
            f"ATIVA_READY_MAX_RELAY_LAG_SECONDS = {settings.ready_max_relay_lag_seconds:g})"
        )
    if workers == 0:
        problems.append(f"no worker has sent a heartbeat in the last {settings.worker_stale_seconds:g} s")
    if lease_left == 0:
        problems.append("no scheduler holds the lease (no relay, reconciler, sweep or timers)")
    return Readiness(
        ready=not problems,
        problems=problems,
        database=True,
        relay_lag_seconds=round(lag, 3),
        workers_alive=workers,
        scheduler_lease_seconds_left=round(lease_left, 3),
    )
