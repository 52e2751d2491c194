"""Real processes and waiting on them: `python -m workflow ARGS` in a session of its own, waiting
for a condition while they stay alive, waiting until every effect is settled, threads that start
together, free ports."""

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
ERROR_LINE = re.compile(r"\b(ERROR|CRITICAL)\b|Traceback|NotRegistered")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def workflow_environment(**settings: str) -> dict[str, str]:
    """This environment without any ATIVA_* variable, plus `settings` as ATIVA_<NAME>."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATIVA_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update({f"ATIVA_{name.upper()}": str(value) for name, value in settings.items()})
    return env


class WorkflowProcess:
    """`python -m workflow ARGS` (or another `module`) from the repository root in its own session
    (process group), its output appended to `log`. Stopped with SIGTERM to the group (a warm
    shutdown), then SIGKILL of the group (a worker's pool children included)."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, module: str = "workflow"):
        self.args = args
        self.log = log
        self.module = module
        with log.open("ab") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", module, *args],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 30) -> str:
        text = self.log_text()
        return "\n".join(text.splitlines()[-lines:]) if text else "(no log)"

    def errors(self) -> list[str]:
        """The log's lines that name an error, a traceback or an unknown task."""
        return [line for line in self.log_text().splitlines() if ERROR_LINE.search(line)]

    def stop(self) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
                self.popen.wait(timeout=15)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                pass
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def check_alive(*processes: WorkflowProcess) -> None:
    for process in processes:
        if not process.alive():
            raise RuntimeError(
                f"`python -m {process.module} {' '.join(process.args)}` exited "
                f"(code {process.popen.returncode}):\n{process.tail()}"
            )


def wait_until(
    predicate: Callable[[], object], timeout: float, what: str, *processes: WorkflowProcess, interval: float = 0.05
):
    """The first true value of `predicate`; fails if one of `processes` exits meanwhile, or on
    timeout (with the end of their logs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check_alive(*processes)
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    tails = "".join(f"\n{p.tail()}" for p in processes)
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}{tails}")


def wait_settled(
    conn: psycopg.Connection, *processes: WorkflowProcess, stall_timeout: float = 30.0, interval: float = 0.05
) -> tuple[float, int]:
    """Until no effect is pending; fails if none settles for `stall_timeout` seconds or one of
    `processes` exits. Returns the wall time it saw none pending and the queries it made (its
    own transactions, for a benchmark that counts the database's)."""
    last_pending, last_change, polls = None, time.monotonic(), 0
    while True:
        check_alive(*processes)
        polls += 1
        pending = conn.execute("SELECT count(*) FROM outbox_effects WHERE state = 'pending'").fetchone()[0]
        if pending == 0:
            return time.time(), polls
        if pending != last_pending:
            last_pending, last_change = pending, time.monotonic()
        elif time.monotonic() - last_change > stall_timeout:
            tails = "".join(f"\n{p.tail()}" for p in processes)
            raise RuntimeError(
                f"{pending} effect(s) still pending, none settled for {stall_timeout:.0f}s "
                f"(without --beat nothing republishes a lost message){tails}"
            )
        time.sleep(interval)


class ThreadsStartingTogether:
    """`count` threads running `body(i)`, held at a barrier until `release()`, so that none has a
    head start; `join()` raises the first error any of them raised."""

    def __init__(self, count: int, body: Callable[[int], None], name: str):
        self.body = body
        self.errors: list[BaseException] = []
        self.barrier = threading.Barrier(count + 1)
        self.threads = [threading.Thread(target=self._run, args=(i,), name=f"{name}-{i}") for i in range(count)]

    def _run(self, i: int) -> None:
        try:
            self.barrier.wait()
            self.body(i)
        except BaseException as error:  # noqa: BLE001 - surfaced by join()
            self.errors.append(error)
            self.barrier.abort()

    def start(self) -> "ThreadsStartingTogether":
        for thread in self.threads:
            thread.start()
        return self

    def release(self) -> None:
        try:
            self.barrier.wait()
        except threading.BrokenBarrierError:
            pass

    def join(self) -> None:
        for thread in self.threads:
            thread.join()
        if self.errors:
            raise self.errors[0]


def close_broker_connections() -> None:
    """Closes this process's Celery broker connections, if it opened any (best effort)."""
    if "workers.app" in sys.modules:
        with contextlib.suppress(Exception):  # best effort
            sys.modules["workers.app"].app.pool.force_close_all()
