"""Each worker process (the main one and each pool process) writes its heartbeat from a thread.

A pool process blocked in a webhook call still beats (the call waits on I/O), so silence means
the process is gone: its claims are taken over (workflow.usecases.heartbeats).

The main process forks pool processes (and the embedded beat) at any time, and a SQLite
connection open across a fork breaks the child's locking ("locking protocol"). So the main
process closes its connection after each beat, and no fork happens during a beat.
"""

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from celery.signals import worker_init, worker_process_init, worker_process_shutdown, worker_shutdown

from workflow.db.engine import Database
from workflow.settings import get_settings
from workflow.usecases import heartbeats

from . import runtime

log = logging.getLogger(__name__)
QUIET_SECONDS = 60.0  # a failing beat is logged at most this often


class Heartbeat:
    def __init__(self, role: str, interval: float):
        self.role = role
        self.interval = interval
        self.process_id = heartbeats.this_process()
        self._stop = threading.Event()
        self._last_complaint = float("-inf")
        self._thread = threading.Thread(target=self._run, name="ativa-heartbeat", daemon=True)
        self._main_db: Database | None = None  # the main process's own, connected only during a beat

    @contextmanager
    def _database(self) -> Iterator[Database]:
        if self.role != heartbeats.MAIN:
            yield runtime.db()  # a pool process never forks
            return
        with _NO_FORK:
            if self._main_db is None:
                self._main_db = Database(get_settings().resolved_database_url)
            try:
                yield self._main_db
            finally:
                self._main_db.engine.dispose()  # closes the connection, keeps the engine

    def start(self) -> "Heartbeat":
        self._beat()  # before the first task: every claim's owner has a row
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)  # a beat in flight would write the row again
        try:
            with self._database() as database:
                heartbeats.forget(database, self.process_id)
        except Exception:  # the row goes silent instead, and is forgotten later
            log.debug("could not remove heartbeat %s", self.process_id, exc_info=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._beat()

    def _beat(self) -> None:
        try:
            with self._database() as database:
                heartbeats.beat(database, self.process_id, self.role)
        except Exception:  # the database may be away; beat again next time
            if time.monotonic() - self._last_complaint > QUIET_SECONDS:
                self._last_complaint = time.monotonic()
                log.warning("worker heartbeat %s failed", self.process_id, exc_info=True)


_current: Heartbeat | None = None


def _start(role: str) -> None:
    global _current
    _current = Heartbeat(role, get_settings().worker_heartbeat_seconds).start()


def _stop() -> None:
    global _current
    if _current is not None and _current.process_id == heartbeats.this_process():
        _current.stop()
    _current = None


_NO_FORK = threading.Lock()  # held by the main process during a beat


def _forget_inherited() -> None:
    global _current, _NO_FORK
    _current = None  # the parent's thread does not exist in a forked child
    _NO_FORK = threading.Lock()


def _before_fork() -> None:
    _NO_FORK.acquire()


def _release_after_fork() -> None:
    _NO_FORK.release()


os.register_at_fork(before=_before_fork, after_in_parent=_release_after_fork, after_in_child=_forget_inherited)


@worker_init.connect
def _main_started(**_):
    _start(heartbeats.MAIN)


@worker_process_init.connect
def _pool_process_started(**_):
    # Connected after workers.app's own handler, which gives this process its own database engine.
    _start(heartbeats.POOL)


@worker_shutdown.connect
def _main_stopping(**_):
    _stop()


@worker_process_shutdown.connect
def _pool_process_stopping(**_):
    _stop()
