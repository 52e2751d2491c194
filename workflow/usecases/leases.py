"""A lease in the database: among several schedulers, the holder alone runs the periodic jobs."""

from datetime import timedelta

from sqlalchemy.exc import IntegrityError

from ..db.engine import Database
from ..db.models import SchedulerLease
from ..db.types import utcnow

SCHEDULER_LEASE = "beat"  # the periodic jobs' lease (workers.beat)


def acquire_or_renew(db: Database, name: str, holder: str, ttl_seconds: float) -> bool:
    """True if `holder` holds the lease `name` for the next `ttl_seconds`."""
    now = utcnow()
    try:
        with db.write() as session:
            lease = session.get(SchedulerLease, name, with_for_update=True)
            if lease is None:
                session.add(SchedulerLease(name=name, holder=holder, expires_at=now + timedelta(seconds=ttl_seconds)))
                return True
            if lease.holder != holder and lease.expires_at > now:
                return False
            lease.holder = holder
            lease.expires_at = now + timedelta(seconds=ttl_seconds)
            return True
    except IntegrityError:
        return False  # another scheduler created the row at the same instant


def release(db: Database, name: str, holder: str) -> None:
    with db.write() as session:
        lease = session.get(SchedulerLease, name, with_for_update=True)
        if lease is not None and lease.holder == holder:
            session.delete(lease)
