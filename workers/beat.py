"""Celery beat that runs the periodic jobs only while it holds the database lease.

Several `ativa beat` or `ativa serve` processes may run; one holds the lease and schedules, the
others wait and take over within a lease period if it stops.
"""

import logging
import os
import socket
import uuid

from celery.beat import Scheduler

from workflow.services import leases
from workflow.settings import get_settings

from . import runtime

LEASE = leases.SCHEDULER_LEASE
logger = logging.getLogger(__name__)


class LeasedScheduler(Scheduler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease_seconds = get_settings().scheduler_lease_seconds
        self.holding = False

    def tick(self, *args, **kwargs):
        renew_every = self.lease_seconds / 3
        try:
            held = leases.acquire_or_renew(runtime.db(), LEASE, self.holder, self.lease_seconds)
        except Exception:  # noqa: BLE001 - a database hiccup must not kill the scheduler for good
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
