"""Worker processes say they are alive; a claim whose owner went silent is taken over.

Each worker process (the main one and every pool process) writes its row every
ATIVA_WORKER_HEARTBEAT_SECONDS. An effect's claim records the process that took it
(`claimed_by`); once that process is dead, a redelivered message or the relay takes the effect
over at once instead of waiting out the whole claim (ATIVA_EFFECT_CLAIM_SECONDS). Dead means
silent for three beats, or, on the same host, a process that no longer exists.
"""

import os
import socket
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..db.engine import Database
from ..db.models import WorkerHeartbeat
from ..db.types import utcnow

MAIN = "worker"  # a worker's main process: /readyz counts these
POOL = "pool"  # one of its pool processes, which run the tasks
FORGET_AFTER = timedelta(days=1)  # rows of processes silent this long are deleted


@lru_cache
def _node() -> str:
    """This host, and its process namespace when it can be read: two containers may share a
    host name (host networking) but never a process namespace, so a pid is only checked where
    it means the same process."""
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return socket.gethostname()
    return f"{socket.gethostname()}~{namespace}"


def this_process() -> str:
    """The id a claim and a heartbeat carry: "host:pid" (read at each call: pools fork)."""
    return f"{_node()}:{os.getpid()}"


def beat(db: Database, process_id: str, role: str) -> None:
    now = utcnow()
    with db.write() as session:
        # An UPDATE's result is a CursorResult (Session.execute is typed for any statement).
        updated = cast(
            CursorResult[Any],
            session.execute(
                # role too: a pid reused by another kind of process takes the row over
                update(WorkerHeartbeat).where(WorkerHeartbeat.id == process_id).values(last_seen=now, role=role)
            ),
        ).rowcount
        if not updated:
            node, _, pid = process_id.rpartition(":")
            session.add(
                WorkerHeartbeat(
                    id=process_id, hostname=node.split("~")[0], pid=int(pid), role=role, started_at=now, last_seen=now
                )
            )
    if not updated:  # once per process: a good moment to drop the rows of long-gone ones
        forget_silent(db, now - FORGET_AFTER)


def forget(db: Database, process_id: str) -> None:
    """A clean stop: the process holds no claim any more."""
    with db.write() as session:
        session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.id == process_id))


def forget_silent(db: Database, before: datetime) -> None:
    try:
        with db.write() as session:
            session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.last_seen < before))
    except IntegrityError:  # pragma: no cover - a concurrent beat; the next start tries again
        pass


def silent_since(stale_seconds: float, now: datetime | None = None) -> datetime:
    return (now or utcnow()) - timedelta(seconds=stale_seconds)


def owner_is_dead(session: Session, owner: str | None, stale_seconds: float, now: datetime | None = None) -> bool:
    """Whether the process that holds a claim is gone. An owner with no heartbeat at all (a
    claim made outside a worker, or a row already forgotten) is not known to be dead: its claim
    lapses with time."""
    if not owner:
        return False
    node, _, pid = owner.rpartition(":")
    if node == _node() and pid.isdigit() and not _process_exists(int(pid)):
        return True
    last_seen = session.scalar(select(WorkerHeartbeat.last_seen).where(WorkerHeartbeat.id == owner))
    return last_seen is not None and last_seen < silent_since(stale_seconds, now)


def silent_owners(stale_seconds: float, now: datetime | None = None):
    """The processes known to be dead, as a subquery for claims (see owner_is_dead)."""
    return select(WorkerHeartbeat.id).where(WorkerHeartbeat.last_seen < silent_since(stale_seconds, now))


def live_workers(session: Session, stale_seconds: float, now: datetime | None = None) -> int:
    """Worker main processes heard from within the last three beats."""
    return (
        session.scalar(
            select(func.count())
            .select_from(WorkerHeartbeat)
            .where(WorkerHeartbeat.role == MAIN, WorkerHeartbeat.last_seen >= silent_since(stale_seconds, now))
        )
        or 0
    )


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    try:  # a zombie (dead, not reaped yet) still answers kill(0)
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
