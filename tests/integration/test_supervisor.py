"""The supervisor of `ativa serve`'s children: restarts with a growing delay, stops in order."""

import sys
import time
from pathlib import Path

from workflow.supervisor import Supervisor


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_a_child_that_keeps_dying_is_started_again_with_a_growing_delay(tmp_path):
    runs = tmp_path / "runs"
    crash = f"open({str(runs)!r}, 'a').write('x'); raise SystemExit(3)"
    lines: list[str] = []
    supervisor = Supervisor({"worker": [sys.executable, "-c", crash]}, log=lines.append,
                            poll_seconds=0.05).start()
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
    supervisor = Supervisor({"scheduler": [sys.executable, "-c", sleeper]}, log=lines.append,
                            poll_seconds=0.05).start()
    assert wait_until(lambda: supervisor.pid("scheduler") and marker.exists())
    pid = supervisor.pid("scheduler")
    supervisor.stop(timeout=5)
    assert not Path(f"/proc/{pid}").exists()  # ended and reaped
    time.sleep(0.3)
    assert marker.read_text() == "x" and lines == []  # terminated on purpose: no restart, no message
