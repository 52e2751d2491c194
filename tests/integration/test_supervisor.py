"""The supervisor of `ativa serve`'s children: restarts with a growing delay, stops in order."""

import sys
import time
from pathlib import Path

from tests.support import wait_for
from workflow.supervisor import Supervisor


def wait_until(predicate, timeout: float = 10.0):
    return wait_for(predicate, timeout=timeout, interval=0.05)


def test_a_child_that_keeps_dying_is_started_again_with_a_growing_delay(tmp_path):
    runs = tmp_path / "runs"
    crash = f"open({str(runs)!r}, 'a').write('x'); raise SystemExit(3)"
    lines: list[str] = []
    supervisor = Supervisor({"worker": [sys.executable, "-c", crash]}, log=lines.append, poll_seconds=0.05).start()
    try:
        assert wait_until(lambda: len(lines) >= 3)
    finally:
        supervisor.stop()
    assert lines[:3] == [
        "the worker exited with code 3; starting it again in 1 s",
        "the worker exited with code 3; starting it again in 2 s",
        "the worker exited with code 3; starting it again in 4 s",
    ]
    assert runs.read_text() == "xxx"


def test_stop_ends_the_children_and_starts_nothing_more(tmp_path):
    marker = tmp_path / "started"
    lines: list[str] = []
    sleeper = f"open({str(marker)!r}, 'a').write('x'); import time; time.sleep(60)"
    supervisor = Supervisor(
        {"scheduler": [sys.executable, "-c", sleeper]}, log=lines.append, poll_seconds=0.05, stop_timeout=5
    ).start()
    assert wait_until(lambda: supervisor.pid("scheduler") and marker.exists())
    pid = supervisor.pid("scheduler")
    supervisor.stop()
    assert not Path(f"/proc/{pid}").exists()  # ended and reaped
    time.sleep(0.3)
    assert marker.read_text() == "x" and lines == []  # terminated on purpose: no restart, no message


def test_children_stop_one_after_the_other_in_reverse_order(tmp_path):
    journal = tmp_path / "journal"
    script = (
        "import signal, sys, time\n"
        "name, path = sys.argv[1], sys.argv[2]\n"
        "def note(what): open(path, 'a').write(f'{name} {what}\\n')\n"
        "def on_term(*_): note('asked to stop'); time.sleep(0.5); note('stopped'); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, on_term)\n"
        "note('up')\n"
        "while True: time.sleep(1)\n"
    )
    commands = {name: [sys.executable, "-c", script, name, str(journal)] for name in ("worker", "scheduler")}
    lines: list[str] = []
    supervisor = Supervisor(commands, log=lines.append, poll_seconds=0.05, stop_timeout=5).start()
    assert wait_until(lambda: journal.exists() and journal.read_text().count("up") == 2)
    supervisor.stop()
    events = [line for line in journal.read_text().splitlines() if not line.endswith(" up")]
    assert events == ["scheduler asked to stop", "scheduler stopped", "worker asked to stop", "worker stopped"]
    assert lines == []


def test_a_command_that_cannot_start_is_tried_again_and_the_others_keep_running(tmp_path):
    lines: list[str] = []
    commands = {
        "worker": [sys.executable, "-c", "import time; time.sleep(60)"],
        "scheduler": [str(tmp_path / "missing-program")],
    }
    supervisor = Supervisor(commands, log=lines.append, poll_seconds=0.05, stop_timeout=5).start()
    try:
        assert wait_until(lambda: supervisor.pid("worker"))
        worker = supervisor.pid("worker")
        assert wait_until(lambda: len(lines) >= 2, timeout=6)
        assert supervisor.pid("worker") == worker  # untouched
    finally:
        supervisor.stop()
    assert lines[0].startswith("the scheduler could not be started (")
    assert lines[0].endswith("; starting it again in 1 s")
    assert lines[1].endswith("; starting it again in 2 s")
    assert not Path(f"/proc/{worker}").exists()
