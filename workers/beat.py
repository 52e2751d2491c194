"""Celery beat that runs the periodic jobs only while it holds the database lease.

Several `ativa beat` or `ativa serve` processes may run; one holds the lease and schedules, the
others wait and take over within a lease period if it stops.
"""

import logging
import os
import socket
import time
import uuid

from celery.beat import Scheduler

from workflow.settings import get_settings
from workflow.usecases import leases

from . import runtime

LEASE = leases.SCHEDULER_LEASE
logger = logging.getLogger(__name__)


class BrokerOutage:
    """What the scheduler says while it cannot publish: one line per failed publish (Celery's own
    logs a full traceback for each, dozens for a short outage), then one summary when a publish
    goes through again."""

    def __init__(self):
        self.since: float | None = None
        self.failed = 0

    def publish_failed(self, job: str, error: BaseException) -> None:
        if self.since is None:
            self.since = time.monotonic()
        self.failed += 1
        # Celery wraps the broker's error in a SchedulingError; the broker's says what happened.
        cause = error.__context__ or error
        reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        logger.error("could not publish the %s job: %s", job, reason)

    def published(self) -> None:
        if self.since is None:
            return
        logger.warning("broker back after %.0f s, %d publishes failed", time.monotonic() - self.since, self.failed)
        self.since, self.failed = None, 0


class LeasedScheduler(Scheduler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease_seconds = get_settings().scheduler_lease_seconds
        self.holding = False
        self.outage = BrokerOutage()

    def apply_entry(self, entry, producer=None):
        try:
            self.apply_async(entry, producer=producer, advance=False)
        except Exception as error:  # noqa: BLE001 - the job runs again at its next time
            self.outage.publish_failed(entry.name, error)
        else:
            self.outage.published()

    def tick(self, *args, **kwargs):
        renew_every = self.lease_seconds / 3
        try:
            held = leases.acquire_or_renew(runtime.db(), LEASE, self.holder, self.lease_seconds)
        except Exception:  # a database hiccup must not kill the scheduler for good
            logger.exception("scheduler lease check failed; retrying in %.0fs", renew_every)
            return renew_every
        if held != self.holding:  # an SRE wants to see which scheduler runs the jobs, and when
            self.holding = held
            if held:
                logger.info("scheduler %s holds the lease: running the periodic jobs", self.holder)
            else:
                logger.warning("scheduler %s lost the lease: another one runs the jobs", self.holder)
        if not held:
            return renew_every
        return min(super().tick(*args, **kwargs), renew_every)

    def close(self):
        try:
            leases.release(runtime.db(), LEASE, self.holder)
        finally:
            super().close()
