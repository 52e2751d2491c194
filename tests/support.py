"""What tests that run real processes share: free ports, waiting, `python -m workflow` processes,
`ativa serve` as a real process, finding processes through /proc (Linux), a redis-server of a
test's own."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import redis as redis_client

from tests.conftest import service_missing

ATIVA = Path(sys.executable).with_name("ativa")  # the installed command, as an operator runs it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(
    predicate: Callable[[], object], timeout: float = 30, interval: float = 0.1, what: str = "", log: Path | None = None
):
    """The first true value of `predicate`; on timeout an AssertionError naming `what`, with the
    end of `log` when given."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    tail = f"; log:\n{log.read_text()[-4000:]}" if log is not None else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}{tail}")


class Process:
    """`python -m workflow ARGS` in a session of its own, its output appended to `log`."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, log: Path):
        self.log = log
        with log.open("a") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "workflow", *args],
                env=env,
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 5) -> None:
        if not self.alive():
            return
        try:
            os.killpg(self.popen.pid, sig)
            self.popen.wait(timeout=timeout)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            pass
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)  # children included
        except ProcessLookupError:
            pass
        self.popen.wait(timeout=10)


# -- `ativa serve` as a real process ------------------------------------------------------------


def start_serve(cwd: Path, port: int, log: Path, *extra: str, env_extra: dict | None = None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATIVA_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(env_extra or {})
    with log.open("a") as out:
        # Its own session, so the test can reap the worker child too whatever happens.
        return subprocess.Popen(
            [str(ATIVA), "serve", "--host", "127.0.0.1", "--port", str(port), *extra],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_healthy(base: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("ativa serve did not become healthy")


def wait_ready(base: str, process: subprocess.Popen, log: Path) -> dict:
    """/readyz turns 200 once the worker beats and the scheduler holds the lease."""
    deadline = time.monotonic() + 40
    last = None
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        last = httpx.get(f"{base}/readyz", timeout=2)
        if last.status_code == 200:
            return last.json()
        time.sleep(0.2)
    raise AssertionError(f"ativa serve never became ready: {last.text if last else ''}")


def stop_serve(process: subprocess.Popen) -> None:
    """SIGTERM the server alone: it must stop its worker and scheduler (and their pools) itself."""
    family = [process.pid, *descendants(process.pid)]
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=40)
    finally:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _alive(family):
            time.sleep(0.2)
        leftover = _alive(family)
        for pid in leftover:
            os.kill(int(pid.split()[0]), signal.SIGKILL)
        assert not leftover, f"these outlived `ativa serve`: {leftover}"


@contextmanager
def serving_api(folder: Path, env_extra: dict[str, str]) -> Iterator[str]:
    """`ativa serve --no-worker` in `folder` for the block, healthy first; its base URL."""
    port, log = free_port(), folder / "serve.log"
    process = start_serve(folder, port, log, "--no-worker", env_extra=env_extra)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_serve(process)


# -- processes through /proc --------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in children:
            found += [child, *descendants(child)]
    return found


def _alive(pids: list[int]) -> list[str]:
    """The processes still running (zombies are gone already), with their command lines."""
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError):
            continue
        if state != "Z":
            alive.append(f"{pid} {cmdline.strip()}")
    return alive


def pid_with_connection_from(local_port: int, candidates: list[int]) -> int | None:
    """Which of `candidates` owns the TCP socket bound to `local_port` (Linux /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == local_port:
                inodes.add(f"socket:[{fields[9]}]")
    for pid in candidates:
        try:
            links = {os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()}
        except OSError:
            continue
        if links & inodes:
            return pid
    return None


# -- a broker of the test's own ------------------------------------------------------------------


def redis_server_binary() -> str | None:
    return shutil.which("redis-server")


class PrivateRedis:
    """A redis-server of the test's own on a free port, to kill and start again on that port."""

    def __init__(self, folder: Path):
        self.binary = redis_server_binary()
        if self.binary is None:
            service_missing("redis-server", FileNotFoundError("redis-server"))
        self.port = free_port()
        self.folder = folder
        folder.mkdir(exist_ok=True)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "PrivateRedis":
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self.up, what="the private redis-server")
        return self

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        """SIGTERM: the server shuts down in order (clients see a closed connection)."""
        self.process.terminate()
        self.process.wait(10)

    def up(self) -> bool:
        try:
            return redis_client.Redis(port=self.port, socket_connect_timeout=0.5).ping()
        except redis_client.ConnectionError:
            return False


def lock_waiters(db) -> int:
    """Sessions of the PostgreSQL database `db` waiting for a lock (a row another holds)."""
    from sqlalchemy import text

    with db.read() as session:
        return session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        )


@contextmanager
def rows_locked(db, customer_ids: list[int]):
    """Those customers' rows locked (PostgreSQL): a unit that reaches them waits."""
    from sqlalchemy import select

    from workflow.db.models import Customer

    holder = db.engine.connect()
    holder.begin()
    holder.execute(select(Customer.id).where(Customer.id.in_(customer_ids)).with_for_update())
    try:
        yield
    finally:
        holder.rollback()
        holder.close()


class Ran(threading.Thread):
    """A target run in a thread of its own: its return value, or the exception it raised."""

    def __init__(self, target: Callable[[], object], barrier: threading.Barrier | None = None):
        super().__init__(daemon=True)
        self.call, self.barrier = target, barrier
        self.value: object = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            if self.barrier is not None:
                self.barrier.wait(30)
            self.value = self.call()
        except BaseException as error:  # noqa: BLE001 - handed to the test
            self.error = error

    def result(self) -> object:
        self.join(120)
        assert not self.is_alive(), "a thread hung (a deadlock?)"
        if self.error is not None:
            raise self.error
        return self.value


def at_once(*targets: Callable[[], object]) -> list[object]:
    """Every target started together (a barrier); their results, in order."""
    barrier = threading.Barrier(len(targets))
    threads = [Ran(target, barrier) for target in targets]
    for thread in threads:
        thread.start()
    return [thread.result() for thread in threads]


def in_lock_order(db, customer_ids: list[int], *targets: Callable[[], object]) -> list[object]:
    """The targets (units that lock those customers first) run in threads that queue, in the
    order given, behind a transaction holding the customers' rows (PostgreSQL hands a row to its
    waiters in the order they came); their results, in order."""
    threads = []
    with rows_locked(db, customer_ids):
        for target in targets:
            threads.append(Ran(target))
            threads[-1].start()
            wait_for(lambda: lock_waiters(db) == len(threads), what=f"unit {len(threads)} waiting for the rows")
    return [thread.result() for thread in threads]
