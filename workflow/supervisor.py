"""Child processes of `ativa serve` that are started again when they die.

On the embedded default one command runs everything; a worker or scheduler that crashed (killed
by the OOM killer, a broker error it gave up on) would otherwise leave the API answering while no
effect is carried out any more.
"""

import ctypes
import os
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


def _load_prctl():
    # Resolved here, once: a dlopen in the forked child could deadlock on a lock another thread
    # of this process held at the fork.
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_prctl = _load_prctl()


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    """Linux: the kernel sends SIGTERM to the child when the thread that started it ends, however
    the process ends (a SIGKILL of `ativa serve` included). That thread is the supervisor's,
    which lives as long as the process."""

    def in_child() -> None:
        if _prctl is not None:
            _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return in_child


class Supervisor:
    """Starts each command, watches it, starts it again after an exit with a growing delay, and
    stops them all, in the reverse order of the commands, on `stop()`.

    One thread does all of it, starts and stops included: the children's parent-death signal is
    tied to that thread, so it must outlive them."""

    def __init__(
        self,
        commands: dict[str, list[str]],
        log: Callable[[str], None],
        poll_seconds: float = 0.5,
        stop_timeout: float = 20,
    ):
        self._commands = commands
        self._log = log
        self._poll = poll_seconds
        self._stop_timeout = stop_timeout
        self._stopping = threading.Event()
        self._processes: dict[str, subprocess.Popen] = {}
        self._thread = threading.Thread(target=self._run, name="ativa-supervisor", daemon=True)

    def start(self) -> "Supervisor":
        self._thread.start()
        return self

    def request_stop(self) -> None:
        """Safe from a signal handler: from now on nothing is started again."""
        self._stopping.set()

    def stop(self) -> None:
        """Stop the children in order and wait for them."""
        self.request_stop()
        self._thread.join(timeout=self._stop_timeout * (len(self._commands) + 1))

    def pid(self, name: str) -> int | None:
        process = self._processes.get(name)
        return process.pid if process is not None and process.poll() is None else None

    def _say(self, line: str) -> None:
        try:
            self._log(line)
        except Exception:  # noqa: BLE001, S110 - a broken log must not end the supervision
            pass

    def _run(self) -> None:
        try:
            self._supervise()
        except Exception as error:  # noqa: BLE001 - said, then the children are stopped in order
            self._say(f"supervision failed ({error!r}); stopping the worker and the scheduler")
        finally:
            self._stop_children()

    def _supervise(self) -> None:
        started = dict.fromkeys(self._commands, 0.0)
        delays = dict.fromkeys(self._commands, FIRST_DELAY_SECONDS)
        due = dict.fromkeys(self._commands, 0.0)

        def again_later(name: str, why: str) -> None:
            now = time.monotonic()
            if now - started[name] >= HEALTHY_AFTER_SECONDS:
                delays[name] = FIRST_DELAY_SECONDS
            due[name] = now + delays[name]
            self._say(f"the {name} {why}; starting it again in {delays[name]:g} s")
            delays[name] = min(delays[name] * 2, MAX_DELAY_SECONDS)

        while not self._stopping.is_set():
            for name in self._commands:
                if self._stopping.is_set():
                    break
                process = self._processes.get(name)
                if name not in due:
                    if process is None or process.poll() is None:
                        continue
                    again_later(name, f"exited with code {process.returncode}")
                if time.monotonic() < due[name]:
                    continue
                del due[name]
                started[name] = time.monotonic()
                try:
                    # A process group of its own: Ctrl-C in a terminal reaches `ativa serve`
                    # alone, which then stops its children in order.
                    self._processes[name] = subprocess.Popen(
                        self._commands[name],
                        preexec_fn=_die_with_parent(os.getpid()),
                        process_group=0,
                    )
                except (OSError, subprocess.SubprocessError) as error:
                    self._processes.pop(name, None)
                    again_later(name, f"could not be started ({error})")
            self._stopping.wait(self._poll)

    def _stop_children(self) -> None:
        for name in reversed(list(self._commands)):
            process = self._processes.get(name)
            if process is None or process.poll() is not None:
                continue
            process.terminate()
            try:
                process.wait(timeout=self._stop_timeout)
            except subprocess.TimeoutExpired:
                self._say(f"the {name} did not stop within {self._stop_timeout:g} s; killing it")
                process.kill()
                process.wait()


def serve_children() -> dict[str, list[str]]:
    """What `ativa serve` runs beside the API: one worker and one scheduler, separate so that
    either can be started again alone (a Celery worker's embedded beat is never restarted)."""
    return {
        "worker": [sys.executable, "-m", "workflow", "worker"],
        "scheduler": [sys.executable, "-m", "workflow", "beat"],
    }
