"""Child processes of `ativa serve` that are started again when they die.

On the embedded default one command runs everything; a worker or scheduler that crashed (killed
by the OOM killer, a broker error it gave up on) would otherwise leave the API answering while no
effect is carried out any more.
"""

import ctypes
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

PR_SET_PDEATHSIG = 1
FIRST_DELAY_SECONDS = 1.0
MAX_DELAY_SECONDS = 30.0
# A child that ran this long had a fault of its own, not a crash loop: start over from 1 s.
HEALTHY_AFTER_SECONDS = 60.0


def _die_with_parent() -> None:
    """Linux: the kernel sends SIGTERM to the child when the thread that started it ends, however
    the process ends (uvicorn re-raises SIGTERM after its shutdown, so a `finally` is not enough).
    That thread is the supervisor's, which lives as long as the process."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


class Supervisor:
    """Starts each command, watches it, starts it again after an exit with a growing delay, and
    stops them all on `stop()`."""

    def __init__(self, commands: dict[str, list[str]], log: Callable[[str], None],
                 poll_seconds: float = 0.5):
        self._commands = commands
        self._log = log
        self._poll = poll_seconds
        self._stopping = threading.Event()
        self._processes: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="ativa-supervisor", daemon=True)

    def start(self) -> "Supervisor":
        self._thread.start()
        return self

    def _spawn(self, name: str) -> None:
        with self._lock:
            if not self._stopping.is_set():
                # A process group of its own: Ctrl-C in the terminal reaches `ativa serve` alone,
                # which then stops its children in order instead of restarting them.
                self._processes[name] = subprocess.Popen(
                    self._commands[name], preexec_fn=_die_with_parent, process_group=0
                )

    def _run(self) -> None:
        started = dict.fromkeys(self._commands, 0.0)
        delays = dict.fromkeys(self._commands, FIRST_DELAY_SECONDS)
        due = dict.fromkeys(self._commands, 0.0)
        while not self._stopping.is_set():
            now = time.monotonic()
            for name in self._commands:
                process = self._processes.get(name)
                if process is None or process.poll() is not None:
                    if process is not None and name not in due:
                        if now - started[name] >= HEALTHY_AFTER_SECONDS:
                            delays[name] = FIRST_DELAY_SECONDS
                        due[name] = now + delays[name]
                        self._log(f"the {name} exited with code {process.returncode}; "
                                  f"starting it again in {delays[name]:g} s")
                        delays[name] = min(delays[name] * 2, MAX_DELAY_SECONDS)
                    if name in due and now >= due[name]:
                        del due[name]
                        started[name] = now
                        self._spawn(name)
            self._stopping.wait(self._poll)

    def pid(self, name: str) -> int | None:
        process = self._processes.get(name)
        return process.pid if process is not None and process.poll() is None else None

    def stop(self, timeout: float = 20) -> None:
        with self._lock:
            self._stopping.set()
        self._thread.join(timeout=5)
        processes = list(self._processes.values())
        for process in processes:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + timeout
        for process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def serve_children() -> dict[str, list[str]]:
    """What `ativa serve` runs beside the API: one worker and one scheduler, separate so that
    either can be started again alone (a Celery worker's embedded beat is never restarted)."""
    return {
        "worker": [sys.executable, "-m", "workflow", "worker"],
        "scheduler": [sys.executable, "-m", "workflow", "beat"],
    }
