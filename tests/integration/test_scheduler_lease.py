"""Only one scheduler runs the periodic jobs, on SQLite and PostgreSQL, and another takes over."""

import time

from sqlalchemy import select

from workflow.db.models import SchedulerLease
from workflow.usecases import leases


def test_one_holder_at_a_time_and_takeover_after_expiry(db):
    assert leases.acquire_or_renew(db, "beat", "host-a", ttl_seconds=0.5)
    assert not leases.acquire_or_renew(db, "beat", "host-b", ttl_seconds=0.5)
    assert leases.acquire_or_renew(db, "beat", "host-a", ttl_seconds=0.5)  # renewal
    time.sleep(0.7)
    assert leases.acquire_or_renew(db, "beat", "host-b", ttl_seconds=5)  # a silent holder loses it
    assert not leases.acquire_or_renew(db, "beat", "host-a", ttl_seconds=5)
    leases.release(db, "beat", "host-a")  # not the holder: no effect
    with db.read() as session:
        assert session.scalar(select(SchedulerLease.holder)) == "host-b"
    leases.release(db, "beat", "host-b")
    assert leases.acquire_or_renew(db, "beat", "host-a", ttl_seconds=5)


def test_racing_schedulers_elect_exactly_one(db):
    import threading

    barrier = threading.Barrier(8)
    winners = []

    def contend(name):
        barrier.wait()
        if leases.acquire_or_renew(db, "race", name, ttl_seconds=30):
            winners.append(name)

    threads = [threading.Thread(target=contend, args=(f"s{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
